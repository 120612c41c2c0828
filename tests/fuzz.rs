//! Property-based fuzzing of everything ratlab reads from users, in `make test` (a few
//! seconds): the experiment parser and validator, the CSV/Parquet loader and the event reader
//! get arbitrary bytes and mutations of real files, and must answer with a value or an error,
//! never a panic. `scripts/fuzz.sh` runs the same entry points under cargo-fuzz for minutes.

use proptest::prelude::*;
use ratlab::experiments::fuzzing;

/// Real inputs to mutate: every bundled experiment and fixture, a CSV, a Parquet file and a
/// recorded run's events.
fn seeds(ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["experiments", "tests/fixtures/valid", "tests/fixtures/invalid", "tests/fixtures/data", "datasets", "tests/fixtures/fuzz", "tests/fixtures/models"] {
        let Ok(rd) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
        paths.sort();
        for p in paths {
            if let Ok(b) = std::fs::read(&p) {
                if b.len() < 200_000 {
                    out.push(b);
                }
            }
        }
    }
    assert!(!out.is_empty(), "no .{ext} seeds");
    out
}

/// One edit of a byte string: flip, insert, delete, duplicate or splice a run of bytes.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), prop::collection::vec(prop_oneof![Just(b':'), Just(b'-'), Just(b'['), Just(b'{'), Just(b'\n'), Just(b','), Just(b'"'), Just(b'&'), Just(b'*'), any::<u8>()], 1..8))
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), 1usize..32, 1usize..6).prop_map(|(i, n, k)| Edit::Repeat(i, n, k)),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = b.len().max(1);
        match e {
            Edit::Set(i, v) if !b.is_empty() => {
                let i = i % b.len();
                b[i] = *v;
            }
            Edit::Insert(i, v) => {
                let i = i % (b.len() + 1);
                b.splice(i..i, v.iter().copied());
            }
            Edit::Delete(i, k) if !b.is_empty() => {
                let i = i % b.len();
                let j = (i + k).min(b.len());
                b.drain(i..j);
            }
            Edit::Repeat(i, k, times) if !b.is_empty() => {
                let i = i % n.min(b.len());
                let j = (i + k).min(b.len());
                let piece: Vec<u8> = b[i..j].to_vec();
                for _ in 0..*times {
                    b.splice(j..j, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
    b
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// A recorded run's events, made here (a short logistic regression).
fn recorded_events() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    crate::cmd().args(["run", "tests/fixtures/valid/separable.yaml", "--out", dir.path().to_str().unwrap()]).output().unwrap();
    let run = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).find(|e| e.path().join("events.jsonl").is_file()).expect("a recorded run").path();
    std::fs::read(run.join("events.jsonl")).unwrap()
}

#[test]
fn the_experiment_parser_never_panics_on_mutated_or_random_files() {
    let seeds = seeds("yaml");
    proptest!(config(400), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..6))| {
        fuzzing::experiment(&apply(seeds[k % seeds.len()].clone(), &edits));
    });
    proptest!(config(200), |(bytes in prop::collection::vec(any::<u8>(), 0..2000))| {
        fuzzing::experiment(&bytes);
    });
    proptest!(config(200), |(text in "[a-z_:{}\\[\\], \\n\\-&*!|>'\"0-9.#]{0,400}")| {
        fuzzing::experiment(text.as_bytes());
    });
}

#[test]
fn the_table_loader_never_panics_on_mutated_or_random_csv_and_parquet() {
    let csv = seeds("csv");
    proptest!(config(150), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..5))| {
        let mut b = csv[k % csv.len()].clone();
        b.truncate(4000);
        fuzzing::table(&apply(b, &edits), false);
    });
    let parquet = seeds("parquet");
    proptest!(config(100), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..4))| {
        fuzzing::table(&apply(parquet[k % parquet.len()].clone(), &edits), true);
    });
    proptest!(config(100), |(bytes in prop::collection::vec(any::<u8>(), 0..3000), parquet in any::<bool>())| {
        fuzzing::table(&bytes, parquet);
    });
}

#[test]
fn the_event_reader_never_panics_on_mutated_or_random_records() {
    let events = recorded_events();
    proptest!(config(300), |(edits in prop::collection::vec(edit(), 1..6))| {
        fuzzing::events(&apply(events.clone(), &edits));
    });
    proptest!(config(100), |(bytes in prop::collection::vec(any::<u8>(), 0..3000))| {
        fuzzing::events(&bytes);
    });
}

#[test]
fn the_model_reader_never_panics_or_hangs_on_mutated_or_random_model_files() {
    let models = seeds("json");
    proptest!(config(300), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..6))| {
        fuzzing::model(&apply(models[k % models.len()].clone(), &edits));
    });
    proptest!(config(100), |(bytes in prop::collection::vec(any::<u8>(), 0..3000))| {
        fuzzing::model(&bytes);
    });
}

/// Every input a fuzzer found (tests/fixtures/fuzz/), replayed as found: each was a crash,
/// fixed, and stays fixed.
#[test]
fn inputs_the_fuzzers_found_stay_fixed() {
    let mut n = 0;
    for e in std::fs::read_dir("tests/fixtures/fuzz").unwrap().filter_map(Result::ok) {
        let p = e.path();
        let bytes = std::fs::read(&p).unwrap();
        match p.extension().and_then(|x| x.to_str()) {
            Some("parquet") => fuzzing::table(&bytes, true),
            Some("csv") => fuzzing::table(&bytes, false),
            Some("yaml") => fuzzing::experiment(&bytes),
            Some("jsonl") => fuzzing::events(&bytes),
            Some("json") => fuzzing::model(&bytes),
            _ => continue,
        }
        n += 1;
    }
    assert!(n >= 1);
}

/// The tiny pretrained fixtures' files (GGUF in every type, safetensors shards).
fn checkpoint_seeds(ext: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for arch in ["llama", "qwen2"] {
        for dir in [format!("tests/fixtures/pretrained/{arch}"), format!("tests/fixtures/pretrained/{arch}/hf")] {
            let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == ext)).collect();
            paths.sort();
            out.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
        }
    }
    assert!(!out.is_empty(), "no .{ext} fixtures");
    out
}

#[test]
fn the_checkpoint_readers_never_panic_on_mutated_or_random_gguf_and_safetensors() {
    // Mutations within the first `cut` bytes hit the header, metadata and tensor infos, where
    // the counts are; the tensor data after them stays as it was.
    let mutate_head = |seeds: &[Vec<u8>], k: usize, edits: &[Edit], cut: usize| {
        let mut b = seeds[k % seeds.len()].clone();
        let tail = b.split_off(cut.min(b.len()));
        let mut b = apply(b, edits);
        b.extend(tail);
        b
    };
    let gguf = checkpoint_seeds("gguf");
    proptest!(config(120), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..5), cut in 64usize..40_000)| {
        fuzzing::gguf(&mutate_head(&gguf, k, &edits, cut));
    });
    proptest!(config(100), |(bytes in prop::collection::vec(any::<u8>(), 0..3000))| {
        let mut b = b"GGUF\x03\0\0\0".to_vec();
        b.extend(bytes);
        fuzzing::gguf(&b);
    });
    let st = checkpoint_seeds("safetensors");
    proptest!(config(120), |(k in any::<usize>(), edits in prop::collection::vec(edit(), 1..5), cut in 16usize..4_000)| {
        fuzzing::safetensors(&mutate_head(&st, k, &edits, cut));
    });
    proptest!(config(100), |(bytes in prop::collection::vec(any::<u8>(), 0..3000))| {
        fuzzing::safetensors(&bytes);
    });
}
