"""Every rule the plan follows, with its source: one place, so `--explain`, the JSON plan and the README all
cite the same words.

Recipe rules quote vLLM's gpt-oss recipe (serving.reasons.RECIPE, pinned). Rules that set nothing
(`NOT_APPLIED`) say why a recipe line is left out; `API_LIMITATIONS` are the recipe's known limitations that
no flag can fix, carried by every plan so a user sees them before production.
"""

from __future__ import annotations

from serving.reasons import RECIPE, Kind, Rule, recipe_section

_CONFIG_FILES = recipe_section("Prepare the Config File")
_BALANCING = recipe_section("Balancing between Throughput and Latencies")
_PARAMETERS = recipe_section("Configs and Parameters")
_KNOWN = recipe_section("Known Limitations")
_EAGLE3_FILES = (
    f"{RECIPE.removesuffix('GPT-OSS.md')}GPT-OSS_EAGLE3_Hopper.yaml and GPT-OSS_EAGLE3_Blackwell.yaml"
)

# --- what every GPU plan carries ----------------------------------------------------------------------

MODEL_CHECKPOINT = Rule(
    "model-checkpoint",
    Kind.BUNDLE,
    "serving/catalog.py (the model's Hugging Face repository)",
    "the model's own checkpoint, unless the recipe serves another one on this GPU",
)
MI355X_CHECKPOINT = Rule(
    "mi355x-checkpoint",
    Kind.RECIPE,
    recipe_section("MI355x(gfx950)"),
    "MI355X serves amd/gpt-oss-120b-w-mxfp4-a-fp8, a Quark-quantized copy with fp8 activations "
    "(static scales), under the OpenAI name",
)
USER_OPTION = Rule(
    "user-option",
    Kind.USER_OPTION,
    "the plan request (gptoss CLI flag, pyinfra host data key, or Pulumi stack config)",
    "a value the user chose; the plan checks it and passes it on",
)
ENDPOINT = Rule(
    "endpoint",
    Kind.BUNDLE,
    "serving/plan.py defaults (vLLM's own: port 8000; the served name is the Hugging Face id)",
    "where the engine listens and the model name clients send",
)
ENGINE_LAYOUT = Rule(
    "engine-layout",
    Kind.BUNDLE,
    "serving/plan.py: one engine per tensor-parallel group",
    "engine i runs on GPUs i*TP..(i+1)*TP-1 and listens on the first port + i",
)
FUNCTION_CALLING = Rule(
    "function-calling",
    Kind.RECIPE,
    recipe_section("Function calling"),
    "user-defined function calling needs `--tool-call-parser openai --enable-auto-tool-choice`",
)
TOOL_CHOICE_AUTO = Rule(
    "tool-choice-auto",
    Kind.KNOWN_LIMITATION,
    recipe_section("Harmony Format Support"),
    'for function calling only tool_choice="auto" is supported',
)
REASONING_PARSER = Rule(
    "reasoning-parser",
    Kind.VLLM,
    "vLLM 0.33 reasoning parser registry (vllm/reasoning): openai_gptoss",
    "harmony's analysis channel comes back as the message's `reasoning`",
)
MAX_MODEL_LEN_DEFAULT = Rule(
    "max-model-len-default",
    Kind.MEMORY_MATH,
    "serving/catalog.py (config.json max_position_embeddings) and serving/memory.py",
    "the model's full context; the memory math requires one full-context sequence to fit",
)
GPU_MEMORY_DEFAULT = Rule(
    "gpu-memory-default",
    Kind.MEMORY_MATH,
    "serving/memory.py (vLLM 0.33's own default is 0.92)",
    "0.9 passed explicitly, so the memory math and the engine's budget are the same number",
)

# --- tensor parallelism per goal --------------------------------------------------------------------

TP_THROUGHPUT = Rule(
    "tp-throughput",
    Kind.RECIPE,
    _PARAMETERS,
    "throughput: the smallest TP that fits, one engine per TP group (TP 1 gives the best throughput per GPU)",
)
TP_LATENCY = Rule(
    "tp-latency",
    Kind.RECIPE,
    _PARAMETERS,
    "latency: the largest TP on the host (TP 2, 4 or 8 give better per-user latencies)",
)
TP_BALANCED = Rule(
    "tp-balanced",
    Kind.MEMORY_MATH,
    "serving/tensor_parallel.py (BALANCED_MIN_FULL_SEQUENCES) over serving/memory.py",
    "balanced: the smallest TP whose KV cache holds 4 full-context sequences (else the largest)",
)
BLACKWELL_BALANCED = Rule(
    "blackwell-balanced",
    Kind.RECIPE,
    _BALANCING,
    "Balanced on B200: TP 2 with --max-num-seqs 128",
)
BLACKWELL_MIN_LATENCY = Rule(
    "blackwell-min-latency",
    Kind.RECIPE,
    _BALANCING,
    "Min Latency on B200: TP 4 or 8 and a small batch, --max-num-seqs 8",
)

