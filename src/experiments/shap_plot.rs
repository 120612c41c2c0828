//! `ratlab plot RUN_DIR --shap`: a SHAP summary (beeswarm) plot of a finished tree-model run.
//! The run's own test rows are rebuilt from its recorded experiment (same data, seed and split),
//! its saved model explains them, and each feature gets a row of dots: one per test row at its
//! SHAP value, coloured by the feature's value (low blue, high red, missing grey), features
//! ordered by mean |SHAP|.

use super::model_file;
use super::plan;
use super::plot::{write_figure, Figure};
use crate::backends::explain::{explain, Contributions};
use crate::error::InputError;
use ndarray::{Array2, Axis};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Test rows drawn at most (evenly spaced through the test set): more only blur the swarm.
pub const MAX_ROWS: usize = 2000;
/// Features drawn at most, the largest mean |SHAP| first.
const MAX_FEATURES: usize = 20;

/// Draw the SHAP summary of the run in `dir` into `out`. Returns a line on what was drawn.
pub fn shap_plot(dir: &Path, out: &Path, size: (u32, u32)) -> Result<String, InputError> {
    let file = dir.join("model.json");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| InputError::new(format!("cannot read the model: {e}")).file(&file).detail("a SHAP plot needs a finished run that saved its model (native gradient boosting, decision tree, random forest)"))?;
    let doc = model_file::read(&text).map_err(|e| InputError::new(e).file(&file))?;
    let exp_path = dir.join("experiment.yaml");
    let exp = std::fs::read_to_string(&exp_path).map_err(|e| InputError::new(format!("cannot read: {e}")).file(&exp_path))?;
    let plan = plan::from_text(&exp, &exp_path, &exp_path).map_err(|e| InputError::new(format!("the recorded experiment no longer validates: {e}")).file(&exp_path))?;
    let prepared = plan.prepare()?.ok_or_else(|| InputError::new("the recorded experiment has no table data").file(&exp_path))?;
    let fold = prepared.folds.first().ok_or_else(|| InputError::new("the recorded experiment has no test rows").file(&exp_path))?;
    let n = fold.test.len();
    if n == 0 {
        return Err(InputError::new("the run has no test rows to explain").file(&exp_path));
    }
    let rows: Vec<usize> = if n > MAX_ROWS { (0..MAX_ROWS).map(|i| i * n / MAX_ROWS).collect() } else { (0..n).collect() };
    // Rows read in chunks (`data.chunk_rows`) are read again, those rows only kept.
    let x = match fold.streamed.as_deref() {
        Some(s) => s.test_rows(&fold.encoder, &rows)?,
        None => fold.test.x.select(Axis(0), &rows),
    };
    let c = explain(&doc.model, x.view()).map_err(|e| InputError::new(format!("no SHAP values for this model: {e}")).file(&file))?;
    let names = doc.encoder.names();
    let run = super::store::read_run(dir).ok().and_then(|l| l.summary).map(|s| format!("{}/{}", s.experiment, s.run)).unwrap_or_else(|| dir.display().to_string());
    let class = match c.classes.as_slice() {
        [k] if !doc.encoder.classes.is_empty() => format!(", class {}", doc.encoder.classes.get(*k).cloned().unwrap_or_else(|| k.to_string())),
        [_] => String::new(),
        _ => ", all classes".into(),
    };
    let fig = Swarm::new(&c, &x, &names, format!("SHAP values — {run} ({} test rows{class})", rows.len()), format!("SHAP value ({})", c.scale));
    write_figure(&fig, out, size)?;
    Ok(format!("{} features of {} test rows", fig.features.len(), rows.len()))
}

/// A dot: SHAP value, vertical offset, colour position in 0..1 (`None`: a missing value).
type Dot = (f64, f64, Option<f64>);

/// The beeswarm: per drawn feature, its name and its dots.
struct Swarm {
    title: String,
    x_label: String,
    features: Vec<(String, Vec<Dot>)>,
}

