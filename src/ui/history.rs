//! Bounded metric histories for drawing: a window of the most recent points at full
//! resolution plus a decimated record of the whole run, so a 100,000-step run costs the same
//! memory and drawing time as a 2,000-step one while the chart still spans all of it.

/// Recent points kept at full resolution.
pub const RECENT: usize = 1000;
/// Points kept for the whole run (decimated by doubling the stride when full).
pub const OVERVIEW: usize = 250;

/// One metric series of one run.
#[derive(Debug, Clone)]
pub struct Series {
    recent: std::collections::VecDeque<(f64, f64)>,
    overview: Vec<(f64, f64)>,
    stride: u64,
    seen: u64,
    last: Option<(f64, f64)>,
    min: f64,
    max: f64,
}

impl Default for Series {
    fn default() -> Series {
        Series::new()
    }
}

impl Series {
    pub fn new() -> Series {
        Series {
            recent: Default::default(),
            overview: Vec::new(),
            stride: 1,
            seen: 0,
            last: None,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub fn push(&mut self, x: f64, y: f64) {
        if !y.is_finite() {
            return;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((x, y));
        if self.seen.is_multiple_of(self.stride) {
            self.overview.push((x, y));
            if self.overview.len() >= 2 * OVERVIEW {
                // Keep every other point and double the stride.
                let kept: Vec<(f64, f64)> = self.overview.iter().step_by(2).copied().collect();
                self.overview = kept;
                self.stride *= 2;
            }
        }
        self.seen += 1;
        self.last = Some((x, y));
        self.min = self.min.min(y);
        self.max = self.max.max(y);
    }

    /// Points to draw: the decimated history up to the recent window, then the window itself.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let start = self.recent.front().map_or(f64::INFINITY, |p| p.0);
        let mut out: Vec<(f64, f64)> = self.overview.iter().copied().filter(|p| p.0 < start).collect();
        out.extend(self.recent.iter().copied());
        out
    }

    pub fn last(&self) -> Option<(f64, f64)> {
        self.last
    }
    pub fn len(&self) -> u64 {
        self.seen
    }
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }
    /// (min, max) of every value seen.
    pub fn range(&self) -> Option<(f64, f64)> {
        (self.seen > 0).then_some((self.min, self.max))
    }
    /// Points held in memory.
    pub fn held(&self) -> usize {
        self.recent.len() + self.overview.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_and_the_chart_spans_the_whole_run() {
        let mut s = Series::new();
        for i in 0..100_000 {
            s.push(i as f64, (i as f64).sqrt());
        }
        assert!(s.held() <= RECENT + 2 * OVERVIEW);
        let p = s.points();
        assert_eq!(p.first().unwrap().0, 0.0, "starts at the first step");
        assert_eq!(p.last().unwrap().0, 99_999.0, "ends at the last step");
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "x increases");
        assert_eq!(s.range(), Some((0.0, (99_999f64).sqrt())));
        assert_eq!(s.len(), 100_000);
    }
}
