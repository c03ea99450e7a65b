"""The plan's options, each once: the `PlanRequest` field, its type, default and help, and the name each
tool gives it. Generated from `OPTIONS`: the CLI's plan flags (gptoss/cli.py), the plan part of the pyinfra
host data (roles/settings.py `DEFAULTS`), the plan part of the Kubernetes/Pulumi config keys
(targets/kubernetes/config.py, and so `Pulumi.yaml`) and the README's tables. A new plan option is a field
of `PlanRequest`, its use in the plan, and one entry here.

Every tool's values go through the same strict converters (`Kind`): text from a command line or `--set`,
pyinfra host data (which `--data` already turned into an int, a bool or JSON when the text looked like one),
typed Pulumi config. A bad value is an `OptionError` (a ValueError) naming the key; a key whose name looks
secret never has its value echoed.

Pure data: no I/O, imports nothing outside `serving`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from serving.catalog import ACCELERATORS, MODELS
from serving.plan import GOALS, PlanRequest
from serving.recipe import AMD_GPU_MEMORY_UTILIZATION, DEFAULT_GPU_MEMORY_UTILIZATION
from serving.tensor_parallel import TENSOR_PARALLEL_SIZES


class OptionError(ValueError):
    """A value that does not fit its option's type. The message names the key and what would work."""


# ---------------------------------------------------------------------------------------------------------
# Converters: (key as the user spelled it, raw value) -> typed value, or OptionError.

_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.IGNORECASE)
BOOL_WORDS = {
    **dict.fromkeys(("true", "yes", "on", "1"), True),
    **dict.fromkeys(("false", "no", "off", "0"), False),
}


def _not(name: str, value: Any) -> str:
    """Nothing: an error names the key and what would work, never the value. A secret pasted into the
    wrong key (a port, a path) must not reach a terminal or a CI log."""
    return ""


def to_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise OptionError(f"{name} must be an integer{_not(name, value)}")


def to_float(name: str, value: Any) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise OptionError(f"{name} must be a number such as 0.9{_not(name, value)}")
    return number


def to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).strip().lower() in BOOL_WORDS:
        return BOOL_WORDS[str(value).strip().lower()]
    raise OptionError(f"{name} must be true or false (or yes/no, on/off, 1/0){_not(name, value)}")


def to_str(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    # pyinfra's --data turns `570` or `0.13` into a number before the roles see it.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise OptionError(f"{name} must be text, not a {type(value).__name__}")


def _json(name: str, text: str, expected: type) -> Any:
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, expected):
        shape = "array of strings" if expected is list else "object of KEY: VALUE"
        raise OptionError(f"{name} starts like JSON but is not a JSON {shape}")
    return parsed


