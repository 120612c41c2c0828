//! Fuzz target: ratlab::experiments::fuzzing::gguf on arbitrary bytes: a GGUF file is parsed,
//! its config, tensors and tokenizer read; it must never panic, abort or loop.
#![no_main]

libfuzzer_sys::fuzz_target!(init: ratlab::data::install_quiet_hook(), |data: &[u8]| {
    ratlab::experiments::fuzzing::gguf(data);
});
