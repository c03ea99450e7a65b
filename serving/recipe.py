"""The recipe's flags and environment for one engine of a given model, GPU, tensor-parallel size and goal.

Pure. `tune` applies serving.rules in order and returns the engine's batch limits and memory share for the
memory math, the flags and variables with one reason each, or the known limitation that rules this TP out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from serving.catalog import AcceleratorSpec, Arch, DraftSpec, ModelSpec
from serving.errors import PlanError
from serving.memory import BatchLimits, vllm_batch_defaults
from serving.reasons import Explained, Reason
from serving.rules import (
    AMD_ROCM,
    BLACKWELL_BALANCED,
    BLACKWELL_FP8_KV,
    BLACKWELL_MIN_LATENCY,
    CUDAGRAPH_CAPPED,
    EAGLE3,
    GPU_MEMORY_DEFAULT,
    H100_TP1,
    H100_TP2,
    HOPPER_BLACKWELL_CONFIG,
    PCIE_TENSOR_PARALLEL,
    STREAM_INTERVAL,
    USER_OPTION,
)

# The recipe's Known Limitations speak of "H100": both 80 GB variants.
H100_KEYS = ("h100", "h100-pcie")
# GPT-OSS_Hopper.yaml / GPT-OSS_Blackwell.yaml.
RECIPE_BATCHED_TOKENS = 8192
RECIPE_CUDAGRAPH_CAPTURE = 2048
THROUGHPUT_STREAM_INTERVAL = 20
# Known Limitations: "vllm serve openai/gpt-oss-120b --gpu-memory-utilization 0.95 --max-num-batched-tokens 1024".
H100_TP1_UTILIZATION = 0.95
H100_TP1_BATCHED_TOKENS = 1024
# Known Limitations: "When running TP2 on H100, set your gpu memory utilization below 0.95".
H100_TP2_UTILIZATION_LIMIT = 0.95
# Balancing between Throughput and Latencies (B200): Min Latency "BS to a small value (like 8)";
# Balanced "TP to 2 and set BS to 128".
BLACKWELL_LATENCY_SEQS = 8
BLACKWELL_BALANCED_TP = 2
BLACKWELL_BALANCED_SEQS = 128
# Passed explicitly so the memory math and the engine agree (vLLM 0.33's own default is 0.92).
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
# The recipe's value for MI300X/MI325X/MI355X (validated there with TP 8).
AMD_GPU_MEMORY_UTILIZATION = 0.95


@dataclass(frozen=True)
class Tuning:
    utilization: float
    utilization_reason: Reason
    batch: BatchLimits  # what the engine runs with: the flags below, or vLLM's defaults
    draft: DraftSpec | None  # the speculative-decoding draft the flags load
    settings: Explained  # the recipe's flags and variables for this engine, each with its reason
    blocked: str | None = None  # a known limitation rules this TP out; the sentence says why


def speculation_validated(model: ModelSpec, acc: AcceleratorSpec) -> bool:
    """The recipe ships EAGLE3 configs for Hopper and Blackwell, with a draft for gpt-oss-120b only."""
    return model.eagle3_draft is not None and acc.arch in (Arch.HOPPER, Arch.BLACKWELL)


def _is_h100_120b_tp1(model: ModelSpec, acc: AcceleratorSpec, tp: int) -> bool:
    # The limitation's example is gpt-oss-120b; gpt-oss-20b's 12.8 GiB leave an H100 60 GiB of headroom.
    return acc.key in H100_KEYS and model.key == "gpt-oss-120b" and tp == 1


def _utilization(
    model: ModelSpec, acc: AcceleratorSpec, tp: int, requested: float | None
) -> tuple[float, Reason]:
    item = "--gpu-memory-utilization"
    if requested is not None:
        return requested, Reason(item, f"{requested:g}", "requested", USER_OPTION)
    if acc.vendor == "amd":
        return AMD_GPU_MEMORY_UTILIZATION, Reason(item, "0.95", "the recipe's value for ROCm", AMD_ROCM)
    if _is_h100_120b_tp1(model, acc, tp):
        why = "gpt-oss-120b on one H100 runs out of CUDA memory at the default utilization"
        return H100_TP1_UTILIZATION, Reason(item, "0.95", why, H100_TP1)
    if acc.key in H100_KEYS and tp == 2:
        why = "0.9: TP 2 on H100 must stay below 0.95"
        return DEFAULT_GPU_MEMORY_UTILIZATION, Reason(item, "0.9", why, H100_TP2)
    why = "the plan's budget, passed so vLLM uses the same number"
    return DEFAULT_GPU_MEMORY_UTILIZATION, Reason(item, "0.9", why, GPU_MEMORY_DEFAULT)


def wants_speculation(model: ModelSpec, acc: AcceleratorSpec, goal: str, requested: bool | None) -> bool:
    validated = speculation_validated(model, acc)
    if requested and not validated:
        raise PlanError(
            f"speculative decoding for {model.key} on {acc.name} is not in vLLM's gpt-oss recipe: it "
            "validates EAGLE3 for gpt-oss-120b on Hopper and Blackwell (h100, h200, b200, gb200) only; "
            "leave speculative decoding off here"
        )
    return validated and (requested if requested is not None else goal == "latency")


def speculative_config_json(draft: DraftSpec) -> str:
    """The recipe's JSON, keys in its order, no spaces (one argv element, nothing for a shell to split)."""
    return json.dumps(
        {
            "model": draft.hf_id,
            "num_speculative_tokens": draft.num_speculative_tokens,
            "method": draft.method,
            "draft_tensor_parallel_size": draft.draft_tensor_parallel_size,
        },
        separators=(",", ":"),
    )