impl Swarm {
    fn new(c: &Contributions, x: &Array2<f64>, names: &[String], title: String, x_label: String) -> Swarm {
        let d = c.n_features;
        let mean = c.mean_abs();
        let mut order: Vec<usize> = (0..d).filter(|&j| mean[j] > 0.0).collect();
        order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]).then(a.cmp(&b)));
        order.truncate(MAX_FEATURES);
        let (lo, hi) = c.values.chunks(d + 1).flat_map(|r| r[..d].iter()).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
        let span = (hi - lo).max(1e-12);
        let features = order
            .iter()
            .map(|&j| {
                // Colour: the value's rank among the rows' present values of this feature.
                let mut present: Vec<f64> = x.column(j).iter().copied().filter(|v| !v.is_nan()).collect();
                present.sort_by(f64::total_cmp);
                let rank = |v: f64| -> Option<f64> {
                    (!v.is_nan() && present.len() > 1).then(|| present.partition_point(|p| *p < v) as f64 / (present.len() - 1) as f64)
                };
                // Dots pile up in 120 slots along x: the k-th in a slot sits alternately above and
                // below the line, farther out the more there are (the swarm's width is density).
                const SLOTS: usize = 120;
                let mut count = [0usize; SLOTS];
                let mut dots = Vec::new();
                for r in 0..c.n_rows() {
                    for o in 0..c.classes.len() {
                        let v = c.row(r, o)[j];
                        let slot = (((v - lo) / span) * (SLOTS - 1) as f64).round() as usize;
                        let k = count[slot.min(SLOTS - 1)];
                        count[slot.min(SLOTS - 1)] += 1;
                        let side = if k % 2 == 0 { 1.0 } else { -1.0 };
                        dots.push((v, side * k.div_ceil(2) as f64, rank(x[[r, j]])));
                    }
                }
                let widest = count.iter().copied().max().unwrap_or(1).max(1) as f64;
                let scale = 0.4 / (widest / 2.0).max(4.0);
                (names.get(j).cloned().unwrap_or_else(|| format!("x[{j}]")), dots.into_iter().map(|(v, y, col)| (v, y * scale, col)).collect())
            })
            .collect();
        Swarm { title, x_label, features }
    }
}

/// Blue (low) to red (high) through purple, as SHAP summary plots colour feature values.
fn colour(t: Option<f64>) -> RGBAColor {
    match t {
        None => RGBAColor(150, 150, 150, 0.6),
        Some(t) => RGBAColor((30.0 + 225.0 * t) as u8, (136.0 - 100.0 * t) as u8, (229.0 - 180.0 * t) as u8, 0.75),
    }
}

impl Figure for Swarm {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let k = self.features.len();
        if k == 0 {
            return Err("the model splits on no feature: every SHAP value is 0".into());
        }
        let (lo, hi) = self.features.iter().flat_map(|(_, d)| d.iter()).fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| (l.min(p.0), h.max(p.0)));
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let (main, legend) = root.split_horizontally(root.dim_in_pixel().0.saturating_sub(90));
        let names: Vec<String> = self.features.iter().map(|(n, _)| n.clone()).collect();
        let label = move |y: &f64| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < k { names[k - 1 - i as usize].clone() } else { String::new() }
        };
        let width = self.features.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(4) as u32;
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size((width * 8 + 16).min(260))
            .build_cartesian_2d((lo - pad)..(hi + pad), -0.6..(k as f64 - 0.4))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_max_light_lines(1)
            .y_labels(k + 1)
            .y_label_formatter(&label)
            .x_desc(self.x_label.as_str())
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(err)?;
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, -0.6), (0.0, k as f64 - 0.4)], BLACK.mix(0.5)))).map_err(err)?;
        for (i, (_, dots)) in self.features.iter().enumerate() {
            let y = (k - 1 - i) as f64;
            chart.draw_series(dots.iter().map(|&(v, dy, c)| Circle::new((v, y + dy), 2, colour(c).filled()))).map_err(err)?;
        }
        // The colour scale: feature value, low to high.
        let (lw, lh) = legend.dim_in_pixel();
        let (top, bottom) = (lh as i32 / 4, lh as i32 * 3 / 4);
        let x0 = lw as i32 / 2 - 6;
        for py in top..bottom {
            let t = (bottom - py) as f64 / (bottom - top) as f64;
            legend.draw(&Rectangle::new([(x0, py), (x0 + 12, py + 1)], colour(Some(t)).filled())).map_err(err)?;
        }
        let style = ("sans-serif", 13).into_font().color(&BLACK);
        legend.draw(&Text::new("high", (x0 - 4, top - 18), style.clone())).map_err(err)?;
        legend.draw(&Text::new("low", (x0 - 2, bottom + 4), style.clone())).map_err(err)?;
        legend.draw(&Text::new("feature value", (4, bottom + 22), style)).map_err(err)?;
        Ok(())
    }
}
