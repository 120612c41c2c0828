//! Fuzz target: ratlab::experiments::fuzzing::safetensors on arbitrary bytes: a model shard's
//! header and tensors are read; it must never panic, abort or loop.
#![no_main]

libfuzzer_sys::fuzz_target!(init: ratlab::data::install_quiet_hook(), |data: &[u8]| {
    ratlab::experiments::fuzzing::safetensors(data);
});
