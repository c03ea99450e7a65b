"""The Ollama plan: how Ollama serves gpt-oss on a workstation, a PC or a Mac. Pure, no I/O.

vLLM plans (serving/plan.py) are for GPU servers; this one is for the machines a developer has, where one
Ollama process serves one model to a few people. It decides the Ollama tag, the context length and the
parallel slots the memory holds, where the model runs (GPU, GPU and CPU, or CPU), and the environment of
`ollama serve`. Every deploy path (roles/ollama.py, the macOS notes in docs/ollama.md) renders this plan.

Sources (cited once here, used below):
- OpenAI's gpt-oss guide for Ollama: gpt-oss-20b runs best with 16 GB or more of VRAM or unified memory,
  gpt-oss-120b with 60 GB or more; with less, Ollama offloads layers to the CPU, which works but is slow.
- Ollama v0.32.7 (github.com/ollama/ollama): envconfig/config.go (OLLAMA_HOST default 127.0.0.1:11434,
  OLLAMA_MODELS, OLLAMA_CONTEXT_LENGTH whose default is 4k/32k/256k by VRAM, OLLAMA_NUM_PARALLEL default 1,
  OLLAMA_KEEP_ALIVE default 5m, OLLAMA_MAX_LOADED_MODELS, OLLAMA_NO_CLOUD); llm/llama_server.go starts the
  runner with a context of num_ctx x num_parallel, so every parallel slot holds a full context of KV cache;
  discover/gpu_info_darwin.m: on a Mac, the GPU memory Ollama plans with is Metal's
  recommendedMaxWorkingSetSize, a share of the unified memory.
- Ollama's library: gpt-oss:20b and gpt-oss:120b are the MXFP4 checkpoints (14 GB and 65 GB), so the
  catalog's weights figures hold; the KV cache is f16, the same bytes per token as vLLM's.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.catalog import ACCELERATORS, GIB, MODELS, AcceleratorSpec, ModelSpec
from serving.pins import OLLAMA_VERSION
from serving.plan import PlanError, resolve_accelerator, resolve_model

DEFAULT_HOST = "127.0.0.1"  # Ollama has no API keys: it stays on loopback, behind the authenticating front
DEFAULT_PORT = 11434  # Ollama's own
# Context lengths tried, longest first; every one is a power of two Ollama and the clients handle well.
CONTEXT_LADDER = (131072, 65536, 32768, 16384, 8192, 4096)
# The shortest context worth serving: Ollama's own default on small GPUs; harmony's system and developer
# messages and a few tool definitions fit with room for a conversation.
MIN_CONTEXT = 4096
# With layers on the CPU every token of context costs RAM and time: keep offloaded plans modest.
OFFLOAD_CONTEXT_CAP = 16384
PARALLEL_LADDER = (4, 2, 1)  # parallel slots tried at the chosen context, most first
MAX_PARALLEL = 16
# Estimates, on the safe side: the runner's compute graph at Ollama's batch of 512 plus the backend's own
# context (1 GiB); what a discrete GPU keeps for its driver and a desktop's framebuffer (0.5 GiB each); what
# the OS and its services keep of the RAM (2 GiB; a busy desktop wants more: lower host memory to match).
RUNTIME_OVERHEAD_GIB = 1.0
GPU_RESERVE_GIB = 0.5
HOST_RESERVE_GIB = 2.0
# Metal's recommendedMaxWorkingSetSize, which Ollama reads as the Mac's VRAM: about two thirds of the
# unified memory on small configurations and three quarters from 36 GiB up (what llama.cpp and Ollama log
# on M-series Macs; an estimate, macOS does not document it). `sudo sysctl iogpu.wired_limit_mb` raises it.
METAL_SHARE_SMALL = 2 / 3
METAL_SHARE_LARGE = 3 / 4
METAL_LARGE_FROM_GIB = 36
# Keep-alive: a discrete GPU is there for this model, so it stays loaded (no reload wait for the next user);
# unified memory and host RAM belong to the whole machine, so an idle model gives them back.
KEEP_ALIVE_DEDICATED = "-1"
KEEP_ALIVE_SHARED = "30m"
# Go durations (time.ParseDuration) or whole seconds, as OLLAMA_KEEP_ALIVE accepts; negative = forever.
_KEEP_ALIVE = re.compile(r"^(-?\d+|-1|(\d+(\.\d+)?(h|m|s|ms))+)$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OllamaRequest:
    model: str
    accelerator: str
    gpus: int = 1  # discrete GPUs in the machine; Ollama spreads layers over them
    host_memory_gib: float | None = None  # RAM of a machine with discrete GPUs, for offload; None: unknown
    context_length: int | None = None  # pin OLLAMA_CONTEXT_LENGTH instead of letting the memory choose
    num_parallel: int | None = None  # pin OLLAMA_NUM_PARALLEL
    keep_alive: str | None = None  # pin OLLAMA_KEEP_ALIVE
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    models_dir: str | None = None  # OLLAMA_MODELS; None: Ollama's default (~/.ollama/models)
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OllamaMemory:
    """The memory math, in GiB: what the machine offers and what the model at this context takes."""

    gpu_budget_gib: float
    cpu_budget_gib: float | None  # None: host RAM unknown (discrete GPUs without --host-memory-gib)
    weights_gib: float
    runtime_overhead_gib: float
    kv_bytes_per_token: int
    kv_cache_gib: float  # context x parallel slots, plus each slot's sliding-window layers
    total_gib: float
    gpu_share: float  # of the total, what the GPU holds (1.0: all of it)
    math: tuple[str, ...]  # the same figures as sentences


@dataclass(frozen=True)
class OllamaPlan:
    request: OllamaRequest
    model: ModelSpec
    accelerator: AcceleratorSpec
    tag: str
    context_length: int
    num_parallel: int
    keep_alive: str
    placement: str  # "gpu" | "gpu+cpu" | "cpu"
    env: dict[str, str]
    memory: OllamaMemory
    warnings: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def version(self) -> str:
        return OLLAMA_VERSION

    @property
    def listen(self) -> str:
        return self.env["OLLAMA_HOST"]

    def to_dict(self) -> dict[str, Any]:
        m = self.memory
        return {
            "runtime": "ollama",
            "model": self.model.key,
            "ollama_tag": self.tag,
            "ollama_version": self.version,
            "accelerator": self.accelerator.key,
            "accelerator_name": self.accelerator.name,
            "gpus": self.request.gpus,
            "placement": self.placement,
            "context_length": self.context_length,
            "num_parallel": self.num_parallel,
            "keep_alive": self.keep_alive,
            "env": dict(self.env),
            "memory": {
                "gpu_budget_gib": m.gpu_budget_gib,
                "cpu_budget_gib": m.cpu_budget_gib,
                "weights_gib": m.weights_gib,
                "runtime_overhead_gib": m.runtime_overhead_gib,
                "kv_bytes_per_token": m.kv_bytes_per_token,
                "kv_cache_gib": m.kv_cache_gib,
                "total_gib": m.total_gib,
                "gpu_share": m.gpu_share,
                "math": list(m.math),
            },
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def metal_share(unified_gib: float) -> float:
    return METAL_SHARE_LARGE if unified_gib >= METAL_LARGE_FROM_GIB else METAL_SHARE_SMALL


def kv_cache_gib(model: ModelSpec, context: int, parallel: int) -> float:
    """f16 KV cache of `parallel` slots of `context` tokens: full-attention layers per token, and each
    slot's sliding-window layers (a fixed window)."""
    per_slot = context * model.kv_bytes_per_token() + model.sliding_kv_bytes_per_sequence()
    return parallel * per_slot / GIB


