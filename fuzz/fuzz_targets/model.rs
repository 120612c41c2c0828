//! Fuzz target: ratlab::experiments::fuzzing::model on arbitrary bytes: a `model.json` is read,
//! checked and, when accepted, predicts a row; it must never panic or loop.
#![no_main]

libfuzzer_sys::fuzz_target!(init: ratlab::data::install_quiet_hook(), |data: &[u8]| {
    ratlab::experiments::fuzzing::model(data);
});
