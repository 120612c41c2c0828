//! Saved models read back by `ratlab predict`: every model a run saves predicts, and every
//! damaged `model.json` (tests/fixtures/models/, each with its `_expect`ed message) is refused
//! with what is wrong and exit 2 — never a hang, a panic or a backtrace.

use crate::{cmd, root};

fn models() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("tests/fixtures/models")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn a_damaged_model_file_is_refused_with_what_is_wrong() {
    let iris = root().join("datasets/iris.csv");
    let mut refused = 0;
    for m in models() {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
        let o = cmd().args(["predict", m.to_str().unwrap(), "--data", iris.to_str().unwrap()]).timeout(std::time::Duration::from_secs(20)).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let name = m.file_name().unwrap().to_string_lossy();
        match doc["_expect"].as_str() {
            None => {
                assert_eq!(o.status.code(), Some(0), "{name}: {err}");
                assert!(String::from_utf8_lossy(&o.stdout).starts_with("prediction"), "{name}");
            }
            Some(want) => {
                refused += 1;
                assert_eq!(o.status.code(), Some(2), "{name}: {err}");
                assert!(!err.contains("panicked"), "{name}: {err}");
                assert!(err.contains(name.as_ref()) && err.contains(want), "{name}: the message lacks {want:?}:\n{err}");
            }
        }
    }
    assert!(refused >= 12, "the damaged corpus has {refused} files");
}
