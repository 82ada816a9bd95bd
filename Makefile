# Velocast: the targets developers and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
DATA ?= .velocast/data/hour.csv
OUT ?= out/model
export ORT_DYLIB_PATH ?= $(CURDIR)/.velocast/lib/libonnxruntime.so

.PHONY: help setup demo train test lint fmt clippy deny unit bench-train bench-accuracy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Fetch ONNX Runtime 1.31 and the data (idempotent)
	@scripts/setup.sh

demo: setup ## Set up, then train and export the default model; prints where the model card is
	$(CARGO) run --release --locked -p velocast-trainer -- train --data $(DATA) --out $(OUT)

train: demo ## Alias of demo

test: setup lint deny unit ## Set up, then every gate: fmt, clippy -D warnings, cargo deny, the whole test suite

lint: fmt clippy ## Formatting and lints

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

deny: ## Advisories (offline RustSec snapshot), licenses, bans, sources
	scripts/deny.sh

unit: ## The test suite alone (after setup)
	$(CARGO) test --locked --workspace --all-targets

bench-train: setup ## Velocast vs LightGBM + Optuna, same search budget, side by side
	bench/train_vs_lightgbm.sh

bench-accuracy: setup ## Holdout accuracy over 5 seeds, temporal and random splits
	bench/accuracy.sh

clean: ## Remove build outputs and trained models (keeps .velocast downloads)
	$(CARGO) clean
	rm -rf out
