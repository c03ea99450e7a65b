"""Tensor parallelism: which TP group size an engine gets, by the goal and the memory math.

Every candidate TP is tuned by the recipe (serving/recipe.py) and costed by the memory math
(serving/memory.py); a known limitation may rule a candidate out. TP sizes must divide gpt-oss's 64
attention heads and 8 KV heads, and an engine stays inside one host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from serving import rules
from serving.catalog import AcceleratorSpec, Arch, ModelSpec
from serving.errors import PlanError
from serving.memory import MemoryMath, fits, memory_math
from serving.reasons import Reason
from serving.recipe import BLACKWELL_BALANCED_TP, Tuning, tune

if TYPE_CHECKING:
    from serving.plan import PlanRequest

TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
# "balanced" takes the smallest TP whose KV cache holds this many full-context sequences at once.
BALANCED_MIN_FULL_SEQUENCES = 4


@dataclass(frozen=True)
class _Candidate:
    tp: int
    tuning: Tuning
    memory: MemoryMath


def _candidate(req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, tp: int, max_len: int) -> _Candidate:
    t = tune(
        model,
        acc,
        tp,
        req.goal,
        gpu_memory_utilization=req.gpu_memory_utilization,
        max_num_seqs=req.max_num_seqs,
        speculative=req.speculative,
    )
    return _Candidate(tp, t, memory_math(model, acc, tp, max_len, t.utilization, t.batch, t.draft))


def choose_tensor_parallel(
    req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, max_len: int
) -> tuple[_Candidate, Reason]:
    """The engine's TP and the recipe's tuning for it, with the reason for the TP. Raises PlanError, saying
    what would work, when no TP fits or a known limitation rules the fitting ones out."""
    if req.tensor_parallel_size is not None and req.tensor_parallel_size > req.gpus_per_host:
        raise PlanError(
            f"tensor parallel size {req.tensor_parallel_size} needs {req.tensor_parallel_size} GPUs "
            f"per host; the request has {req.gpus_per_host}"
        )
    sizes = [req.tensor_parallel_size] if req.tensor_parallel_size else TENSOR_PARALLEL_SIZES
    everything = [_candidate(req, model, acc, tp, max_len) for tp in sizes if tp <= req.gpus_per_host]
    fitting = [c for c in everything if not c.tuning.blocked and fits(c.memory)]
    if not fitting:
        # A layout the memory would allow but a known limitation forbids: say which limitation.
        blocked = [c.tuning.blocked for c in everything if c.tuning.blocked and fits(c.memory)]
        if blocked:
            raise PlanError(blocked[0])
        _raise_does_not_fit(req, model, acc, max_len)
    item = "--tensor-parallel-size"
    if req.tensor_parallel_size is not None:
        chosen = fitting[0]
        return chosen, Reason(item, str(chosen.tp), "pinned by the request", rules.USER_OPTION)
    if req.goal == "throughput":
        chosen = fitting[0]
        why = f"the smallest TP that fits; {req.gpus_per_host // chosen.tp} engine(s) per host"
        return chosen, Reason(item, str(chosen.tp), why, rules.TP_THROUGHPUT)
    if req.goal == "latency":
        chosen = fitting[-1]
        return chosen, Reason(item, str(chosen.tp), "the largest TP this host allows", rules.TP_LATENCY)
    if acc.arch is Arch.BLACKWELL:
        for c in fitting:
            if c.tp == BLACKWELL_BALANCED_TP:
                return c, Reason(
                    item, str(c.tp), "the recipe's balanced TP on B200", rules.BLACKWELL_BALANCED
                )
    for c in fitting:
        if c.memory.full_context_sequences >= BALANCED_MIN_FULL_SEQUENCES:
            why = f"the smallest TP with {BALANCED_MIN_FULL_SEQUENCES} full-context sequences of KV cache"
            return c, Reason(item, str(c.tp), why, rules.TP_BALANCED)
    why = f"no TP reaches {BALANCED_MIN_FULL_SEQUENCES} full-context sequences: the largest that fits"
    return fitting[-1], Reason(item, str(fitting[-1].tp), why, rules.TP_BALANCED)


def _raise_does_not_fit(req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, max_len: int):
    def at(tp: int) -> _Candidate:
        return _candidate(req, model, acc, tp, max_len)

    need = next(
        (tp for tp in TENSOR_PARALLEL_SIZES if fits(at(tp).memory) and not at(tp).tuning.blocked), None
    )
    have = req.tensor_parallel_size or req.gpus_per_host
    where = f"{have} {acc.name}" if have > 1 else f"one {acc.name}"
    head = (
        f"{model.key} needs about {model.weights_gib:.0f} GiB of weights plus KV cache for "
        f"{max_len} tokens; {where} has {acc.memory_gib * have:.0f} GiB"
    )
    if need is not None:
        hint = ""
        weights_fit = next(
            (tp for tp in TENSOR_PARALLEL_SIZES if tp < need and at(tp).memory.kv_cache_tokens > 0),
            None,
        )
        if weights_fit is not None and weights_fit <= have:
            tokens = at(weights_fit).memory.kv_cache_tokens
            hint = f", or tensor parallel {weights_fit} with --max-model-len {tokens // 1024 * 1024} or less"
        raise PlanError(f"{head}: use {need} or more GPUs per host (tensor parallel {need}){hint}")
    best = at(TENSOR_PARALLEL_SIZES[-1]).memory
    if best.kv_cache_per_gpu_gib > 0 and best.kv_cache_tokens > 0:
        raise PlanError(
            f"{head}: even 8 GPUs hold only {best.kv_cache_tokens} tokens of KV cache; "
            f"use --max-model-len {best.kv_cache_tokens} or less, or a larger GPU"
        )
    raise PlanError(f"{head}: no layout of up to 8 GPUs fits it; use a GPU with more memory")
