//! Gradient boosting on a file read a chunk at a time (`data.chunk_rows`): one pass over its
//! encoded rows (read back from the spill the data layer wrote, else parsed again) gathers the
//! rows bin boundaries are learned from and the category counts, the next bins every row into
//! `u8` codes (and the test file's rows after it); no `f64` matrix of the file is ever built.
//! The trainer gets the same cuts and codes, to the bit, as from the whole file in memory, and
//! so grows the same trees.

use super::emit::{Emitter, Stop};
use crate::backends::boosting::BoostingTrainer;
use crate::backends::native::hist::{Binned, CategoryCounts, Cuts};
use crate::backends::native::pages;
use crate::backends::{AlgoParams, Trainer};
use crate::data::{progress, Encoder, Fold, Streamed};
use crate::experiments::events::RunEvent;
use crate::experiments::plan::RunPlan;
use ndarray::{Array2, ArrayView2};

/// What a run on streamed rows trains with: the trainer (its rows binned), the test rows its
/// SHAP values are taken on, and the fold's encoding with what the training rows taught it.
pub(super) struct Built {
    pub trainer: Box<dyn Trainer>,
    pub shap_x: Array2<f64>,
    pub encoder: Encoder,
}

/// Where each of a file's kept rows goes: to the training part (its index there), to the test
/// part, or (a test file) to the test part only.
struct Parts<'a> {
    split: Option<&'a (Vec<usize>, Vec<usize>)>,
    /// The next training and test rows not yet passed.
    at: (usize, usize),
}

enum Part {
    Train(usize),
    Test(usize),
}

impl Parts<'_> {
    /// The part of file row `r`; rows come in order.
    fn of(&mut self, r: usize) -> Part {
        let Some((train, test)) = self.split else { return Part::Train(r) };
        if train.get(self.at.0) == Some(&r) {
            self.at.0 += 1;
            Part::Train(self.at.0 - 1)
        } else {
            debug_assert_eq!(test.get(self.at.1), Some(&r), "a holdout split shares out every row");
            self.at.1 += 1;
            Part::Test(self.at.1 - 1)
        }
    }
}

