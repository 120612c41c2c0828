//! Recorded runs taken elsewhere: `export` writes them as a table, `plot` draws a step metric
//! as a figure, `report` writes a Markdown report.

use super::PlotX;
use crate::error::InputError;
use crate::experiments::plot::XAxis;
use crate::experiments::recorded::collect;
use crate::experiments::{export, plot, report};
use std::path::{Path, PathBuf};

/// `ratlab plot`.
pub fn plot(runs: &[PathBuf], metric: &str, out: &Path, x: PlotX, size: (u32, u32)) -> anyhow::Result<u8> {
    let recorded = collect(runs, true)?;
    let axis = match x {
        PlotX::Step => XAxis::Step,
        PlotX::X => XAxis::X,
        PlotX::Time => XAxis::Time,
    };
    plot::plot(&recorded, metric, axis, out, size)?;
    eprintln!("wrote {} ({} run(s))", out.display(), recorded.len());
    Ok(0)
}

/// `ratlab plot RUN_DIR --shap`.
pub fn shap_plot(runs: &[PathBuf], out: &Path, size: (u32, u32)) -> anyhow::Result<u8> {
    let [dir] = runs else {
        return Err(InputError::new(format!("a SHAP plot is of one run; {} were given", runs.len())).field("RUN_DIR").into());
    };
    let what = crate::experiments::shap_plot::shap_plot(dir, out, size)?;
    eprintln!("wrote {} ({what})", out.display());
    Ok(0)
}

/// `ratlab report`.
pub fn report(runs: &[PathBuf], out: &Path) -> anyhow::Result<u8> {
    let recorded = collect(runs, true)?;
    let path = report::report(recorded, out)?;
    outln!("{}", path.display());
    Ok(0)
}

/// `ratlab export`.
pub fn export(runs: &[PathBuf], to: &Path, curves: bool) -> anyhow::Result<u8> {
    let recorded = collect(runs, curves)?;
    let n = export::export(&recorded, to, curves)?;
    eprintln!("wrote {n} row(s) ({} run(s)) to {}", recorded.len(), to.display());
    Ok(0)
}