def need_gib(model: ModelSpec, context: int, parallel: int) -> float:
    return model.weights_gib + RUNTIME_OVERHEAD_GIB + kv_cache_gib(model, context, parallel)


@dataclass(frozen=True)
class _Budget:
    gpu: float
    cpu: float | None
    lines: tuple[str, ...]

    def total(self) -> float | None:
        return None if self.cpu is None else self.gpu + self.cpu


def _budget(req: OllamaRequest, acc: AcceleratorSpec) -> _Budget:
    assert acc.memory_gib is not None
    if acc.vendor == "apple":
        share = metal_share(acc.memory_gib)
        gpu = acc.memory_gib * share
        cpu = max(0.0, acc.memory_gib - gpu - HOST_RESERVE_GIB)
        return _Budget(
            gpu,
            cpu,
            (
                f"GPU: {acc.memory_gib:g} GiB unified memory x {share:.2f} (Metal's working set) = {gpu:.1f} GiB",
                f"CPU: the rest, less {HOST_RESERVE_GIB:g} GiB for macOS = {cpu:.1f} GiB",
            ),
        )
    if acc.vendor == "host":
        cpu = acc.memory_gib - HOST_RESERVE_GIB
        return _Budget(
            0.0,
            cpu,
            (f"CPU: {acc.memory_gib:g} GiB RAM less {HOST_RESERVE_GIB:g} GiB for the OS = {cpu:.1f} GiB",),
        )
    gpu = (acc.memory_gib - GPU_RESERVE_GIB) * req.gpus
    lines = [
        f"GPU: {req.gpus} x ({acc.memory_gib:g} GiB - {GPU_RESERVE_GIB:g} GiB for the driver) = {gpu:.1f} GiB"
    ]
    cpu = None
    if req.host_memory_gib is not None:
        cpu = max(0.0, req.host_memory_gib - HOST_RESERVE_GIB)
        lines.append(
            f"CPU: {req.host_memory_gib:g} GiB RAM less {HOST_RESERVE_GIB:g} GiB for the OS = {cpu:.1f} GiB"
        )
    else:
        lines.append("CPU: host RAM not given (--host-memory-gib), so offload room is unknown")
    return _Budget(gpu, cpu, tuple(lines))


