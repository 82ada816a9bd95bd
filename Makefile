# Velocast: the targets developers and CI run. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
DATA ?= .velocast/data/hour.csv
OUT ?= out/model
export ORT_DYLIB_PATH ?= $(CURDIR)/.velocast/lib/libonnxruntime.so

.PHONY: help setup demo up train registry models test lint fmt clippy deny machete manifests ops-lint rehearsal unit contract bench-train bench-accuracy bench-registry clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## Fetch ONNX Runtime 1.31 and the data (idempotent)
	@scripts/setup.sh

demo: setup ## Set up, start the embedded registry, train and register the default model as champion, serve it from the gateway with the monitor watching, ask it for a prediction, replay September 2012 and print the monitor's drift verdict and realized MAE
	DATA=$(DATA) OUT=$(OUT) scripts/demo.sh

up: setup ## Registry + monitor + gateway on the embedded defaults, in the foreground until Ctrl-C
	scripts/up.sh

train: setup ## Train and export the default model without a registry
	$(CARGO) run --release --locked -p velocast-trainer -- train --data $(DATA) --out $(OUT)

registry: ## Serve the registry on the embedded default (SQLite under .velocast/, port 8081)
	VELOCAST_JWT_SECRET="$$(cat .velocast/dev-jwt-secret)" DATABASE_URL="sqlite://.velocast/registry.db?mode=rwc" \
	  $(CARGO) run --release --locked -p velocast-registry -- serve

models: ## List models and versions in the running registry (token: .velocast/demo.token)
	VELOCAST_TOKEN_FILE=.velocast/demo.token $(CARGO) run --release --locked -q -p velocast-cli -- models
	VELOCAST_TOKEN_FILE=.velocast/demo.token $(CARGO) run --release --locked -q -p velocast-cli -- versions bike-demand

test: setup lint deny machete ops-lint unit contract rehearsal ## Set up, then every gate: fmt, clippy -D warnings, cargo deny, unused deps, the operations linters and manifest policies, the test suite, the OpenAPI contract, the rollout rehearsal

lint: fmt clippy ## Formatting and lints

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p velocast-gateway --features lambda --all-targets -- -D warnings

deny: ## Advisories (offline RustSec snapshot), licenses, bans, sources
	scripts/deny.sh

machete: ## Unused dependencies
	cargo machete

contract: ## schemathesis (every check) against a live registry on SQLite and on Postgres, a live gateway and a live monitor
	tests/contract/registry.sh sqlite postgres
	tests/contract/gateway.sh
	tests/contract/monitor.sh

manifests: ## Check the Kubernetes manifests' policies alone (probes, resources, security contexts, budgets, network policies, drain)
	.velocast/py/bin/python tests/manifests.py

ops-lint: ## yamllint, kubernetes-validate, hadolint, actionlint, shellcheck, zizmor and the manifest policies, each also against a broken fixture it must reject
	.velocast/py/bin/python tests/ops/lint.py

rehearsal: ## The prod overlay on one machine (network namespaces, real binaries) under load: rolling update, A/B edit, alias moves, a registry replica killed; zero failed requests (root)
	$(CARGO) build --release --locked -p velocast-registry -p velocast-gateway -p velocast-monitor -p velocast-trainer -p velocast-cli
	.velocast/py/bin/python tests/rehearsal/run.py

unit: ## The test suite alone (after setup), and the gateway's Lambda build against a stand-in Runtime API
	$(CARGO) test --locked --workspace --all-targets
	$(CARGO) test --locked -p velocast-gateway --features lambda --test lambda

bench-train: setup ## Velocast vs LightGBM + Optuna, same search budget, side by side
	bench/train_vs_lightgbm.sh

bench-accuracy: setup ## Holdout accuracy over 5 seeds, temporal and random splits
	bench/accuracy.sh

bench-registry: ## Registry vs an MLflow tracking server on the local Postgres: register/download, 32-client reads, watch latency
	bench/registry_vs_mlflow.sh

clean: ## Remove build outputs and trained models (keeps .velocast downloads)
	$(CARGO) clean
	rm -rf out
