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

export CARGO_TARGET_DIR ?= $(CACHE)/target
# tch (torch-sys) links the libtorch inside the venv's torch wheel; it runs `python` from the venv.
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)

CARGO_FLAGS := --release --locked --features torch
BIN := $(CARGO_TARGET_DIR)/release/ratlab

.PHONY: all run build link test torch tmux bench clean-cache

all: build

$(TORCH_STAMP):
	@echo "==> installing torch==$(TORCH_VERSION) into $(VENV) (once; reused by later builds)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet "torch==$(TORCH_VERSION)"
	touch $@

## torch: the libtorch that tch links against (PyPI wheel in a project virtualenv)
torch: $(TORCH_STAMP)

## build: the full binary (feature torch) at target/release/ratlab
build: torch
	cargo build $(CARGO_FLAGS) --bin ratlab
	@$(MAKE) --no-print-directory link

# target/release/ratlab: a link to the binary in the shared target directory.
link:
	@if [ "$$(realpath -m $(CARGO_TARGET_DIR))" != "$$(realpath -m target)" ]; then \
		mkdir -p target/release && ln -sfn $(BIN) target/release/ratlab; fi
	@echo "==> target/release/ratlab"

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

## test: the whole test suite, plus a check that the crate builds without torch
test: torch tmux
	cargo test $(CARGO_FLAGS) --no-fail-fast
	@echo "==> the crate without torch (plain cargo build): library and its unit tests"
	cargo test --release --locked --lib
	@# The tests built the full binary (with torch) too; link it and check it starts.
	@$(MAKE) --no-print-directory link
	$(BIN) --version

## bench: benchmarks, printed beside ../shared/REFERENCE.md
bench: torch
	cargo bench --locked --features torch

clean-cache:
	rm -rf $(CACHE)
