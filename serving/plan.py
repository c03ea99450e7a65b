"""The serving plan: for a model on given hardware, decide how vLLM runs it.

Pure functions over the catalog: no I/O. Every deploy path (systemd units, Kubernetes objects, the CLI)
renders a `Plan`; none of them re-decides tensor parallelism, flags or environment.

Recipe sources (cited once here, used below):
- vLLM gpt-oss recipe, OpenAI/GPT-OSS.md in github.com/vllm-project/recipes, with GPT-OSS_Hopper.yaml and
  GPT-OSS_Blackwell.yaml: `--tool-call-parser openai --enable-auto-tool-choice` for function calling;
  TP=1 for the best throughput per GPU, TP 2/4/8 for lower per-user latency; Hopper and Blackwell:
  `max-num-batched-tokens 8192`, `max-cudagraph-capture-size 2048`, `stream-interval 20`; Blackwell adds
  `kv-cache-dtype fp8` and `VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1` (compute capability 10.0 only; the
  variable is dead in vLLM 0.33, see `_recipe`);
  Ampere runs TRITON_ATTN + Marlin MXFP4 by default; MI300X/MI325X/MI355X: `VLLM_ROCM_USE_AITER=1`,
  `AMDGCN_USE_BUFFER_OPS=0`, `VLLM_ROCM_QUICK_REDUCE_QUANTIZATION=INT4`, `--attention-backend
  ROCM_AITER_UNIFIED_ATTN --block-size 64 -cc.pass_config.fuse_rope_kvcache=True
  -cc.use_inductor_graph_partition=True --gpu-memory-utilization 0.95`; `HSA_NO_SCRATCH_RECLAIM=1` only
  with MEC firmware < 177.
- vLLM reasoning parser registry: `openai_gptoss` parses harmony's analysis channel into `reasoning`.
- vLLM reads the API key from `VLLM_API_KEY` when `--api-key` is absent, so the key never enters argv.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from serving import validate
from serving.catalog import (
    ACCELERATOR_ALIASES,
    ACCELERATORS,
    GIB,
    MODELS,
    TINY_MODEL_DEFAULT_SOURCE,
    AcceleratorSpec,
    Arch,
    ModelSpec,
    Support,
)
from serving.errors import PlanError, ValueRefused
from serving.vllm_args import OWNED_OPTIONS, owned_conflicts

GOALS = ("throughput", "latency", "balanced")
# TP sizes must divide gpt-oss's 64 attention heads and 8 KV heads, and stay inside one host.
TENSOR_PARALLEL_SIZES = (1, 2, 4, 8)
MAX_GPUS_PER_HOST = 8
# Passed explicitly so the memory math and the engine agree (vLLM 0.33's own default is 0.92).
DEFAULT_GPU_MEMORY_UTILIZATION = 0.90
# The recipe's value for MI300X/MI325X/MI355X (validated there with TP 8).
AMD_GPU_MEMORY_UTILIZATION = 0.95
DEFAULT_PORT = 8000
# Per-GPU memory vLLM needs beyond weights and KV cache: activations for 8192 batched tokens, CUDA graphs
# captured up to 2048, NCCL buffers, the CUDA context. An estimate, deliberately on the safe side.
RUNTIME_OVERHEAD_GIB = 4.0
# "balanced" takes the smallest TP whose KV cache holds this many full-context sequences at once.
BALANCED_MIN_FULL_SEQUENCES = 4
# /dev/shm for tensor parallelism (NCCL and vLLM's shared-memory broadcast between workers).
SHM_GIB_PER_TP = 2
SHM_MIN_GIB = 8
CPU_KVCACHE_GIB = 1  # VLLM_CPU_KVCACHE_SPACE for the tiny model: plenty for 1024-token contexts


def shm_size_gib(tp: int) -> int:
    """/dev/shm a TP group needs; 0 means the runtime's default is enough (a single GPU)."""
    return 0 if tp == 1 else max(SHM_MIN_GIB, SHM_GIB_PER_TP * tp)


@dataclass(frozen=True)
class ServingPaths:
    """Where vLLM reads and writes on the target platform. The plan decides no paths: each target passes
    its own (targets.systemd.HostLayout, the Kubernetes mount points, the local runner's cache)."""

    hf_home: str
    vllm_cache_root: str
    tiktoken_dir: str


