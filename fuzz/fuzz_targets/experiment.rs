//! Fuzz target: ratlab::experiments::fuzzing::experiment on arbitrary bytes (must never panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ratlab::experiments::fuzzing::experiment(data);
});
