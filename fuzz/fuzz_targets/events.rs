//! Fuzz target: ratlab::experiments::fuzzing::events on arbitrary bytes (must never panic).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ratlab::experiments::fuzzing::events(data);
});
