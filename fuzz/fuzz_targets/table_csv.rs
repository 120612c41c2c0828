//! Fuzz target: a data file's bytes read as CSV by ratlab's loader (must never panic).
//! A reader's panic that ratlab catches and reports as a bad file is not a finding: the quiet
//! hook keeps libFuzzer's abort-on-panic hook for the panics nothing catches.
#![no_main]

libfuzzer_sys::fuzz_target!(init: ratlab::data::install_quiet_hook(), |data: &[u8]| {
    ratlab::experiments::fuzzing::table(data, false);
});