def _validate(req: OllamaRequest, model: ModelSpec, acc: AcceleratorSpec) -> None:
    if model.ollama_tag is None:
        tagged = " or ".join(k for k, m in MODELS.items() if m.ollama_tag)
        raise PlanError(f"{model.key} has no Ollama build: use {tagged}")
    if acc.vendor == "cpu":
        raise PlanError(
            f"{acc.key} is vLLM's CPU test profile: for a machine without a GPU use cpu-64gb or cpu-128gb"
        )
    if not isinstance(req.gpus, int) or not 1 <= req.gpus <= 8:
        raise PlanError(f"{req.gpus} GPUs is not a machine Ollama plans for: use 1 to 8")
    if acc.vendor in ("apple", "host") and req.gpus != 1:
        raise PlanError(f"{acc.name} is one machine: use --gpus 1")
    if req.host_memory_gib is not None:
        if acc.vendor in ("apple", "host"):
            raise PlanError(
                f"{acc.key} already says how much memory the machine has: drop --host-memory-gib "
                "or pick the catalog key of its size"
            )
        if not 0 < req.host_memory_gib <= 16384:
            raise PlanError(f"host memory {req.host_memory_gib} GiB is not a machine's RAM: use e.g. 64")
    if req.context_length is not None and not 1024 <= req.context_length <= model.context_length:
        raise PlanError(
            f"context length {req.context_length} is outside 1024..{model.context_length}, "
            f"the context {model.key} was trained for"
        )
    if req.num_parallel is not None and not 1 <= req.num_parallel <= MAX_PARALLEL:
        raise PlanError(f"{req.num_parallel} parallel requests: use 1 to {MAX_PARALLEL}")
    if req.keep_alive is not None and not _KEEP_ALIVE.match(req.keep_alive):
        raise PlanError(
            f"keep-alive {req.keep_alive!r} is not a duration Ollama reads: use e.g. 30m, 2h, 300 or -1 (forever)"
        )
    try:
        ipaddress.ip_address(req.host)
    except ValueError:
        raise PlanError(
            f"host {req.host!r} is not an IP address: use 127.0.0.1 (behind the front) or ::1"
        ) from None
    if not isinstance(req.port, int) or not 1 <= req.port <= 65535:
        raise PlanError(f"port {req.port} is not a TCP port: use 1-65535 (Ollama's default is 11434)")
    if req.models_dir is not None and (not req.models_dir.startswith("/") or "\n" in req.models_dir):
        raise PlanError(f"models directory {req.models_dir!r} must be an absolute path")


def _fits(budget: float | None, need: float) -> bool:
    return budget is None or need <= budget


