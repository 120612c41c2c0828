//! ratlab-torch: the worker process that trains ratlab's transformer runs through libtorch
//! (tch). The `ratlab` binary never links libtorch; its runner starts this worker for each torch
//! run, hands it a job, and relays the run events it prints (see
//! `ratlab::experiments::worker`). Modules: the network ([`model`]), batches on the device
//! ([`batches`]), the training modes ([`train`]), generation with a KV cache ([`generate`]) and
//! checkpoints ([`checkpoint`]),
//! pretrained models with their tokenizers, scoring and sampling ([`pretrained`]), and what a
//! panic was ([`panic`]).

pub mod batches;
pub mod checkpoint;
pub mod commands;
pub mod generate;
pub mod model;
pub mod panic;
pub mod pretrained;
pub mod train;

#[cfg(test)]
mod pretrained_tests;
#[cfg(test)]
mod tests;
