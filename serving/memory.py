"""The per-GPU memory budget of one engine: weights, start-up overhead, and what is left for the KV cache.

Pure arithmetic over the catalog. vLLM 0.33 gives an engine `--gpu-memory-utilization` x the GPU's memory
and fills it with the weights, the activations of its profiling run (which grow with the batched tokens),
the sampler's logits (which grow with the sequences per batch), CUDA graphs (profiled into the budget since
vLLM 0.21) and the CUDA/NCCL context; the KV cache gets the rest (vllm/v1/worker/gpu_worker.py,
determine_available_memory). A plan fits when that rest holds at least one sequence of the full context.

The overhead model is an estimate: a fixed part plus a part per batched token plus the sampler's logits. It
is calibrated on the recipe, not measured here (no GPU): its known limitation that gpt-oss-120b on one H100
runs out of memory at vLLM's default utilization (0.9 here) with 8192 batched tokens, while 0.95, or 1024
batched tokens, serve it; and its statement that gpt-oss-120b fits one A100 80GB with vLLM's defaults
(2048 batched tokens, 256 sequences there). tests/unit/test_recipe_rules.py holds the model to all four.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.catalog import GIB, AcceleratorSpec, Arch, DraftSpec, ModelSpec

# CUDA context, NCCL, CUDA graphs (captured up to 2048 tokens) and allocator slack, per GPU.
RUNTIME_BASE_GIB = 2.5
# Activations of the profiling forward pass per batched token (hidden states, attention and MoE buffers).
ACTIVATION_BYTES_PER_BATCHED_TOKEN = 384 * 1024
# The sampler's float32 logits and probabilities for every sequence of a batch, over the whole vocabulary.
SAMPLER_BYTES_PER_VOCAB_ENTRY = 8


@dataclass(frozen=True)
class BatchLimits:
    """What one engine step may hold: tokens (prefill chunks plus decodes) and sequences."""

    max_num_batched_tokens: int
    max_num_seqs: int


def vllm_batch_defaults(acc: AcceleratorSpec) -> BatchLimits:
    """vLLM 0.33's own defaults for `vllm serve` when the command line sets neither (EngineArgs
    .get_batch_defaults in vllm/engine/arg_utils.py): by the device memory, A100s excluded from the
    middle tier."""
    memory = acc.memory_gib or 0
    if memory >= 160:
        return BatchLimits(16384, 1024)
    if memory >= 70 and "a100" not in acc.key:
        return BatchLimits(8192, 1024)
    return BatchLimits(2048, 256)


def kv_dtype_bytes(acc: AcceleratorSpec) -> int:
    """The recipe's fp8 KV cache on data-centre Blackwell; bf16 elsewhere."""
    return 1 if acc.arch is Arch.BLACKWELL else 2


@dataclass(frozen=True)
class MemoryMath:
    gpu_memory_gib: float
    usable_gib: float  # per GPU, after --gpu-memory-utilization
    weights_per_gpu_gib: float  # the model's share of one GPU
    draft_weights_per_gpu_gib: float  # a speculative-decoding draft, whole on every GPU
    overhead_per_gpu_gib: float  # context, CUDA graphs, activations for the batched tokens, sampler
    kv_cache_per_gpu_gib: float
    kv_bytes_per_token: int  # per engine, all TP ranks together (and the draft's layer)
    kv_cache_tokens: int  # per engine
    full_context_sequences: float  # per engine, at max_model_len
    max_num_batched_tokens: int  # what the engine runs with (the plan's flag or vLLM's default)
    max_num_seqs: int


def overhead_gib(model: ModelSpec, batch: BatchLimits) -> float:
    activations = batch.max_num_batched_tokens * ACTIVATION_BYTES_PER_BATCHED_TOKEN
    sampler = batch.max_num_seqs * model.vocab_size * SAMPLER_BYTES_PER_VOCAB_ENTRY
    return RUNTIME_BASE_GIB + (activations + sampler) / GIB


def memory_math(
    model: ModelSpec,
    acc: AcceleratorSpec,
    tp: int,
    max_model_len: int,
    utilization: float,
    batch: BatchLimits,
    draft: DraftSpec | None = None,
) -> MemoryMath:
    assert acc.memory_gib is not None
    usable = acc.memory_gib * utilization
    weights = model.weights_gib / tp
    draft_weights = draft.weights_gib if draft else 0.0
    overhead = overhead_gib(model, batch)
    kv_per_gpu = usable - weights - draft_weights - overhead
    dtype_bytes = kv_dtype_bytes(acc)
    per_token = model.kv_bytes_per_token(dtype_bytes) + (
        draft.kv_bytes_per_token(dtype_bytes) if draft else 0
    )
    tokens = max(0, int(kv_per_gpu * tp * GIB // per_token))
    # A sequence also holds its sliding-window blocks: count them as token-equivalents.
    sliding_tokens = model.sliding_kv_bytes_per_sequence(dtype_bytes) / per_token
    return MemoryMath(
        gpu_memory_gib=acc.memory_gib,
        usable_gib=round(usable, 2),
        weights_per_gpu_gib=round(weights, 2),
        draft_weights_per_gpu_gib=round(draft_weights, 2),
        overhead_per_gpu_gib=round(overhead, 2),
        kv_cache_per_gpu_gib=round(kv_per_gpu, 2),
        kv_bytes_per_token=per_token,
        kv_cache_tokens=tokens,
        full_context_sequences=round(tokens / (max_model_len + sliding_tokens), 2),
        max_num_batched_tokens=batch.max_num_batched_tokens,
        max_num_seqs=batch.max_num_seqs,
    )


def fits(mem: MemoryMath) -> bool:
    return mem.kv_cache_per_gpu_gib > 0 and mem.full_context_sequences >= 1
