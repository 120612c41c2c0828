//! Curves of recorded runs as a PNG or SVG figure (`ratlab plot`), drawn with plotters: one
//! line per run (and fold) of one step metric against the step, the x value or the time, with
//! a title, axis labels and a legend. PNG text uses the bundled DejaVu Sans, so a figure looks
//! the same on a machine without fonts.

use super::events::RunEvent;
use super::recorded::Recorded;
use crate::error::InputError;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

/// DejaVu Sans (Bitstream Vera license; see assets/DejaVuSans-LICENSE).
pub(super) static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    Step,
    /// The step's x (a sweep's value, a learning curve's size, a boosting round).
    X,
    /// Seconds since the run started.
    Time,
}

/// One line of the figure.
struct Series {
    label: String,
    points: Vec<(f64, f64)>,
}

/// The step-metric key a name means in these runs: the name itself, or `test.NAME`.
fn resolve(runs: &[Recorded], metric: &str) -> Result<String, InputError> {
    let keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.events.iter())
        .filter_map(|e| match e {
            RunEvent::Step { metrics, .. } => Some(metrics.keys().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    for k in [metric.to_string(), format!("test.{metric}")] {
        if keys.contains(k.as_str()) {
            return Ok(k);
        }
    }
    Err(InputError::new(format!(
        "no run has a curve of '{metric}'; their step metrics: {}",
        if keys.is_empty() { "none".to_string() } else { keys.into_iter().collect::<Vec<_>>().join(", ") }
    ))
    .field("--metric"))
}

/// Draw `metric` of `runs` against `x` into `out` (`.png` or `.svg`) of `size` pixels.
pub fn plot(runs: &[Recorded], metric: &str, x: XAxis, out: &Path, size: (u32, u32)) -> Result<(), InputError> {
    let key = resolve(runs, metric)?;
    let experiments: BTreeSet<&str> = runs.iter().map(|r| r.summary.experiment.as_str()).collect();
    let mut series: Vec<Series> = Vec::new();
    for r in runs {
        let mut by_fold: std::collections::BTreeMap<Option<u32>, Vec<(f64, f64)>> = Default::default();
        for e in &r.events {
            if let RunEvent::Step { step, x: sx, fold, metrics, t_ms } = e {
                if let Some(v) = metrics.get(&key).filter(|v| v.is_finite()) {
                    let xv = match x {
                        XAxis::Step => *step as f64,
                        XAxis::X => *sx,
                        XAxis::Time => *t_ms as f64 / 1000.0,
                    };
                    by_fold.entry(*fold).or_default().push((xv, *v));
                }
            }
        }
        let name = if experiments.len() > 1 { format!("{}/{}", r.summary.experiment, r.summary.run) } else { r.summary.run.clone() };
        for (fold, points) in by_fold {
            let label = fold.map_or(name.clone(), |f| format!("{name} (fold {})", f + 1));
            series.push(Series { label, points });
        }
    }
    let title = format!("{key} — {}", experiments.into_iter().collect::<Vec<_>>().join(", "));
    let x_label = match x {
        XAxis::Step => "step".to_string(),
        XAxis::X => runs.iter().find_map(|r| match r.events.first() {
            Some(RunEvent::Started { x_label, .. }) => Some(x_label.clone()),
            _ => None,
        }).unwrap_or_else(|| "x".into()),
        XAxis::Time => "seconds".to_string(),
    };
    // Steps, rounds, sizes and dimensions are counts: their axis reads 20, not 20.0.
    let whole = x != XAxis::Time && series.iter().all(|s| s.points.iter().all(|p| p.0.fract() == 0.0));
    write_figure(&Lines { series, whole, title, x_label, y_label: key }, out, size)
}

/// A figure that draws itself on any plotters backend.
pub(super) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draw `fig` into `out`: a PNG or an SVG by the file's extension.
pub(super) fn write_figure(fig: &impl Figure, out: &Path, size: (u32, u32)) -> Result<(), InputError> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let fail = |e: String| InputError::new(format!("cannot draw the figure: {e}")).file(out);
    // Both backends measure text with it. Registering twice (a second plot in one process) is
    // harmless.
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    match ext.as_str() {
        "png" => {
            let root = BitMapBackend::new(out, size).into_drawing_area();
            fig.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        "svg" => {
            let root = SVGBackend::new(out, size).into_drawing_area();
            fig.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))
        }
        _ => Err(InputError::new(format!("unsupported figure type '.{ext}'; expected .png or .svg")).file(out).field("--out")),
    }
}

