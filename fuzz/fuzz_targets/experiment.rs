//! Fuzz target: ratlab::experiments::fuzzing::experiment on arbitrary bytes (must never panic).
//! A reader's panic that ratlab catches and reports as a bad input is not a finding: the quiet
//! hook keeps libFuzzer's abort-on-panic hook for the panics nothing catches.
#![no_main]

libfuzzer_sys::fuzz_target!(init: ratlab::data::install_quiet_hook(), |data: &[u8]| {
    ratlab::experiments::fuzzing::experiment(data);
});
