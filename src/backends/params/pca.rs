//! PCA: its table and typed parameters (also a preprocessing stage of other runs).

use super::{f, p, ParamDef, ParamKind, ParamMap, ParamValue, POS};

/// `pca`'s parameter table.
pub(super) static PCA: &[ParamDef] = &[
    p("n_components", POS, "0.95", "a count (5), or the variance fraction to keep (0.95: the fewest components explaining 95%)"),
    p("whiten", ParamKind::Bool, "false", "scale projections to unit variance (for preprocessing)"),
];

/// Parameters of PCA.
#[derive(Debug, Clone, PartialEq)]
pub struct PcaParams {
    /// A count (≥ 1) or a variance fraction (< 1).
    pub n_components: f64,
    pub whiten: bool,
}

/// Typed parameters from a checked, defaults-filled map.
pub(super) fn from_map(m: &ParamMap) -> PcaParams {
    PcaParams { n_components: f(m, "n_components"), whiten: matches!(m.get("whiten"), Some(ParamValue::Bool(true))) }
}