def _choose(req: OllamaRequest, model: ModelSpec, budget: _Budget) -> tuple[int, int, str] | None:
    """(context, parallel, placement) for the request, or None when not even offload holds it."""
    contexts = [req.context_length] if req.context_length else list(CONTEXT_LADDER)
    parallels = [req.num_parallel] if req.num_parallel else list(PARALLEL_LADDER)
    smallest_context, fewest = min(contexts), min(parallels)
    if budget.gpu > 0 and need_gib(model, smallest_context, fewest) <= budget.gpu:
        # All on the GPU: the longest context one slot can have, then as many slots as still fit.
        context = next(c for c in contexts if need_gib(model, c, fewest) <= budget.gpu)
        parallel = next(p for p in parallels if need_gib(model, context, p) <= budget.gpu)
        return context, parallel, "gpu"
    placement = "gpu+cpu" if budget.gpu > 0 else "cpu"
    if not _fits(budget.total(), need_gib(model, smallest_context, fewest)):
        return None
    # Offloaded: one slot and a modest context, unless the request pins them.
    capped = [c for c in contexts if c <= OFFLOAD_CONTEXT_CAP] or [smallest_context]
    context = next((c for c in capped if _fits(budget.total(), need_gib(model, c, fewest))), smallest_context)
    parallel = fewest if req.num_parallel is None else req.num_parallel
    if not _fits(budget.total(), need_gib(model, context, parallel)):
        return None
    return context, parallel, placement


def _alternatives(model: ModelSpec, acc: AcceleratorSpec, req: OllamaRequest) -> str:
    """What would hold the model: the smaller model, a bigger machine of the same kind, more GPUs or RAM."""
    need = need_gib(model, MIN_CONTEXT, 1)
    options: list[str] = []
    if model.key == "gpt-oss-120b":
        small = resolve_model("gpt-oss-20b")
        if _choose(
            OllamaRequest(
                model=small.key, accelerator=acc.key, gpus=req.gpus, host_memory_gib=req.host_memory_gib
            ),
            small,
            _budget(req, acc),
        ):
            options.append("serve gpt-oss-20b")
    if acc.vendor in ("apple", "host"):
        # Machines of the same kind that hold it: those that hold it on the GPU first.
        fitting = []
        for other in ACCELERATORS.values():
            if other.vendor != acc.vendor:
                continue
            chosen = _choose(req, model, _budget(OllamaRequest(model.key, other.key), other))
            if chosen is not None:
                fitting.append((chosen[2] != "gpu", other.memory_gib, other.key))
        if fitting:
            options.append("use " + " or ".join(key for *_, key in sorted(fitting)[:3]))
    else:
        per_gpu = acc.memory_gib - GPU_RESERVE_GIB
        gpus = math.ceil(need / per_gpu)
        if gpus <= 8:
            options.append(f"use {gpus} {acc.name} (--gpus {gpus})")
        options.append(
            f"give the machine {math.ceil(need - per_gpu * req.gpus + HOST_RESERVE_GIB)} GiB of RAM or more"
        )
    return ", or ".join(options) if options else "use a machine with more memory"


def _refusal(model: ModelSpec, acc: AcceleratorSpec, req: OllamaRequest, budget: _Budget) -> PlanError:
    context = req.context_length or MIN_CONTEXT
    parallel = req.num_parallel or 1
    need = need_gib(model, context, parallel)
    kv = kv_cache_gib(model, context, parallel)
    room = f"{budget.gpu:.1f} GiB for the GPU" if budget.gpu > 0 else "no GPU"
    room += f" and {budget.cpu:.1f} GiB of RAM for the rest" if budget.cpu is not None else ""
    return PlanError(
        f"{model.key} needs about {need:.1f} GiB ({model.weights_gib:g} GiB of weights, "
        f"{RUNTIME_OVERHEAD_GIB:g} GiB runtime, {kv:.2f} GiB KV cache for {parallel} x {context} tokens); "
        f"{acc.name} has {room}: {_alternatives(model, acc, req)}"
    )


def _memory(model: ModelSpec, budget: _Budget, context: int, parallel: int) -> OllamaMemory:
    kv = kv_cache_gib(model, context, parallel)
    total = need_gib(model, context, parallel)
    share = 1.0 if budget.gpu >= total else round(budget.gpu / total, 2)
    per_token = model.kv_bytes_per_token()
    math_lines = (
        *budget.lines,
        f"weights {model.weights_gib:g} GiB + runtime {RUNTIME_OVERHEAD_GIB:g} GiB "
        f"+ KV {parallel} x {context} tokens x {per_token // 1024} KiB (+ sliding window) = {kv:.2f} GiB "
        f"-> {total:.1f} GiB",
        f"on the GPU: {share:.0%} of it",
    )
    return OllamaMemory(
        gpu_budget_gib=round(budget.gpu, 2),
        cpu_budget_gib=None if budget.cpu is None else round(budget.cpu, 2),
        weights_gib=model.weights_gib,
        runtime_overhead_gib=RUNTIME_OVERHEAD_GIB,
        kv_bytes_per_token=per_token,
        kv_cache_gib=round(kv, 2),
        total_gib=round(total, 2),
        gpu_share=share,
        math=math_lines,
    )


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"


