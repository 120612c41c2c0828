#!/usr/bin/env bash
# Fuzz ratlab's readers with cargo-fuzz (libFuzzer, nightly): each target runs for SECONDS
# (default 180), seeded with the bundled experiments, fixtures, datasets and earlier findings
# (tests/fixtures/fuzz/). A crash stops the script with the failing input under
# fuzz/artifacts/TARGET/; fix it, then add the input to tests/fixtures/fuzz/ so tests/fuzz.rs
# keeps it in make test.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   targets: experiment table_csv table_parquet events model gguf safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-180}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(experiment table_csv table_parquet events model gguf safetensors)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ratlab/target}-fuzz"
seed() { # seed TARGET EXT...: copy files with these extensions into the target's corpus
    local dir="fuzz/corpus/$1"; shift
    mkdir -p "$dir"
    for ext in "$@"; do
        find experiments tests/fixtures datasets -name "*.$ext" -size -200k -exec cp {} "$dir/" \; 2>/dev/null || true
    done
}
seed experiment yaml
seed table_csv csv
seed table_parquet parquet
seed model json
seed gguf gguf
seed safetensors safetensors
mkdir -p fuzz/corpus/events
for f in $(find runs tests/fixtures -name events.jsonl -size -200k 2>/dev/null | head -20 || true); do
    cp "$f" "fuzz/corpus/events/$(echo "$f" | tr / _)"
done
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${secs}s"
    # The findings (a panic's message, the input saved under fuzz/artifacts/) are in the log.
    log="fuzz/$t.log"
    if ! cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 >"$log" 2>&1; then
        grep -E "panicked at|ERROR:|SUMMARY:|Test unit written" "$log" | head -n 8
        echo "== $t failed: see $log"
        exit 1
    fi
    grep -E "^Done|stat::(number_of_executed_units|peak_rss_mb)" "$log"
done
