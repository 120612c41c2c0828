//! Bounded metric histories for drawing: a window of the most recent points at full
//! resolution plus a decimated record of the whole run, so a 100,000-step run costs the same
//! memory and drawing time as a 2,000-step one while the chart still spans all of it.

/// Recent points kept at full resolution.
pub const RECENT: usize = 1000;
/// Points kept for the whole run (decimated by doubling the stride when full).
pub const OVERVIEW: usize = 250;

/// The smoothing weights the Run and Compare charts offer (`m` cycles: off, then these).
/// Each is an exponential moving average over *every* step, debiased (divided by 1 − βᵗ, as
/// Adam debiases its moments), so the curve starts at the first value instead of at zero and
/// the decimated history is smoothed as if every step were drawn.
pub const SMOOTHING: [f64; 3] = [0.6, 0.9, 0.99];

/// A point and its smoothed values, one per [`SMOOTHING`] weight.
#[derive(Debug, Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
    smooth: [f64; 3],
}

/// Debiased exponential moving averages of a stream: `m ← βm + (1−β)y`, shown as `m / (1−βᵗ)`.
#[derive(Debug, Clone, Default)]
pub struct Ema {
    m: [f64; 3],
    /// 1 − βᵗ, kept as its own average of ones.
    w: [f64; 3],
}

impl Ema {
    /// Fold in one value; the debiased averages.
    pub fn push(&mut self, y: f64) -> [f64; 3] {
        let mut out = [y; 3];
        for (k, b) in SMOOTHING.iter().enumerate() {
            self.m[k] = b * self.m[k] + (1.0 - b) * y;
            self.w[k] = b * self.w[k] + (1.0 - b);
            out[k] = self.m[k] / self.w[k];
        }
        out
    }
}

/// One metric series of one run.
#[derive(Debug, Clone)]
pub struct Series {
    recent: std::collections::VecDeque<Point>,
    overview: Vec<Point>,
    ema: Ema,
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
            ema: Ema::default(),
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
        let p = Point { x, y, smooth: self.ema.push(y) };
        self.recent.push_back(p);
        if self.seen.is_multiple_of(self.stride) {
            self.overview.push(p);
            if self.overview.len() >= 2 * OVERVIEW {
                // Keep every other point and double the stride.
                let kept: Vec<Point> = self.overview.iter().step_by(2).copied().collect();
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
        self.drawn().map(|p| (p.x, p.y)).collect()
    }

    /// [`Series::points`] smoothed with [`SMOOTHING`]`[level]` (level 0 is the raw curve; 1..=3
    /// the weights).
    pub fn smoothed(&self, level: usize) -> Vec<(f64, f64)> {
        match level {
            0 => self.points(),
            k => self.drawn().map(|p| (p.x, p.smooth[(k - 1).min(SMOOTHING.len() - 1)])).collect(),
        }
    }

    fn drawn(&self) -> impl Iterator<Item = &Point> {
        let start = self.recent.front().map_or(f64::INFINITY, |p| p.x);
        self.overview.iter().filter(move |p| p.x < start).chain(self.recent.iter())
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

    #[test]
    fn smoothing_is_a_debiased_ema_over_every_step_even_when_decimated() {
        // A constant is its own average from the first point on (no pull towards zero).
        let mut c = Series::new();
        for i in 0..50 {
            c.push(i as f64, 3.0);
        }
        for level in 1..=3 {
            assert!(c.smoothed(level).iter().all(|p| (p.1 - 3.0).abs() < 1e-12), "level {level}");
        }
        // Against the closed form on a long noisy run: the drawn points of the decimated
        // history carry the average of all steps, not of the drawn ones.
        let y = |i: usize| ((i * 7919) % 13) as f64 + i as f64 * 1e-3;
        let mut s = Series::new();
        let n = 20_000;
        for i in 0..n {
            s.push(i as f64, y(i));
        }
        for (level, beta) in SMOOTHING.iter().enumerate() {
            let drawn = s.smoothed(level + 1);
            for &(x, v) in drawn.iter().step_by(97) {
                let t = x as usize;
                // m_t = (1−β) Σ β^(t−i) y_i, divided by 1 − β^(t+1).
                let mut m = 0.0;
                for i in 0..=t {
                    m += (1.0 - beta) * beta.powi((t - i) as i32) * y(i);
                }
                let want = m / (1.0 - beta.powi(t as i32 + 1));
                assert!((v - want).abs() < 1e-9 * want.abs().max(1.0), "β={beta} at {t}: {v} vs {want}");
            }
        }
        assert_eq!(s.smoothed(0), s.points(), "level 0 is the raw curve");
    }
}