# --- Hopper and Blackwell ---------------------------------------------------------------------------

HOPPER_BLACKWELL_CONFIG = Rule(
    "hopper-blackwell-config",
    Kind.RECIPE,
    f"{_CONFIG_FILES} (GPT-OSS_Hopper.yaml, GPT-OSS_Blackwell.yaml)",
    "max-num-batched-tokens 8192 and max-cudagraph-capture-size 2048 on H100, H200 and B200",
)
CUDAGRAPH_CAPPED = Rule(
    "cudagraph-capped",
    Kind.VLLM,
    "vLLM 0.33 vllm/config/vllm.py (capture sizes are truncated to max_num_batched_tokens, with a warning)",
    "the CUDA graph capture size never exceeds the batched tokens",
)
STREAM_INTERVAL = Rule(
    "stream-interval",
    Kind.RECIPE,
    _PARAMETERS,
    "stream-interval 20 maximizes throughput: throughput goal only; interactive goals keep vLLM's 1 so "
    "streamed answers do not arrive in bursts of 20 tokens",
)
BLACKWELL_FP8_KV = Rule(
    "blackwell-fp8-kv",
    Kind.RECIPE,
    f"{_CONFIG_FILES} (GPT-OSS_Blackwell.yaml)",
    "fp8 KV cache on data-centre Blackwell (compute capability 10.0): half the bytes per token",
)
EAGLE3 = Rule(
    "eagle3-latency",
    Kind.RECIPE,
    _EAGLE3_FILES,
    "latency goal, gpt-oss-120b on Hopper or Blackwell: EAGLE3 speculative decoding with "
    "nvidia/gpt-oss-120b-Eagle3-v3, 7 speculative tokens, draft TP 1",
)

# --- the recipe's known limitations that change flags --------------------------------------------------

H100_TP1 = Rule(
    "h100-tp1-oom",
    Kind.KNOWN_LIMITATION,
    _KNOWN,
    "gpt-oss-120b on H100 with TP 1: the default memory utilization and batched tokens run out of CUDA "
    "memory; the recipe's fix is --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024",
)
H100_TP2 = Rule(
    "h100-tp2-utilization",
    Kind.KNOWN_LIMITATION,
    _KNOWN,
    "TP 2 on H100: GPU memory utilization must stay below 0.95, or it runs out of memory",
)

# --- AMD -------------------------------------------------------------------------------------------

AMD_ROCM = Rule(
    "amd-rocm",
    Kind.RECIPE,
    f"{recipe_section('MI300x/MI325x(gfx942)')} and § MI355x(gfx950)",
    "AITER unified attention, block size 64, RoPE fused into the KV-cache write, Inductor graph "
    "partitioning, the ROCm environment and 0.95 memory utilization on MI300X, MI325X and MI355X",
)

# --- GPUs outside the recipe -------------------------------------------------------------------------

PCIE_TENSOR_PARALLEL = Rule(
    "pcie-tensor-parallel",
    Kind.BUNDLE,
    "serving/plan.py (vLLM's custom all-reduce is built for NVLink; GeForce drivers disable PCIe P2P)",
    "TP over PCIe: NCCL's all-reduce instead of vLLM's custom one; no peer-to-peer on GeForce cards",
)
CPU_PROFILE = Rule(
    "cpu-profile",
    Kind.BUNDLE,
    "measured on the 2-core test machines: eager start 57-63 s against 130 s with a cold torch.compile",
    "the CPU test profile runs eager with a 1 GiB KV cache: it proves the deploy path, not speed",
)

# --- the environment ---------------------------------------------------------------------------------

PLATFORM_PATHS = Rule(
    "platform-paths",
    Kind.PLATFORM,
    "the target's layout (systemd host directories, Kubernetes volume mounts)",
    "weights and vLLM's cache live on the target's persistent storage",
)
TIKTOKEN = Rule(
    "tiktoken",
    Kind.RECIPE,
    recipe_section("Troubleshooting"),
    "harmony loads o200k_base.tiktoken from TIKTOKEN_ENCODINGS_BASE instead of downloading it",
)
STARTUP_CACHES = Rule(
    "startup-caches",
    Kind.VLLM,
    "vLLM 0.33 vllm/compilation (compiler_interface.py, decorators.py), FlashInfer flashinfer/jit/env.py, "
    "Triton and PyTorch Inductor defaults",
    "every cache filled while an engine starts lands under the cache root, which the target keeps "
    "across restarts: a second start loads compiled graphs and kernels instead of building them",
)
OFFLINE = Rule(
    "offline",
    Kind.BUNDLE,
    "serving/plan.py (deploys stage the weights before the engine starts)",
    "the engine never reaches the Hub: every file it needs is staged",
)
NO_TELEMETRY = Rule(
    "no-telemetry",
    Kind.BUNDLE,
    "vLLM usage-stats documentation (VLLM_NO_USAGE_STATS, DO_NOT_TRACK)",
    "servers send no usage reports",
)

