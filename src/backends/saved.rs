//! Saved models: what `model.json` holds, and how a model read back predicts. Every model that
//! can be saved implements [`Saveable`] in its own family's file (its `kind`, and serde for its
//! fields): the boosted ensemble, a tree, a linear model, the ensembles of saved members. A
//! [`SavedModel`] is any of them behind one type, written as `{"kind": ..., fields...}`; the
//! catalogue ([`super::saved_kinds`]) lists the kinds this ratlab reads back, so this module knows
//! no model at all and the models depend on it, never the reverse.
//!
//! A saved model predicts with the very code the trained one used (the same tree walk, the
//! same sums in the same order), so its predictions are bit-identical.

use super::{Prediction, Predictor, TrainError};
use ndarray::ArrayView2;
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::any::Any;
use std::fmt::Debug;

/// A fitted model that `model.json` can keep: it predicts, and serde writes and reads its
/// fields.
pub trait Saveable: Predictor + Serialize + DeserializeOwned + Clone + Debug + 'static {
    /// The `kind` it is written under.
    const KIND: &'static str;
    /// Check a model read from a file before it predicts anything, for rows of `inputs`
    /// features: every index in range, every width consistent, every number finite. A file
    /// can claim anything (a tree whose root is its own child would be walked forever). Returns
    /// the outputs a row gets: the class count, or 1 for a value.
    fn check(&self, inputs: usize) -> Result<usize, String>;
}

/// Every number of `values` finite, or which is not.
pub fn all_finite(values: &[f64], what: &str) -> Result<(), String> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(format!("{what} {i} is {}", values[i])),
        None => Ok(()),
    }
}

/// The object-safe face of a [`Saveable`], so that one type holds any of them.
trait Form: Predictor + Debug {
    fn kind(&self) -> &'static str;
    fn check(&self, inputs: usize) -> Result<usize, String>;
    fn fields(&self) -> serde_json::Result<Value>;
    fn clone_box(&self) -> Box<dyn Form>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Saveable> Form for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
    fn check(&self, inputs: usize) -> Result<usize, String> {
        Saveable::check(self, inputs)
    }
    fn fields(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
    fn clone_box(&self) -> Box<dyn Form> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A fitted model in the form `model.json` keeps: written with its `kind` first, read back by
/// the reader the catalogue names for that kind.
#[derive(Debug)]
pub struct SavedModel(Box<dyn Form>);

impl SavedModel {
    pub fn new<T: Saveable>(model: T) -> SavedModel {
        SavedModel(Box::new(model))
    }

    /// [`Saveable::check`] of the model inside, its kind named in the error.
    pub fn check(&self, inputs: usize) -> Result<usize, String> {
        self.0.check(inputs).map_err(|e| format!("{} model: {e}", self.0.kind()))
    }

    /// The model inside, when it is a `T`.
    pub fn downcast_ref<T: Saveable>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl Clone for SavedModel {
    fn clone(&self) -> SavedModel {
        SavedModel(self.0.clone_box())
    }
}

impl Predictor for SavedModel {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        self.0.predict(x)
    }
}

impl Serialize for SavedModel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(fields) = self.0.fields().map_err(S::Error::custom)? else {
            return Err(S::Error::custom(format!("a saved {} is not a map of fields", self.0.kind())));
        };
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        map.serialize_entry("kind", self.0.kind())?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// How one kind is read back: its fields (without `kind`) into a model.
pub type Reader = fn(Value) -> serde_json::Result<SavedModel>;

/// The kind and reader of a [`Saveable`] type, for the catalogue's list.
pub fn reader<T: Saveable>() -> (&'static str, Reader) {
    (T::KIND, |fields| serde_json::from_value::<T>(fields).map(SavedModel::new))
}

impl<'de> Deserialize<'de> for SavedModel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SavedModel, D::Error> {
        let mut doc = Value::deserialize(d)?;
        let kind = doc.as_object_mut().and_then(|m| m.remove("kind")).ok_or_else(|| D::Error::custom("a saved model needs its kind"))?;
        let kinds = super::saved_kinds();
        let read = kinds.iter().find(|(k, _)| Some(*k) == kind.as_str()).map(|(_, read)| read).ok_or_else(|| {
            D::Error::custom(format!("unknown model kind {kind}; this ratlab reads {}", kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")))
        })?;
        read(doc).map_err(D::Error::custom)
    }
}