def tune(
    model: ModelSpec,
    acc: AcceleratorSpec,
    tp: int,
    goal: str,
    *,
    gpu_memory_utilization: float | None = None,
    max_num_seqs: int | None = None,
    speculative: bool | None = None,
) -> Tuning:
    """The recipe for one engine. Raises PlanError for a request the recipe cannot serve at all."""
    s = Explained()
    utilization, utilization_reason = _utilization(model, acc, tp, gpu_memory_utilization)
    blocked = None
    if acc.key in H100_KEYS and tp == 2 and utilization >= H100_TP2_UTILIZATION_LIMIT:
        blocked = (
            f"tensor parallel 2 on H100 runs out of memory at GPU memory utilization {utilization:g} "
            f"(vLLM recipe, Known Limitations): use a value below {H100_TP2_UTILIZATION_LIMIT:g}"
        )

    batch = vllm_batch_defaults(acc)
    batched = batch.max_num_batched_tokens
    if acc.arch in (Arch.HOPPER, Arch.BLACKWELL):
        if _is_h100_120b_tp1(model, acc, tp):
            batched = H100_TP1_BATCHED_TOKENS
            s.flag(
                "--max-num-batched-tokens",
                str(batched),
                rule=H100_TP1,
                why="the recipe's 8192 runs gpt-oss-120b on one H100 out of CUDA memory",
            )
        else:
            batched = RECIPE_BATCHED_TOKENS
            s.flag(
                "--max-num-batched-tokens",
                str(batched),
                rule=HOPPER_BLACKWELL_CONFIG,
                why="the recipe's batch size for Hopper and Blackwell",
            )
        capture = min(RECIPE_CUDAGRAPH_CAPTURE, batched)
        if capture < RECIPE_CUDAGRAPH_CAPTURE:
            s.flag(
                "--max-cudagraph-capture-size",
                str(capture),
                rule=CUDAGRAPH_CAPPED,
                why=f"the recipe's 2048, capped at the {batched} batched tokens as vLLM would",
            )
        else:
            s.flag(
                "--max-cudagraph-capture-size",
                str(capture),
                rule=HOPPER_BLACKWELL_CONFIG,
                why="CUDA graphs up to 2048 tokens without spending too much GPU memory",
            )
        if goal == "throughput":
            s.flag(
                "--stream-interval",
                str(THROUGHPUT_STREAM_INTERVAL),
                rule=STREAM_INTERVAL,
                why="tokens reach clients in chunks of 20 (goal throughput)",
            )
    if acc.arch is Arch.BLACKWELL:
        s.flag("--kv-cache-dtype", "fp8", rule=BLACKWELL_FP8_KV, why="the recipe's KV cache on Blackwell")

    seqs = batch.max_num_seqs
    if max_num_seqs is not None:
        seqs = max_num_seqs
        s.flag("--max-num-seqs", str(seqs), rule=USER_OPTION, why="requested")
    elif acc.arch is Arch.BLACKWELL and goal == "latency":
        seqs = BLACKWELL_LATENCY_SEQS
        s.flag("--max-num-seqs", str(seqs), rule=BLACKWELL_MIN_LATENCY, why="small batches for low latency")
    elif acc.arch is Arch.BLACKWELL and goal == "balanced" and tp == BLACKWELL_BALANCED_TP:
        seqs = BLACKWELL_BALANCED_SEQS
        s.flag(
            "--max-num-seqs", str(seqs), rule=BLACKWELL_BALANCED, why="the recipe's balanced batch at TP 2"
        )
    if seqs > batched:
        raise PlanError(
            f"max_num_seqs {seqs} is more than the {batched} batched tokens this plan runs with: vLLM "
            f"refuses that; use {batched} or fewer"
        )

    draft = None
    if wants_speculation(model, acc, goal, speculative):
        draft = model.eagle3_draft
        assert draft is not None
        why = (
            f"a {draft.weights_gib:g} GiB draft proposes {draft.num_speculative_tokens} tokens per step "
            "for lower per-user latency"
        )
        s.flag("--speculative-config", speculative_config_json(draft), rule=EAGLE3, why=why)

    if acc.vendor == "amd":
        s.flag("--attention-backend", "ROCM_AITER_UNIFIED_ATTN", rule=AMD_ROCM, why="AITER attention on ROCm")
        s.flag("--block-size", "64", rule=AMD_ROCM, why="the KV block size the AITER kernels take")
        # vLLM 0.33's parser knows both pass names (an unknown one fails tests/unit/test_argv_vllm_parser.py).
        s.flag(
            "-cc.pass_config.fuse_rope_kvcache=True",
            rule=AMD_ROCM,
            why="RoPE fused into the KV-cache write",
        )
        s.flag(
            "-cc.use_inductor_graph_partition=True",
            rule=AMD_ROCM,
            why="graph partitioning done by Inductor",
        )
        s.setenv("VLLM_ROCM_USE_AITER", "1", rule=AMD_ROCM, why="AMD's AITER kernels")
        s.setenv("AMDGCN_USE_BUFFER_OPS", "0", rule=AMD_ROCM, why="the recipe's Triton setting for gpt-oss")
        s.setenv(
            "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION",
            "INT4",
            rule=AMD_ROCM,
            why="all-reduce with inline INT4 compression (QuickReduce)",
        )
    if tp > 1 and not acc.nvlink and acc.vendor == "nvidia":
        s.flag(
            "--disable-custom-all-reduce",
            rule=PCIE_TENSOR_PARALLEL,
            why="vLLM's custom all-reduce wants NVLink; over PCIe it is slower or hangs",
        )
        if not acc.p2p:
            s.setenv(
                "NCCL_P2P_DISABLE",
                "1",
                rule=PCIE_TENSOR_PARALLEL,
                why="GeForce drivers disable PCIe peer-to-peer: NCCL must not try it",
            )
    return Tuning(
        utilization=utilization,
        utilization_reason=utilization_reason,
        batch=BatchLimits(batched, seqs),
        draft=draft,
        settings=s,
        blocked=blocked,
    )