def _items(name: str, value: Any, split: str | None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            value = _json(name, value, list)
        else:
            return tuple(part for part in value.split(split) if part) if split else (value,)
    if not isinstance(value, list | tuple):
        raise OptionError(f"{name} must be a list of strings, not a {type(value).__name__}")
    return tuple(to_str(f"{name} item {i}", item) for i, item in enumerate(value, start=1))


def to_list(name: str, value: Any) -> tuple[str, ...]:
    """A list, or text: a JSON array or comma-separated items (`a,b`)."""
    return _items(name, value, ",")


def to_args(name: str, value: Any) -> tuple[str, ...]:
    """Command-line arguments: a list, or text that is a JSON array or else ONE argument (an argument may
    hold commas, `--x=a,b`, so text is never split)."""
    return _items(name, value, None)


def to_mapping(name: str, value: Any) -> dict[str, str]:
    """KEY=VALUE pairs: a mapping, a list of `KEY=VALUE` items, or text that is a JSON object, a JSON array
    of items, or comma-separated items. Errors name the item's position, never its text (it may hold a secret)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.lstrip()
        if text.startswith("{"):
            value = _json(name, value, dict)
        else:
            value = _json(name, value, list) if text.startswith("[") else value.split(",")
    if isinstance(value, list | tuple):
        pairs = {}
        for i, item in enumerate(value, start=1):
            key, sep, val = item.partition("=") if isinstance(item, str) else ("", "", "")
            if not sep or not key:
                raise OptionError(f"{name} item {i} is not KEY=VALUE (e.g. NCCL_DEBUG=INFO)")
            if key in pairs:  # the later one would silently win
                raise OptionError(f"{name} item {i} repeats an earlier item's key: keep one")
            pairs[key] = val
        return pairs
    if not isinstance(value, Mapping):
        raise OptionError(f"{name} must be KEY=VALUE pairs, not a {type(value).__name__}")
    out = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key:
            raise OptionError(f"{name} has a key that is not text")
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise OptionError(f"{name} value of {key} must be text or a number")
        out[key] = str(val)
    return out


@dataclass(frozen=True)
class Kind:
    """A value type every tool shares: its name in help text and its strict converter."""

    name: str
    convert: Callable[[str, Any], Any]
    many: bool = False  # a collection: repeatable on the command line


INT = Kind("integer", to_int)
FLOAT = Kind("number", to_float)
BOOL = Kind("boolean", to_bool)
STR = Kind("string", to_str)
LIST = Kind("list", to_list, many=True)
ARGS = Kind("argument list", to_args, many=True)
MAPPING = Kind("KEY=VALUE pairs", to_mapping, many=True)


def parse(kind: Kind, name: str, value: Any, nullable: bool) -> Any:
    """The typed value. None or empty text is None for a nullable key; None is refused for a scalar key
    that must have a value (a collection reads it as empty)."""
    if nullable and (value is None or value == ""):
        return None
    if value is None and not kind.many:
        raise OptionError(f"{name} must be set: it takes a {kind.name}")
    return kind.convert(name, value)


# ---------------------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class Option:
    field: str  # the PlanRequest field
    kind: Kind
    default: Any  # the one default; None: unset, the plan decides (`unset` says how)
    help: str  # a lower-case phrase; each tool adds its own framing
    unset: str = ""  # what an unset value means
    flags: tuple[str, ...] = ()  # CLI flags; () = not on the CLI
    host_data: str | None = None  # pyinfra host data key; None = the pyinfra roles do not take it
    stack: str | None = None  # Pulumi stack config key (camelCase); None = not there. `gptoss render k8s`
    # takes the plan from its flags and refuses these keys in --set (they would be ignored there)
    adapter: str = ""  # how a tool without the key decides the value: the different semantics, explicit
    choices: tuple[str, ...] = ()
    cli_required: bool = False  # the CLI asks for it instead of assuming the default
    cli_hint: str = ""
    metavar: str | None = None

    @property
    def nullable(self) -> bool:
        return self.default is None

    def parse(self, name: str, value: Any) -> Any:
        return parse(self.kind, name, value, self.nullable)


_PLAN_FIELDS = {f.name: f for f in fields(PlanRequest)}


def _plan_default(name: str) -> Any:
    """PlanRequest's own default for a field: the plan keeps its defaults, the table reads them."""
    f = _PLAN_FIELDS[name]
    return f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]


# Fields a target sets (where things live, whether weights are staged), never a user.
TARGET_SET: tuple[str, ...] = ("paths", "weights_staged")

OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        STR,
        # PlanRequest requires the model; the deploy tools serve this one when nobody says.
        "gpt-oss-20b",
        "model to serve: "
        + ", ".join(m.key if m.hf_id else f"{m.key} (the cpu test profile)" for m in MODELS.values()),
        flags=("--model",),
        host_data="vllm_model",
        stack="model",
        cli_required=True,
    ),
    Option(
        "accelerator",
        STR,
        "h100",
        # Apple silicon and CPU-only machines are in the catalog for Ollama (serving/ollama.py): vLLM refuses them.
        f"GPU of the hosts or nodes, a catalog key: {', '.join(k for k, a in ACCELERATORS.items() if a.serves_vllm)}",
        flags=("--gpu", "--accelerator"),
        host_data="vllm_accelerator",
        stack="accelerator",
        cli_required=True,
    ),
    Option(
        "gpus_per_host",
        INT,
        _plan_default("gpus_per_host"),
        "GPUs per host; the plan lays engines over them",
        flags=("--gpus",),
        host_data="vllm_gpus",
        adapter="Kubernetes: `gpusPerReplica`, GPUs per pod = the tensor-parallel size, one engine per pod; "
        "0 lets the goal choose as on a full 8-GPU node (targets/kubernetes/config.py)",
    ),
    Option(
        "hosts",
        INT,
        _plan_default("hosts"),
        "hosts (or replicas) serving that per-host layout",
        flags=("--hosts",),
        adapter="pyinfra: each host of the inventory runs the same per-host plan; "
        "Kubernetes: `replicas`, pods of one engine each",
    ),
    Option(
        "goal",
        STR,
        _plan_default("goal"),
        f"how the plan picks TP: {', '.join(GOALS)}",
        flags=("--goal",),
        host_data="vllm_goal",
        stack="goal",
        choices=GOALS,
    ),
    Option(
        "tensor_parallel_size",
        INT,
        _plan_default("tensor_parallel_size"),
        f"pin the tensor-parallel size ({', '.join(map(str, TENSOR_PARALLEL_SIZES))})",
        unset="the goal chooses",
        flags=("--tensor-parallel-size", "--tp"),
        host_data="vllm_tensor_parallel_size",
        adapter="Kubernetes: `gpusPerReplica`, the TP of each pod",
    ),
    Option(
        "max_model_len",
        INT,
        _plan_default("max_model_len"),
        "context length served (vLLM --max-model-len)",
        unset="the model's own, 131072 (1024 for tiny)",
        flags=("--max-model-len",),
        host_data="vllm_max_model_len",
        stack="maxModelLen",
    ),
    Option(
        "gpu_memory_utilization",
        FLOAT,
        _plan_default("gpu_memory_utilization"),
        "share of each GPU's memory vLLM may take (vLLM --gpu-memory-utilization), e.g. 0.92",
        unset=f"the plan's, {DEFAULT_GPU_MEMORY_UTILIZATION:g} ({AMD_GPU_MEMORY_UTILIZATION:g} on AMD)",
        flags=("--gpu-memory-utilization",),
        host_data="vllm_gpu_memory_utilization",
        stack="gpuMemoryUtilization",
    ),
    Option(
        "port",
        INT,
        _plan_default("port"),
        "first engine's port; engine i listens on port + i",
        flags=("--port",),
        host_data="vllm_port",
        adapter="Kubernetes: always the default, behind the Service",
    ),
    Option(
        "host",
        STR,
        _plan_default("host"),
        "address vLLM binds",
        flags=("--host",),
        host_data="vllm_bind",
        adapter="Kubernetes: always the default, all addresses, so the Service reaches the pod",
    ),
    Option(
        "served_model_name",
        STR,
        _plan_default("served_model_name"),
        "name clients send as `model`",
        unset="the HF id",
        flags=("--served-model-name",),
        host_data="vllm_served_model_name",
        stack="servedModelName",
    ),
    Option(
        "model_source",
        STR,
        _plan_default("model_source"),
        "what vLLM loads: a directory already on the host (or the cache volume), or another HF id",
        unset="the model's HF id",
        flags=("--model-source",),
        host_data="vllm_model_source",
        stack="modelSource",
    ),
    Option(
        "max_num_seqs",
        INT,
        _plan_default("max_num_seqs"),
        "sequences per batch (vLLM --max-num-seqs), counted in the memory math",
        unset="the recipe's for the goal (8 for latency, 128 for balanced at TP 2, on B200), else vLLM's",
        flags=("--max-num-seqs",),
        host_data="vllm_max_num_seqs",
        stack="maxNumSeqs",
    ),
    Option(
        "speculative",
        BOOL,
        _plan_default("speculative"),
        "EAGLE3 speculative decoding with the recipe's draft (staged with the weights)",
        unset="on for goal latency where vLLM's recipe validates it (gpt-oss-120b on Hopper and Blackwell)",
        flags=("--speculative",),
        host_data="vllm_speculative",
        stack="speculative",
    ),
    Option(
        "extra_args",
        ARGS,
        _plan_default("extra_args"),
        "more vLLM arguments; flags the plan owns are refused",
        flags=("--extra-arg",),
        host_data="vllm_extra_args",
        stack="extraArgs",
        cli_hint="`--extra-arg=--flag` for values that start with a dash",
        metavar="ARG",
    ),
    Option(
        "extra_env",
        MAPPING,
        _plan_default("extra_env"),
        "more server environment as KEY=VALUE (never secrets); keys the plan sets are refused",
        flags=("--extra-env",),
        host_data="vllm_extra_env",
        stack="extraEnv",
        metavar="KEY=VALUE",
    ),
)


def by_field(options: tuple[Option, ...] | None = None) -> dict[str, Option]:
    return {o.field: o for o in (OPTIONS if options is None else options)}


__all__ = [
    "ARGS",
    "BOOL",
    "FLOAT",
    "INT",
    "LIST",
    "MAPPING",
    "OPTIONS",
    "STR",
    "TARGET_SET",
    "Kind",
    "Option",
    "OptionError",
    "by_field",
    "parse",
    "to_args",
    "to_bool",
    "to_float",
    "to_int",
    "to_list",
    "to_mapping",
    "to_str",
]