# --- recipe lines deliberately not applied ----------------------------------------------------------

AMPERE_DEFAULTS = Rule(
    "ampere-defaults",
    Kind.RECIPE,
    recipe_section("A100"),
    "nothing to set on Ampere: vLLM picks the TRITON_ATTN attention backend and Marlin MXFP4 MoE by itself",
)

PREFIX_CACHING_KEPT = Rule(
    "prefix-caching-kept",
    Kind.BUNDLE,
    f"{_PARAMETERS} (no-enable-prefix-caching: 'if running with synthetic dataset')",
    "--no-enable-prefix-caching is not applied: it is for benchmarks on synthetic data; chat and agent "
    "traffic resends long shared prefixes, which prefix caching serves from cache",
)
FLASHINFER_MXFP4_ENV_GONE = Rule(
    "flashinfer-mxfp4-env-gone",
    Kind.VLLM,
    f"{recipe_section('Launch the vLLM Server')}; vLLM 0.33 vllm/envs.py",
    "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 is not set: vLLM 0.33 no longer reads it and picks FlashInfer's "
    "MXFP4 MoE on compute capability 10.0 by itself",
)
HOPPER_MARLIN_ENV_FIXED = Rule(
    "hopper-marlin-env-fixed",
    Kind.RECIPE,
    recipe_section("Launch the vLLM Server"),
    "VLLM_MXFP4_USE_MARLIN=1 is not set: it worked around a vLLM 0.12.0 Hopper regression that vllm PR "
    "30528 fixed; the recipe says later versions do not need it",
)
HSA_SCRATCH_FIRMWARE = Rule(
    "hsa-no-scratch-reclaim",
    Kind.RECIPE,
    recipe_section("MI300x/MI325x(gfx942)"),
    "HSA_NO_SCRATCH_RECLAIM=1 is not set by default: only GPUs whose MEC firmware is older than 177 need "
    "it (`rocm-smi --showfw`); add it as extra env on those hosts",
)
EVALUATION_SETTINGS = Rule(
    "evaluation-settings",
    Kind.RECIPE,
    recipe_section("Accuracy Evaluation Panels"),
    "the 8xH100 evaluation command (0.85 utilization, 10240 batched tokens, 128 sequences, no prefix "
    "caching) reproduces OpenAI's scores; it is not a serving configuration",
)
AITER_JIT_NOT_REDIRECTED = Rule(
    "aiter-jit-not-redirected",
    Kind.BUNDLE,
    "AITER's jit/core.py (AITER_JIT_DIR replaces the package directory as the build directory)",
    "AITER_JIT_DIR is not redirected on AMD: the ROCm image ships AITER's kernels prebuilt in the package "
    "directory, and this bundle has not checked that a redirected directory still finds them",
)

# --- known limitations no flag fixes (every plan carries them) ------------------------------------------

NOT_YET_VALIDATED_GPU = Rule(
    "not-yet-validated-gpu",
    Kind.KNOWN_LIMITATION,
    recipe_section("gpt-oss vLLM Usage Guide"),
    "this GPU is outside the recipe's validated set (H100, H200, B200, MI300X, MI325X, MI355X; A100 by "
    "default): vLLM is 'actively working on' Ampere, Ada Lovelace and RTX 5090; run `gptoss smoke` first",
)

API_LIMITATIONS: tuple[Rule, ...] = (
    Rule(
        "responses-api-limits",
        Kind.KNOWN_LIMITATION,
        _KNOWN,
        "the Responses API has several limitations in vLLM; OpenAI recommends it, but check what you use",
    ),
    Rule(
        "usage-accounting",
        Kind.KNOWN_LIMITATION,
        _KNOWN,
        "usage accounting may return all zeros; `gptoss smoke --checks responses` fails when "
        "input_tokens or output_tokens is 0",
    ),
    Rule(
        "annotations",
        Kind.KNOWN_LIMITATION,
        _KNOWN,
        "annotations (citing URLs from search results) are not supported",
    ),
    Rule(
        "max-tokens-truncation",
        Kind.KNOWN_LIMITATION,
        _KNOWN,
        "truncation by max_tokens might not preserve partial chunks",
    ),
    Rule(
        "barebone-streaming",
        Kind.KNOWN_LIMITATION,
        _KNOWN,
        "Responses streaming is barebone: item ids and indexing, tool invocation and output arrive "
        "batched, error handling is missing",
    ),
    TOOL_CHOICE_AUTO,
)