@dataclass(frozen=True)
class PlanRequest:
    """What to plan. The defaults here are the only ones: serving/options.py (the option table every tool's
    flags and keys are generated from) reads them."""

    model: str
    accelerator: str
    gpus_per_host: int = 1
    hosts: int = 1
    goal: str = "balanced"
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"
    served_model_name: str | None = None
    model_source: str | None = None  # a local directory or another HF id for `vllm serve`
    tensor_parallel_size: int | None = None  # pin TP instead of letting the goal choose
    extra_args: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    paths: ServingPaths | None = None  # None: a plan without a platform (`gptoss plan`), no path env
    weights_staged: bool = True  # weights are in HF_HOME already: serve with HF_HUB_OFFLINE=1


@dataclass(frozen=True)
class MemoryMath:
    gpu_memory_gib: float
    usable_gib: float  # per GPU, after --gpu-memory-utilization
    weights_per_gpu_gib: float
    overhead_per_gpu_gib: float
    kv_cache_per_gpu_gib: float
    kv_bytes_per_token: int  # per engine, all TP ranks together
    kv_cache_tokens: int  # per engine
    full_context_sequences: float  # per engine, at max_model_len


@dataclass(frozen=True)
class Engine:
    index: int
    gpu_ids: tuple[int, ...]
    port: int
    argv: tuple[str, ...]
    env: dict[str, str]


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    model: ModelSpec
    accelerator: AcceleratorSpec
    tensor_parallel_size: int
    engines_per_host: int
    hosts: int
    max_model_len: int
    gpu_memory_utilization: float | None
    served_model_name: str
    model_source: str
    env: dict[str, str]
    engines: tuple[Engine, ...]  # the engines of one host; every host runs the same set
    memory: MemoryMath | None  # None for the CPU profile
    warnings: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def total_engines(self) -> int:
        return self.engines_per_host * self.hosts

    @property
    def vllm_package(self) -> str:
        return self.accelerator.vllm_package

    @property
    def image(self) -> str:
        return self.accelerator.image

    @property
    def shm_size_gib(self) -> int:
        return (
            0
            if self.tensor_parallel_size == 1
            else max(SHM_MIN_GIB, SHM_GIB_PER_TP * self.tensor_parallel_size)
        )

    @property
    def startup_timeout_s(self) -> int:
        """Budget for one engine to load staged weights, compile and capture graphs, rounded up to a
        minute: 5 minutes plus 10 s per GiB of weights (120b: 16 min, 20b: 8 min, tiny: 6 min)."""
        return 60 * math.ceil((300 + 10 * self.model.weights_gib) / 60)

    @property
    def unused_gpus_per_host(self) -> int:
        return self.request.gpus_per_host - self.engines_per_host * self.tensor_parallel_size

    def to_dict(self) -> dict[str, Any]:
        first = self.engines[0]
        return {
            "model": self.model.key,
            "hf_id": self.model.hf_id,
            "model_source": self.model_source,
            "served_model_name": self.served_model_name,
            "accelerator": self.accelerator.key,
            "accelerator_name": self.accelerator.name,
            "goal": self.request.goal,
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpus_per_host": self.request.gpus_per_host,
            "hosts": self.hosts,
            "engines_per_host": self.engines_per_host,
            "engines": self.total_engines,
            "max_model_len": self.max_model_len,
            "vllm_package": self.vllm_package,
            "image": self.image,
            "shm_size_gib": self.shm_size_gib,
            "startup_timeout_s": self.startup_timeout_s,
            "argv": list(first.argv),
            "env": dict(first.env),
            "layout": [
                {"index": e.index, "gpu_ids": list(e.gpu_ids), "port": e.port, "argv": list(e.argv)}
                for e in self.engines
            ],
            "memory": asdict(self.memory) if self.memory else None,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


# The flags the plan decides, as vLLM's parser reads them (serving/vllm_args.py): argparse dest -> what to
# set instead. An extra arg may not set them in any spelling vLLM accepts.
OWNED_FLAGS = OWNED_OPTIONS


def resolve_model(key: str) -> ModelSpec:
    normalised = key.strip().lower().removeprefix("openai/")
    if normalised not in MODELS:
        raise PlanError(f"unknown model {key!r}: known models are {', '.join(MODELS)}")
    return MODELS[normalised]


def resolve_accelerator(key: str) -> AcceleratorSpec:
    normalised = key.strip().lower().replace("_", "-")
    normalised = ACCELERATOR_ALIASES.get(normalised, normalised)
    if normalised not in ACCELERATORS:
        aliases = ", ".join(f"{a}={k}" for a, k in ACCELERATOR_ALIASES.items())
        raise PlanError(
            f"unknown accelerator {key!r}: known accelerators are {', '.join(ACCELERATORS)} "
            f"(aliases: {aliases})"
        )
    return ACCELERATORS[normalised]


def _kv_dtype_bytes(acc: AcceleratorSpec) -> int:
    return 1 if acc.arch is Arch.BLACKWELL else 2


def memory_math(
    model: ModelSpec, acc: AcceleratorSpec, tp: int, max_model_len: int, utilization: float
) -> MemoryMath:
    assert acc.memory_gib is not None
    usable = acc.memory_gib * utilization
    weights = model.weights_gib / tp
    kv_per_gpu = usable - weights - RUNTIME_OVERHEAD_GIB
    dtype_bytes = _kv_dtype_bytes(acc)
    per_token = model.kv_bytes_per_token(dtype_bytes)
    tokens = max(0, int(kv_per_gpu * tp * GIB // per_token))
    # A sequence also holds its sliding-window blocks: count them as token-equivalents.
    sliding_tokens = model.sliding_kv_bytes_per_sequence(dtype_bytes) / per_token
    return MemoryMath(
        gpu_memory_gib=acc.memory_gib,
        usable_gib=round(usable, 2),
        weights_per_gpu_gib=round(weights, 2),
        overhead_per_gpu_gib=RUNTIME_OVERHEAD_GIB,
        kv_cache_per_gpu_gib=round(kv_per_gpu, 2),
        kv_bytes_per_token=per_token,
        kv_cache_tokens=tokens,
        full_context_sequences=round(tokens / (max_model_len + sliding_tokens), 2),
    )


def _fits(mem: MemoryMath) -> bool:
    return mem.kv_cache_per_gpu_gib > 0 and mem.full_context_sequences >= 1


def _validate_scalars(req: PlanRequest, model: ModelSpec) -> None:
    if req.goal not in GOALS:
        raise PlanError(f"unknown goal {req.goal!r}: use one of {', '.join(GOALS)}")
    if not isinstance(req.gpus_per_host, int) or not 1 <= req.gpus_per_host <= MAX_GPUS_PER_HOST:
        raise PlanError(
            f"{req.gpus_per_host} GPUs per host has no valid layout: use 1 to {MAX_GPUS_PER_HOST} "
            "(a tensor-parallel engine spans at most 8 GPUs of one host; add hosts for more)"
        )
    if not isinstance(req.hosts, int) or req.hosts < 1:
        raise PlanError(f"hosts must be 1 or more, not {req.hosts}")
    if req.max_model_len is not None and not 1 <= req.max_model_len <= model.context_length:
        raise PlanError(
            f"max model length {req.max_model_len} is outside 1..{model.context_length}, "
            f"the context {model.key} was trained for"
        )
    util = req.gpu_memory_utilization
    if util is not None and not 0 < util <= 1:
        raise PlanError(
            f"GPU memory utilization {util} is outside (0, 1]: the plan's default is {DEFAULT_GPU_MEMORY_UTILIZATION:g}"
        )
    if not isinstance(req.port, int) or not 1 <= req.port <= 65535:
        raise PlanError(f"port {req.port} is not a TCP port: use 1-65535 (the default is {DEFAULT_PORT})")
    if req.tensor_parallel_size is not None and req.tensor_parallel_size not in TENSOR_PARALLEL_SIZES:
        raise PlanError(
            f"tensor parallel size {req.tensor_parallel_size} does not divide gpt-oss's 64 attention "
            f"and 8 KV heads: use one of {', '.join(map(str, TENSOR_PARALLEL_SIZES))}"
        )
    last_port = req.port + req.gpus_per_host - 1
    if last_port > 65535:
        raise PlanError(f"ports {req.port}..{last_port} (one per engine) run past 65535: use a lower port")


def _validate_values(req: PlanRequest) -> None:
    """Every free-text request value, before it reaches a unit, env file, YAML or argv."""
    validate.check_bind_host(req.host, "host")
    if req.served_model_name is not None:
        validate.check_served_name(req.served_model_name)
    if req.model_source is not None:
        validate.check_model_source(req.model_source)
    if req.paths is not None:
        for name in ("hf_home", "vllm_cache_root", "tiktoken_dir"):
            validate.check_path(getattr(req.paths, name), f"path {name}")
    if isinstance(req.extra_args, str) or not all(isinstance(a, str) for a in req.extra_args):
        raise ValueRefused("extra args must be a list of strings, one argv word each")
    for number, arg in enumerate(req.extra_args, 1):
        validate.check_extra_arg(arg, f"extra arg {number}")
        if arg == "--":
            raise ValueRefused(
                f"extra arg {number} is a bare --: vLLM would read every later word as a model"
            )
    for key, value in req.extra_env.items():
        validate.check_env_name(key, "extra env")
        validate.check_env_value(value, f"the value of extra env {key}")


def _validate_extras(req: PlanRequest, planned_args: list[str], owned_env: Mapping[str, str]) -> None:
    for use, instead in owned_conflicts(req.extra_args, planned_args):
        if use.dest == "api_key":
            raise ValueRefused(
                f"extra arg {use.index + 1} is vLLM's {use.option}: never put the API key in argv; use "
                "VLLM_API_KEY from a 0600 env file or a Secret"
            )
        what = f"{use.option}.{'.'.join(use.keys[0])}" if use.keys and use.keys[0] else use.option
        raise ValueRefused(
            f"extra arg {use.index + 1} is vLLM's {what}, which collides with the plan: set it through {instead}"
        )
    for key in req.extra_env:
        if key in owned_env:
            raise PlanError(
                f"extra env {key} collides with the plan, which sets it to {owned_env[key]!r}: "
                "change the plan's input instead"
            )


def _choose_tp(req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, max_len: int, util: float) -> int:
    candidates = [tp for tp in TENSOR_PARALLEL_SIZES if tp <= req.gpus_per_host]
    if req.tensor_parallel_size is not None:
        if req.tensor_parallel_size > req.gpus_per_host:
            raise PlanError(
                f"tensor parallel size {req.tensor_parallel_size} needs {req.tensor_parallel_size} GPUs "
                f"per host; the request has {req.gpus_per_host}"
            )
        candidates = [req.tensor_parallel_size]
    fitting = [tp for tp in candidates if _fits(memory_math(model, acc, tp, max_len, util))]
    if not fitting:
        _raise_does_not_fit(req, model, acc, max_len, util)
    if req.goal == "throughput":
        return fitting[0]
    if req.goal == "latency":
        return fitting[-1]
    for tp in fitting:  # balanced
        if memory_math(model, acc, tp, max_len, util).full_context_sequences >= BALANCED_MIN_FULL_SEQUENCES:
            return tp
    return fitting[-1]


def _raise_does_not_fit(req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, max_len: int, util: float):
    need = next(
        (tp for tp in TENSOR_PARALLEL_SIZES if _fits(memory_math(model, acc, tp, max_len, util))), None
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
            (
                tp
                for tp in TENSOR_PARALLEL_SIZES
                if tp < need and memory_math(model, acc, tp, max_len, util).kv_cache_tokens > 0
            ),
            None,
        )
        if weights_fit is not None and weights_fit <= have:
            tokens = memory_math(model, acc, weights_fit, max_len, util).kv_cache_tokens
            hint = f", or tensor parallel {weights_fit} with --max-model-len {tokens // 1024 * 1024} or less"
        raise PlanError(f"{head}: use {need} or more GPUs per host (tensor parallel {need}){hint}")
    best = memory_math(model, acc, TENSOR_PARALLEL_SIZES[-1], max_len, util)
    if best.kv_cache_per_gpu_gib > 0 and best.kv_cache_tokens > 0:
        raise PlanError(
            f"{head}: even 8 GPUs hold only {best.kv_cache_tokens} tokens of KV cache; "
            f"use --max-model-len {best.kv_cache_tokens} or less, or a larger GPU"
        )
    raise PlanError(f"{head}: no layout of up to 8 GPUs fits it; use a GPU with more memory")


def _no_vllm_here(model: ModelSpec, acc: AcceleratorSpec) -> str:
    """Why vLLM cannot serve on this machine, and the Ollama plan that can."""
    why = (
        "vLLM has no build for Apple silicon's Metal GPU"
        if acc.vendor == "apple"
        else "it has no GPU, and this bundle's CPU vLLM serves only the gpt-oss-tiny test checkpoint"
    )
    target = model.key if model.ollama_tag else "gpt-oss-20b"
    return (
        f"{acc.name} cannot run vLLM: {why}; serve gpt-oss there with Ollama: "
        f"`gptoss plan --runtime ollama --model {target} --gpu {acc.key}`"
    )


def _recipe_gpu_memory_utilization(acc: AcceleratorSpec) -> float:
    """The share of GPU memory vLLM may take when the request does not say: the recipe's on AMD."""
    return AMD_GPU_MEMORY_UTILIZATION if acc.vendor == "amd" else DEFAULT_GPU_MEMORY_UTILIZATION


def _recipe(model: ModelSpec, acc: AcceleratorSpec, tp: int, goal: str) -> tuple[list[str], dict[str, str]]:
    """Flags and environment per GPU generation, from vLLM's gpt-oss recipe."""
    args: list[str] = []
    env: dict[str, str] = {}
    if acc.arch in (Arch.HOPPER, Arch.BLACKWELL):
        args += ["--max-num-batched-tokens", "8192", "--max-cudagraph-capture-size", "2048"]
        if goal == "throughput":
            # Tokens reach clients in chunks of 20: the recipe's throughput setting. Interactive goals keep
            # vLLM's default of 1 so streamed answers do not stutter.
            args += ["--stream-interval", "20"]
    if acc.arch is Arch.BLACKWELL:
        # The recipe's VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8=1 is gone from vLLM 0.33 (vllm/envs.py no longer
        # reads it; it only logs "Unknown vLLM environment variable"): 0.33 picks FlashInfer's TRT-LLM MXFP4
        # MoE on compute capability 10.0 by itself. The fp8 KV cache stays.
        args += ["--kv-cache-dtype", "fp8"]
    if acc.vendor == "amd":
        args += ["--attention-backend", "ROCM_AITER_UNIFIED_ATTN", "--block-size", "64"]
        # Compilation passes from the recipe: RoPE fused into the KV-cache write, and graph partitioning
        # done by Inductor. vLLM 0.33's parser knows both (an unknown pass name fails the parser test).
        args += ["-cc.pass_config.fuse_rope_kvcache=True", "-cc.use_inductor_graph_partition=True"]
        env |= {
            "VLLM_ROCM_USE_AITER": "1",
            "AMDGCN_USE_BUFFER_OPS": "0",
            "VLLM_ROCM_QUICK_REDUCE_QUANTIZATION": "INT4",
        }
    if tp > 1 and not acc.nvlink and acc.vendor == "nvidia":
        # vLLM's custom all-reduce wants NVLink; over PCIe it is slower or hangs. GeForce cards have PCIe
        # peer-to-peer disabled in the driver, so NCCL must not try it.
        args += ["--disable-custom-all-reduce"]
        if not acc.p2p:
            env["NCCL_P2P_DISABLE"] = "1"
    return args, env


def plan_serving(req: PlanRequest) -> Plan:
    model = resolve_model(req.model)
    acc = resolve_accelerator(req.accelerator)
    _validate_scalars(req, model)
    _validate_values(req)
    warnings: list[str] = []
    notes: list[str] = []

    if not acc.serves_vllm:
        raise PlanError(_no_vllm_here(model, acc))
    if acc.mxfp4 is Support.UNSUPPORTED:
        supported = ", ".join(k for k, a in ACCELERATORS.items() if a.mxfp4 is Support.SUPPORTED)
        raise PlanError(
            f"{acc.name} (compute capability {acc.compute_capability}) cannot run gpt-oss: vLLM's MXFP4 "
            f"MoE kernels need compute capability 8.0 or newer; use one of {supported}"
        )
    if acc.vendor == "cpu" and model.hf_id is not None:
        raise PlanError(
            f"{model.key} on cpu is not served by this bundle: cpu is the test profile for gpt-oss-tiny; "
            "use a GPU accelerator such as h100, h200, b200 or mi300x"
        )
    if acc.vendor != "cpu" and model.hf_id is None:
        raise PlanError(f"{model.key} is the CPU test checkpoint: plan it with --gpu cpu")
    if acc.mxfp4 is Support.EXPERIMENTAL and acc.vendor != "cpu":
        warnings.append(
            f"{acc.name} is not in vLLM's tested gpt-oss set (H100/H200/B200/MI300X/MI325X/MI355X, A100): "
            "it runs the Marlin MXFP4 path; validate with `gptoss smoke` before production"
        )

    max_len = req.max_model_len or model.default_max_model_len
    source = req.model_source or model.source_for(acc.key) or TINY_MODEL_DEFAULT_SOURCE
    served = req.served_model_name or model.hf_id or model.key

    if acc.vendor == "cpu":
        tp, util, mem = 1, None, None
        engines_per_host = 1
        # The CPU profile proves the deploy path, not speed: eager mode starts in about half the time
        # (measured 57-63 s against 130 s for a cold torch.compile on 2 cores) and needs no C++ compiler
        # or Python headers on the host.
        recipe_args: list[str] = ["--enforce-eager"]
        recipe_env = {"VLLM_CPU_KVCACHE_SPACE": str(CPU_KVCACHE_GIB)}
        if req.gpus_per_host != 1 or req.tensor_parallel_size not in (None, 1):
            raise PlanError("the cpu profile runs one engine per host: use --gpus 1")
    else:
        util = req.gpu_memory_utilization or _recipe_gpu_memory_utilization(acc)
        tp = _choose_tp(req, model, acc, max_len, util)
        mem = memory_math(model, acc, tp, max_len, util)
        engines_per_host = req.gpus_per_host // tp
        recipe_args, recipe_env = _recipe(model, acc, tp, req.goal)
        unused = req.gpus_per_host - engines_per_host * tp
        if unused:
            warnings.append(
                f"{unused} GPU(s) per host stay idle: {req.gpus_per_host} is not a multiple of TP {tp}"
            )
        if mem.full_context_sequences < 2:
            warnings.append(
                f"the KV cache holds only {mem.full_context_sequences} full-context sequences per engine: "
                "long prompts will queue; lower --max-model-len or use more GPUs"
            )
        if tp > 1:
            notes.append(f"TP {tp} needs a large /dev/shm: the plan asks for {shm_size_gib(tp)} GiB")
        if acc.vendor == "amd":
            notes.append(
                "set HSA_NO_SCRATCH_RECLAIM=1 (extra env) on hosts whose MEC firmware is older than 177"
            )
        if acc.arch is Arch.AMPERE:
            notes.append(
                "Ampere: vLLM picks the TRITON_ATTN attention backend and Marlin MXFP4 MoE by itself"
            )
        if source != model.hf_id:
            notes.append(f"serving {source} under the name {served}")

    env: dict[str, str] = {}
    if req.paths is not None:
        env |= {
            "HF_HOME": req.paths.hf_home,
            "VLLM_CACHE_ROOT": req.paths.vllm_cache_root,
            # The harmony tokenizer reads o200k_base.tiktoken from here instead of downloading it.
            "TIKTOKEN_ENCODINGS_BASE": req.paths.tiktoken_dir,
        }
    env |= {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if req.weights_staged:
        env["HF_HUB_OFFLINE"] = "1"
    env |= recipe_env
    _validate_extras(req, recipe_args, env)
    env |= dict(req.extra_env)

    def argv_for(port: int) -> tuple[str, ...]:
        args = [
            "vllm",
            "serve",
            source,
            "--served-model-name",
            served,
            "--host",
            req.host,
            "--port",
            str(port),
            "--tensor-parallel-size",
            str(tp),
            "--max-model-len",
            str(max_len),
        ]
        if util is not None:
            args += ["--gpu-memory-utilization", f"{util:g}"]
        args += [
            "--tool-call-parser",
            "openai",
            "--enable-auto-tool-choice",
            "--reasoning-parser",
            "openai_gptoss",
            *recipe_args,
            *req.extra_args,
        ]
        return tuple(args)

    visibility = {"nvidia": "CUDA_VISIBLE_DEVICES", "amd": "HIP_VISIBLE_DEVICES"}.get(acc.vendor)
    engines = []
    for index in range(engines_per_host):
        gpu_ids = tuple(range(index * tp, (index + 1) * tp)) if acc.vendor != "cpu" else ()
        engine_env = dict(env)
        if visibility:
            engine_env[visibility] = ",".join(map(str, gpu_ids))
        port = req.port + index
        engines.append(Engine(index=index, gpu_ids=gpu_ids, port=port, argv=argv_for(port), env=engine_env))

    return Plan(
        request=req,
        model=model,
        accelerator=acc,
        tensor_parallel_size=tp,
        engines_per_host=engines_per_host,
        hosts=req.hosts,
        max_model_len=max_len,
        gpu_memory_utilization=util,
        served_model_name=served,
        model_source=source,
        env=env,
        engines=tuple(engines),
        memory=mem,
        warnings=tuple(warnings),
        notes=tuple(notes),
    )


def enumerate_plans() -> Iterator[Plan]:
    """Every plan the planner accepts for each model x accelerator x GPUs per host x goal (one host)."""
    for model in MODELS:
        for acc in ACCELERATORS:
            for gpus in range(1, MAX_GPUS_PER_HOST + 1):
                for goal in GOALS:
                    try:
                        yield plan_serving(
                            PlanRequest(model=model, accelerator=acc, gpus_per_host=gpus, goal=goal)
                        )
                    except PlanError:
                        continue