def plan_ollama(req: OllamaRequest) -> OllamaPlan:
    model = resolve_model(req.model)
    acc = resolve_accelerator(req.accelerator)
    _validate(req, model, acc)
    assert model.ollama_tag is not None
    budget = _budget(req, acc)
    chosen = _choose(req, model, budget)
    if chosen is None:
        raise _refusal(model, acc, req, budget)
    context, parallel, placement = chosen
    memory = _memory(model, budget, context, parallel)
    warnings: list[str] = []
    notes: list[str] = []
    if placement == "gpu+cpu":
        unpinned = _choose(OllamaRequest(model.key, acc.key, gpus=req.gpus), model, budget)
        if unpinned is not None and unpinned[2] == "gpu":
            remedy = f"unpinned, the plan fits it on the GPU with {unpinned[0]} tokens x {unpinned[1]}"
        else:
            remedy = "the weights alone fill the GPU, so only more GPU memory changes that"
        warnings.append(
            f"{model.key} with {parallel} x {context} tokens needs {memory.total_gib:g} GiB and the GPU holds "
            f"{memory.gpu_budget_gib:g} GiB: Ollama runs the other {1 - memory.gpu_share:.0%} on the CPU, "
            f"which works but is several times slower; {remedy}"
        )
    elif placement == "cpu":
        warnings.append(
            f"{acc.name} has no GPU: every layer of {model.key} runs on the CPU, which works but is slow; "
            "fine to try the model, not to serve a team"
        )
    if placement != "gpu" and budget.cpu is None:
        warnings.append(
            f"the layers on the CPU need about {memory.total_gib - memory.gpu_budget_gib:.1f} GiB of RAM "
            "beyond the OS: pass --host-memory-gib to check the machine has it"
        )
    if acc.vendor == "apple" and placement == "gpu+cpu":
        wired_mb = math.ceil((memory.total_gib + GPU_RESERVE_GIB) * 1024)
        if wired_mb <= (acc.memory_gib - HOST_RESERVE_GIB) * 1024:
            notes.append(
                f"macOS lets the GPU wire about {metal_share(acc.memory_gib):.0%} of memory; "
                f"`sudo sysctl iogpu.wired_limit_mb={wired_mb}` (until reboot) lets it hold the whole model"
            )
    if parallel > 1:
        notes.append(f"{parallel} requests run at once, each with the full {context}-token context")
    keep_alive = req.keep_alive or (
        KEEP_ALIVE_DEDICATED if placement == "gpu" and acc.vendor in ("nvidia", "amd") else KEEP_ALIVE_SHARED
    )
    env = {
        "OLLAMA_HOST": _listen(req.host, req.port),
        "OLLAMA_CONTEXT_LENGTH": str(context),
        "OLLAMA_NUM_PARALLEL": str(parallel),
        "OLLAMA_KEEP_ALIVE": keep_alive,
        # The memory math above is for gpt-oss alone: a second model loaded beside it would not fit.
        "OLLAMA_MAX_LOADED_MODELS": "1",
        # Prompts stay on this machine: no cloud models or web search through this endpoint.
        "OLLAMA_NO_CLOUD": "1",
    }
    if req.models_dir is not None:
        env["OLLAMA_MODELS"] = req.models_dir
    else:
        notes.append("OLLAMA_MODELS is not set: Ollama keeps models in ~/.ollama/models of its user")
    for key, value in req.extra_env.items():
        if not _ENV_KEY.match(key):
            raise PlanError(f"extra env {key!r} is not an environment variable name")
        if key in env:
            raise PlanError(
                f"extra env {key} collides with the plan, which sets it to {env[key]!r}: change the plan's input"
            )
        if "\n" in str(value):
            raise PlanError(f"extra env {key} has a newline in its value")
        env[key] = str(value)
    return OllamaPlan(
        request=req,
        model=model,
        accelerator=acc,
        tag=model.ollama_tag,
        context_length=context,
        num_parallel=parallel,
        keep_alive=keep_alive,
        placement=placement,
        env=env,
        memory=memory,
        warnings=tuple(warnings),
        notes=tuple(notes),
    )