/// Read the streamed fold's rows into a boosting trainer; `shap_rows` are the test rows whose
/// features are kept for the SHAP panel.
pub(super) fn build(run: &RunPlan, f: &Fold, s: &Streamed, shap_rows: &[usize], em: &mut Emitter<'_>) -> Result<Built, Stop> {
    let AlgoParams::Boosting(p) = &run.params else {
        return Err(Stop::Error("data.chunk_rows trains native gradient boosting only".into()));
    };
    let data_err = |e: crate::backends::TrainError| Stop::Error(e.to_string());
    let (fit, valid) = BoostingTrainer::fit_split(p, &f.train, run.seed).map_err(data_err)?;
    let by_target = BoostingTrainer::groups_by_target(p, f.train.n_classes).map_err(data_err)?;
    let d = f.encoder.names().len();
    let n_train = f.train.y.len();
    // Pass 1: the sampled fitting rows, the category counts of every fitting row and (a holdout
    // split) the training rows' column means, each in row order as in memory.
    let sample = Cuts::sample_of(&fit);
    let mut sample_x = Array2::<f64>::zeros((sample.len(), d));
    let mut fitting = vec![false; n_train];
    fit.iter().for_each(|&i| fitting[i] = true);
    let mut counts = CategoryCounts::new(&f.train.categories);
    let mut sums = vec![(0.0f64, 0usize); d];
    let mut next_sample = 0;
    let mut parts = Parts { split: s.split.as_ref(), at: (0, 0) };
    let name = s.path.display().to_string();
    phase(em, format!("reading {} for the bin boundaries", file_name(&s.path)))?;
    read(em, s, false, &f.encoder, |k0, chunk| {
        for (r, row) in chunk.rows().into_iter().enumerate() {
            let Part::Train(i) = parts.of(k0 + r) else { continue };
            if s.split.is_some() {
                for (acc, &v) in sums.iter_mut().zip(row.iter()) {
                    if !v.is_nan() {
                        acc.0 += v;
                        acc.1 += 1;
                    }
                }
            }
            if !fitting[i] {
                continue;
            }
            counts.add(row, if by_target { f.train.y[i] } else { 0.0 });
            if sample.get(next_sample) == Some(&i) {
                sample_x.row_mut(next_sample).assign(&row);
                next_sample += 1;
            }
        }
        progress::rows_read(&name, k0 + chunk.nrows());
    })?;
    progress::read_done(&name);
    drop(fitting);
    let cuts = Cuts::from_sample(sample_x.view(), p.max_bin, counts, by_target, p.cat.cat_smooth);
    drop(sample_x);
    let encoder = if s.split.is_some() { f.encoder.with_fills(&sums) } else { f.encoder.clone() };
    // Pass 2: every row's codes, to its part; the test file's after.
    let n_test = f.test.y.len();
    let mut train_codes = pages::filled(n_train * d, 0u8);
    let mut test_codes = pages::filled(n_test * d, 0u8);
    let mut shap_x = Array2::<f64>::zeros((shap_rows.len(), d));
    let mut codes = Vec::new();
    let mut next_shap = 0;
    for test_file in [false, true] {
        if test_file && s.test_path.is_none() {
            continue;
        }
        let mut parts = Parts { split: if test_file { None } else { s.split.as_ref() }, at: (0, 0) };
        let path = if test_file { s.test_path.as_ref().unwrap_or(&s.path) } else { &s.path };
        let name = path.display().to_string();
        phase(em, format!("binning every row of {}", file_name(path)))?;
        read(em, s, test_file, &encoder, |k0, chunk| {
            if parts.split.is_none() {
                // Every row to one part, in order: binned straight into place.
                let to = if test_file { &mut test_codes } else { &mut train_codes };
                cuts.codes_of(chunk, &mut to[k0 * d..(k0 + chunk.nrows()) * d]);
                while let Some(&i) = shap_rows.get(next_shap).filter(|&&i| test_file && i < k0 + chunk.nrows()) {
                    shap_x.row_mut(next_shap).assign(&chunk.row(i - k0));
                    next_shap += 1;
                }
                progress::rows_read(&name, k0 + chunk.nrows());
                return;
            }
            codes.resize(chunk.nrows() * d, 0);
            cuts.codes_of(chunk, &mut codes);
            for (r, c) in codes.chunks_exact(d.max(1)).enumerate() {
                let (is_test, i) = match parts.of(k0 + r) {
                    Part::Train(i) => (test_file, i),
                    Part::Test(i) => (true, i),
                };
                let to = if is_test { &mut test_codes } else { &mut train_codes };
                to[i * d..(i + 1) * d].copy_from_slice(c);
                if is_test && shap_rows.get(next_shap) == Some(&i) {
                    shap_x.row_mut(next_shap).assign(&chunk.row(r));
                    next_shap += 1;
                }
            }
            progress::rows_read(&name, k0 + chunk.nrows());
        })?;
        progress::read_done(&name);
    }
    let train = Binned::from_rows(train_codes, n_train, d);
    let test = (n_test > 0).then(|| Binned::from_rows(test_codes, n_test, d));
    let trainer = BoostingTrainer::from_binned(p.clone(), cuts, train, &f.train, test, (fit, valid), run.seed).map_err(data_err)?;
    Ok(Built { trainer: Box::new(trainer), shap_x, encoder })
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn phase(em: &mut Emitter<'_>, phase: String) -> Result<(), Stop> {
    let t_ms = em.t();
    em.send(RunEvent::Phase { phase, t_ms })
}

/// Read the training file (or the test file) a chunk at a time, encoded; stop between chunks
/// when the run is cancelled.
fn read(em: &Emitter<'_>, s: &Streamed, test: bool, enc: &Encoder, mut f: impl FnMut(usize, ArrayView2<'_, f64>)) -> Result<(), Stop> {
    let mut stopped = None;
    let r = s.for_each_encoded(test, enc, |k0, chunk| {
        if let Err(stop) = em.check() {
            stopped = Some(stop);
            return Err(crate::error::InputError::new("cancelled"));
        }
        f(k0, chunk);
        Ok(())
    });
    match (stopped, r) {
        (Some(stop), _) => Err(stop),
        (None, Err(e)) => Err(Stop::Error(e.to_string())),
        (None, Ok(())) => Ok(()),
    }
}