/// Curves of a step metric.
struct Lines {
    series: Vec<Series>,
    whole: bool,
    title: String,
    x_label: String,
    y_label: String,
}

impl Figure for Lines {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw(root, &self.series, self.whole, &self.title, &self.x_label, &self.y_label)
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, series: &[Series], whole: bool, title: &str, x_label: &str, y_label: &str) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        return Err("no points to draw".into());
    }
    // Some room around flat or single-point curves.
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.05 } else { a.abs().max(1.0) * 0.05 };
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(XCoord { inner: ((x0 - px)..(x1 + px)).into(), whole }, (y0 - py)..(y1 + py))
        .map_err(err)?;
    chart.configure_mesh().x_desc(x_label).y_desc(y_label).label_style(("sans-serif", 14)).draw().map_err(err)?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        // A run of one step (a tree, a library forest) is a point: a line through it would not
        // show, so it gets a marker, in the legend too.
        if let [p] = s.points.as_slice() {
            chart
                .draw_series(std::iter::once(Circle::new(*p, MARKER, color.filled())))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), MARKER, color.filled()));
            continue;
        }
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(s.label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The radius of a single point's marker, in pixels.
const MARKER: i32 = 4;

/// The x axis: plotters' own f64 axis, except that when every x is a whole number (steps,
/// rounds, sizes) its ticks are whole numbers and read `20`, not `20.0`.
struct XCoord {
    inner: RangedCoordf64,
    whole: bool,
}

impl Ranged for XCoord {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if self.whole {
            whole_ticks(self.inner.range(), hint.max_num_points())
        } else {
            self.inner.key_points(hint)
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

impl ValueFormatter<f64> for XCoord {
    fn format_ext(&self, value: &f64) -> String {
        if self.whole {
            format!("{}", value.round() as i64)
        } else {
            RangedCoordf64::format(value)
        }
    }
}

/// At most `max` whole-number ticks inside `range`, a round step apart (1, 2, 5, 10, 20, …).
fn whole_ticks(range: std::ops::Range<f64>, max: usize) -> Vec<f64> {
    let (lo, hi) = (range.start.ceil(), range.end.floor());
    if max == 0 || lo > hi {
        return vec![];
    }
    let step = (0..)
        .map(|k: i32| [1.0, 2.0, 5.0][(k % 3) as usize] * 10f64.powi(k / 3))
        .find(|s| ((hi - lo) / s).floor() + 1.0 <= max as f64)
        .unwrap_or(1.0);
    let first = (lo / step).ceil() * step;
    (0..).map(|i| first + i as f64 * step).take_while(|t| *t <= hi).collect()
}

#[cfg(test)]
mod tests {
    use super::whole_ticks;

    #[test]
    fn whole_ticks_are_round_steps_inside_the_range() {
        assert_eq!(whole_ticks(-0.45..30.45, 11), vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]);
        assert_eq!(whole_ticks(0.95..1.05, 11), vec![1.0]);
        assert_eq!(whole_ticks(0.5..3.5, 11), vec![1.0, 2.0, 3.0]);
        assert_eq!(whole_ticks(0.0..1000.0, 6), vec![0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert!(whole_ticks(0.2..0.8, 11).is_empty(), "no whole number inside");
        assert!(whole_ticks(0.0..10.0, 0).is_empty());
    }
}
