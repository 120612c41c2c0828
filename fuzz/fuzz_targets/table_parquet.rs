//! Fuzz target: a data file's bytes read as PARQUET by ratlab's loader (must never panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ratlab::experiments::fuzzing::table(data, true);
});
