"""The serving plan: for a model on given hardware, decide how vLLM runs it.

Pure functions over the catalog: no I/O. Every deploy path (systemd units, Kubernetes objects, the CLI)
renders a `Plan`; none of them re-decides tensor parallelism, flags or environment.

Where the decisions come from: serving/rules.py holds every rule with its source (vLLM's gpt-oss recipe,
its known limitations, the memory math, vLLM's own source); serving/recipe.py applies them to one engine;
serving/memory.py is the per-GPU budget; serving/caches.py puts the start-up caches on persistent storage.
Each flag and variable of a plan carries its reason (`Plan.reasons`, `gptoss plan --explain`).
vLLM reads the API key from `VLLM_API_KEY` when `--api-key` is absent, so the key never enters argv.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from serving import rules, validate
from serving.caches import startup_cache_env
from serving.catalog import (
    ACCELERATOR_ALIASES,
    ACCELERATORS,
    MODELS,
    TINY_MODEL_DEFAULT_SOURCE,
    AcceleratorSpec,
    Arch,
    DraftSpec,
    ModelSpec,
    Support,
)
from serving.errors import PlanError, ValueRefused
from serving.memory import MemoryMath
from serving.reasons import Explained, Reason, Rule
from serving.recipe import DEFAULT_GPU_MEMORY_UTILIZATION, H100_KEYS, speculation_validated
from serving.tensor_parallel import TENSOR_PARALLEL_SIZES, choose_tensor_parallel
from serving.vllm_args import OWNED_OPTIONS, owned_conflicts

GOALS = ("throughput", "latency", "balanced")
MAX_GPUS_PER_HOST = 8
DEFAULT_PORT = 8000
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
    model_source: str | None = None  # a local directory or another HF id: the one override of the checkpoint
    tensor_parallel_size: int | None = None  # pin TP instead of letting the goal choose
    max_num_seqs: int | None = None  # sequences per batch; None: the recipe's for the goal, or vLLM's
    speculative: bool | None = None  # EAGLE3 draft; None: on for `latency` where the recipe validates it
    extra_args: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = field(default_factory=dict)
    paths: ServingPaths | None = None  # None: a plan without a platform (`gptoss plan`), no path env
    weights_staged: bool = True  # weights are in HF_HOME already: serve with HF_HUB_OFFLINE=1


@dataclass(frozen=True)
class Engine:
    index: int
    gpu_ids: tuple[int, ...]
    port: int
    argv: tuple[str, ...]
    env: dict[str, str]


# The recipe lines a plan leaves out on purpose, by where they would have applied.
def _not_applied(acc: AcceleratorSpec) -> tuple[Rule, ...]:
    out: list[Rule] = []
    if acc.arch in (Arch.HOPPER, Arch.BLACKWELL):
        out.append(rules.PREFIX_CACHING_KEPT)
    if acc.arch is Arch.BLACKWELL:
        out.append(rules.FLASHINFER_MXFP4_ENV_GONE)
    if acc.arch is Arch.HOPPER:
        out.append(rules.HOPPER_MARLIN_ENV_FIXED)
    if acc.key in H100_KEYS:
        out.append(rules.EVALUATION_SETTINGS)
    if acc.vendor == "amd":
        out += [rules.HSA_SCRATCH_FIRMWARE, rules.AITER_JIT_NOT_REDIRECTED]
    if acc.arch is Arch.AMPERE:
        out.append(rules.AMPERE_DEFAULTS)
    return tuple(out)


def _limitations(acc: AcceleratorSpec) -> tuple[Rule, ...]:
    """The recipe's known limitations no flag fixes: the API's, and a GPU outside its validated set."""
    experimental = acc.mxfp4 is Support.EXPERIMENTAL and acc.vendor != "cpu"
    return (*((rules.NOT_YET_VALIDATED_GPU,) if experimental else ()), *rules.API_LIMITATIONS)


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
    draft: DraftSpec | None = None  # the speculative-decoding draft the argv loads
    reasons: tuple[Reason, ...] = ()  # one per flag and variable of engine 0 (the others differ in port/GPUs)
    not_applied: tuple[Rule, ...] = ()  # recipe lines left out on purpose, with why
    limitations: tuple[Rule, ...] = ()  # the recipe's known limitations that no flag fixes

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
    def draft_model(self) -> str | None:
        return self.draft.hf_id if self.draft else None

    @property
    def weights_sources(self) -> tuple[str, ...]:
        """Every checkpoint the engines load, in the order to stage them: deploys download each one."""
        return (self.model_source, *((self.draft.hf_id,) if self.draft else ()))

    @property
    def hub_sources(self) -> tuple[str, ...]:
        """The weights sources a deploy downloads from the Hugging Face Hub: all but a local directory."""
        return tuple(s for s in self.weights_sources if not s.startswith("/"))

    @property
    def download_gib(self) -> float:
        """About how much `hub_sources` put on disk."""
        local_model = self.model_source.startswith("/")
        return (0.0 if local_model else self.model.weights_gib) + (
            self.draft.weights_gib if self.draft else 0.0
        )

    @property
    def weights_gib(self) -> float:
        return self.model.weights_gib + (self.draft.weights_gib if self.draft else 0.0)

    @property
    def shm_size_gib(self) -> int:
        return shm_size_gib(self.tensor_parallel_size)

    @property
    def startup_timeout_s(self) -> int:
        """Budget for one engine to load staged weights, compile and capture graphs, rounded up to a
        minute: 5 minutes plus 10 s per GiB of weights (120b: 16 min, 20b: 8 min, tiny: 6 min), plus 15
        minutes on data-centre Blackwell, where a first start builds FlashInfer's MXFP4 MoE kernels
        (reported at 10-15 minutes; the start-up caches keep later starts from repeating it)."""
        jit = BLACKWELL_FIRST_START_JIT_S if self.accelerator.arch is Arch.BLACKWELL else 0
        return 60 * math.ceil((300 + jit + 10 * self.weights_gib) / 60)

    @property
    def unused_gpus_per_host(self) -> int:
        return self.request.gpus_per_host - self.engines_per_host * self.tensor_parallel_size

    def to_dict(self) -> dict[str, Any]:
        first = self.engines[0]
        return {
            "model": self.model.key,
            "hf_id": self.model.hf_id,
            "model_source": self.model_source,
            "draft_model": self.draft_model,
            "weights_sources": list(self.weights_sources),
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
            "reasons": [r.to_dict() for r in self.reasons],
            "not_applied": [_rule_dict(r) for r in self.not_applied],
            "limitations": [_rule_dict(r) for r in self.limitations],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def _rule_dict(rule: Rule) -> dict[str, str]:
    return {
        "rule": rule.id,
        "why": rule.summary,
        "source": f"{rule.kind}: {rule.source}",
        "kind": str(rule.kind),
    }


# The flags the plan decides, as vLLM's parser reads them (serving/vllm_args.py): argparse dest -> what to
# set instead. An extra arg may not set them in any spelling vLLM accepts.
OWNED_FLAGS = OWNED_OPTIONS
# Reported first-start FlashInfer MXFP4 MoE JIT on data-centre Blackwell (10-15 minutes), budgeted in full.
BLACKWELL_FIRST_START_JIT_S = 900


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
    if req.max_num_seqs is not None and (
        isinstance(req.max_num_seqs, bool) or not isinstance(req.max_num_seqs, int) or req.max_num_seqs < 1
    ):
        raise PlanError(
            f"max_num_seqs must be a whole number of sequences, 1 or more, not {req.max_num_seqs!r}"
        )
    if req.speculative is not None and not isinstance(req.speculative, bool):
        raise PlanError(f"speculative must be true, false or unset, not {req.speculative!r}")
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


def _refuse_unservable(model: ModelSpec, acc: AcceleratorSpec) -> None:
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


def _model_reason(req: PlanRequest, model: ModelSpec, acc: AcceleratorSpec, source: str) -> Reason:
    if req.model_source:
        return Reason("model", source, "--model-source overrides the catalog's checkpoint", rules.USER_OPTION)
    if model.hf_id is not None and source != model.hf_id:
        return Reason("model", source, f"the recipe's checkpoint for {acc.name}", rules.MI355X_CHECKPOINT)
    if model.hf_id is None:
        return Reason("model", source, "the tiny test checkpoint's default folder", rules.CPU_PROFILE)
    return Reason("model", source, f"{model.key}'s own checkpoint", rules.MODEL_CHECKPOINT)


def _extra_arg_reasons(extra_args: tuple[str, ...]) -> list[Reason]:
    """One reason per extra flag, with the value that follows it (`--seed 7`; `--seed=7` stays one item)."""
    out: list[Reason] = []
    i = 0
    while i < len(extra_args):
        arg = extra_args[i]
        value = (
            extra_args[i + 1] if i + 1 < len(extra_args) and not extra_args[i + 1].startswith("-") else None
        )
        if arg.startswith("-"):
            out.append(Reason(arg, value, "extra arg", rules.USER_OPTION))
            i += 2 if value is not None else 1
        else:  # a value with no flag before it: explained, and vLLM's parser judges it
            out.append(Reason(arg, None, "extra arg", rules.USER_OPTION))
            i += 1
    return out


def _warn_and_note(
    req: PlanRequest,
    model: ModelSpec,
    acc: AcceleratorSpec,
    tp: int,
    mem: MemoryMath,
    source: str,
    served: str,
    draft: DraftSpec | None,
    warnings: list[str],
    notes: list[str],
) -> None:
    unused = req.gpus_per_host - (req.gpus_per_host // tp) * tp
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
        notes.append("set HSA_NO_SCRATCH_RECLAIM=1 (extra env) on hosts whose MEC firmware is older than 177")
    if source != model.hf_id:
        notes.append(f"serving {source} under the name {served}")
    if draft is not None:
        notes.append(f"speculative decoding loads the draft {draft.hf_id}; deploys stage it with the weights")
    elif req.goal == "latency" and speculation_validated(model, acc) and req.speculative is False:
        notes.append("speculative decoding is off (requested); the recipe's EAGLE3 draft would cut latency")


def plan_serving(req: PlanRequest) -> Plan:
    model = resolve_model(req.model)
    acc = resolve_accelerator(req.accelerator)
    _validate_scalars(req, model)
    _validate_values(req)
    _refuse_unservable(model, acc)
    warnings: list[str] = []
    notes: list[str] = []
    if acc.mxfp4 is Support.EXPERIMENTAL and acc.vendor != "cpu":
        warnings.append(
            f"{acc.name} is not in vLLM's tested gpt-oss set (H100/H200/B200/MI300X/MI325X/MI355X, A100): "
            "it runs the Marlin MXFP4 path; validate with `gptoss smoke` before production"
        )

    max_len = req.max_model_len or model.default_max_model_len
    # One way to override the checkpoint: model_source. Otherwise the recipe's per-GPU choice, then the model's.
    source = req.model_source or model.source_for(acc.key) or TINY_MODEL_DEFAULT_SOURCE
    served = req.served_model_name or model.hf_id or model.key

    recipe = Explained()  # the recipe's flags and variables for this engine
    draft: DraftSpec | None = None
    if acc.vendor == "cpu":
        if req.gpus_per_host != 1 or req.tensor_parallel_size not in (None, 1):
            raise PlanError("the cpu profile runs one engine per host: use --gpus 1")
        if req.speculative:
            raise PlanError("the cpu profile has no speculative decoding: leave speculative unset")
        tp, mem, util_reason = 1, None, None
        util: float | None = None
        tp_reason = Reason("--tensor-parallel-size", "1", "one CPU engine", rules.CPU_PROFILE)
        engines_per_host = 1
        if req.max_num_seqs is not None:
            recipe.flag("--max-num-seqs", str(req.max_num_seqs), rule=rules.USER_OPTION, why="requested")
        # Eager mode starts in about half the time (measured 57-63 s against 130 s for a cold
        # torch.compile on 2 cores) and needs no C++ compiler or Python headers on the host.
        recipe.flag("--enforce-eager", rule=rules.CPU_PROFILE, why="no torch.compile: half the start-up time")
        recipe.setenv(
            "VLLM_CPU_KVCACHE_SPACE",
            str(CPU_KVCACHE_GIB),
            rule=rules.CPU_PROFILE,
            why="1 GiB of KV cache: plenty for 1024-token contexts",
        )
    else:
        chosen, tp_reason = choose_tensor_parallel(req, model, acc, max_len)
        tp, mem, tuning = chosen.tp, chosen.memory, chosen.tuning
        util, util_reason, draft = tuning.utilization, tuning.utilization_reason, tuning.draft
        recipe.extend(tuning.settings)
        engines_per_host = req.gpus_per_host // tp
        _warn_and_note(req, model, acc, tp, mem, source, served, draft, warnings, notes)

    env = Explained()
    if req.paths is not None:  # a plan for a target: its persistent storage
        env.setenv(
            "HF_HOME",
            req.paths.hf_home,
            rule=rules.PLATFORM_PATHS,
            why="the Hugging Face cache: staged weights",
        )
        env.extend(startup_cache_env(req.paths.vllm_cache_root, acc))
        env.setenv(
            "TIKTOKEN_ENCODINGS_BASE",
            req.paths.tiktoken_dir,
            rule=rules.TIKTOKEN,
            why="the staged o200k_base.tiktoken, so harmony never downloads it",
        )
    env.setenv("VLLM_NO_USAGE_STATS", "1", rule=rules.NO_TELEMETRY, why="no usage reports from vLLM")
    env.setenv("DO_NOT_TRACK", "1", rule=rules.NO_TELEMETRY, why="no usage reports from any library")
    if req.weights_staged:
        env.setenv("HF_HUB_OFFLINE", "1", rule=rules.OFFLINE, why="weights are staged before the start")

    # Engine 0's command line, one reason per flag; argv is made from the reasons.
    cmd = Explained()
    cmd.add(_model_reason(req, model, acc, source))
    cmd.flag(
        "--served-model-name",
        served,
        rule=rules.USER_OPTION if req.served_model_name else rules.ENDPOINT,
        why="the name clients send as `model`",
    )
    cmd.flag(
        "--host",
        req.host,
        rule=rules.USER_OPTION if req.host != "0.0.0.0" else rules.ENDPOINT,
        why="the address vLLM binds",
    )
    cmd.flag(
        "--port",
        str(req.port),
        rule=rules.USER_OPTION if req.port != DEFAULT_PORT else rules.ENGINE_LAYOUT,
        why="engine 0's port; engine i listens on port + i",
    )
    cmd.add(tp_reason)
    if req.max_model_len:
        cmd.flag("--max-model-len", str(max_len), rule=rules.USER_OPTION, why="requested")
    else:
        cmd.flag(
            "--max-model-len",
            str(max_len),
            rule=rules.MAX_MODEL_LEN_DEFAULT,
            why=f"{model.key}'s full context",
        )
    if util_reason is not None:
        cmd.add(util_reason)
    cmd.flag(
        "--tool-call-parser",
        "openai",
        rule=rules.FUNCTION_CALLING,
        why="harmony tool calls become OpenAI tool_calls",
    )
    cmd.flag(
        "--enable-auto-tool-choice",
        rule=rules.FUNCTION_CALLING,
        why='the model decides when to call a tool; tool_choice="auto" is the only choice gpt-oss supports',
    )
    cmd.flag(
        "--reasoning-parser",
        "openai_gptoss",
        rule=rules.REASONING_PARSER,
        why="reasoning returned apart from the answer",
    )
    for reason in recipe.reasons:
        (cmd if reason.item.startswith("-") else env).add(reason)
    for reason in _extra_arg_reasons(req.extra_args):
        cmd.word(reason)
    _validate_extras(req, recipe.args, env.env)
    for key, value in req.extra_env.items():
        env.setenv(key, value, rule=rules.USER_OPTION, why="extra env")

    port_at = cmd.args.index("--port") + 1  # extra args cannot carry --port (it is an owned flag)

    def argv_for(port: int) -> tuple[str, ...]:
        return ("vllm", "serve", source, *cmd.args[:port_at], str(port), *cmd.args[port_at + 1 :])

    visibility = {"nvidia": "CUDA_VISIBLE_DEVICES", "amd": "HIP_VISIBLE_DEVICES"}.get(acc.vendor)
    reasons = [*cmd.reasons, *env.reasons]
    if visibility:
        reasons.append(
            Reason(visibility, ",".join(map(str, range(tp))), "engine 0's GPUs", rules.ENGINE_LAYOUT)
        )
    engines = []
    for index in range(engines_per_host):
        gpu_ids = tuple(range(index * tp, (index + 1) * tp)) if acc.vendor != "cpu" else ()
        engine_env = dict(env.env)
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
        env=dict(env.env),
        engines=tuple(engines),
        memory=mem,
        warnings=tuple(warnings),
        notes=tuple(notes),
        draft=draft,
        reasons=tuple(reasons),
        not_applied=_not_applied(acc),
        limitations=_limitations(acc),
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
