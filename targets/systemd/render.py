"""Render a serving plan as systemd units and env files (jinja2 over this package's `templates/`).

One unit and one env file per engine: `gptoss-vllm-<i>.service` and `gptoss-vllm-<i>.env`. The unit holds
no environment and no secret; the env file (0600 root) holds the plan's environment and `VLLM_API_KEY`.
The pyinfra roles (roles/service.py) and `gptoss render systemd` both call these functions, so what a
deploy installs is exactly what `render` prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from serving import Engine, Plan, ValueRefused, validate
from targets.files import prepare_out_dir, write_file, write_private_file
from targets.secrets import read_secret_file
from targets.systemd.layout import DEFAULT_LAYOUT, HostLayout
from targets.systemd.syntax import env_assignment, exec_line, exec_word, unit_text
from targets.templates import template_env

UNIT_TEMPLATE = "gptoss-vllm.service.j2"
ENV_TEMPLATE = "gptoss-vllm.env.j2"
HEADER = "Managed by gptoss (pyinfra roles / gptoss render systemd): local edits are overwritten."
UNIT_PREFIX = "gptoss-vllm"

# Device groups (names in /proc/devices, matched with globbing by systemd's DeviceAllow=) each GPU vendor
# needs: NVIDIA's nvidia, nvidia-uvm, nvidia-caps, nvidia-nvswitch, nvidia-nvlink, nvidia-frontend; AMD's
# /dev/kfd (compute) and /dev/dri/renderD* (group "drm").
DEVICE_ALLOW: dict[str, tuple[str, ...]] = {
    "nvidia": ("char-nvidia* rw",),
    "amd": ("char-kfd rw", "char-drm rw"),
    "cpu": (),
}
_KNOWN_DEVICE_RULES = frozenset(rule for rules in DEVICE_ALLOW.values() for rule in rules)


@dataclass(frozen=True)
class UnitOptions:
    """Host-side facts the plan does not decide: where the venv is, who runs it, what it may write.
    No defaults here: `options_for` takes them from a `HostLayout`."""

    venv_dir: str
    user: str
    group: str
    state_dir: str
    config_dir: str
    writable_paths: tuple[str, ...]
    device_allow: tuple[str, ...]
    # ProtectKernelTunables & co. need to remount /proc/sys and /sys inside the unit's namespace; a host
    # that is itself a container may not allow that (vllm_unit_kernel_protection).
    kernel_protection: bool
    shm_size_gib: int
    # SystemCallFilter= (@system-service minus privileged groups); vllm_unit_syscall_filter turns it off for
    # a GPU runtime that needs a call outside it (the journal shows the EPERM).
    syscall_filter: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Each of these lands in a unit directive or an ExecStart path: refuse what systemd would misread.
        for name in ("venv_dir", "state_dir", "config_dir"):
            validate.check_path(getattr(self, name), f"unit {name}")
        for path in self.writable_paths:
            validate.check_path(path, "unit writable path")
        validate.check_user_name(self.user, "unit user")
        validate.check_user_name(self.group, "unit group")
        for rule in self.device_allow:
            if rule not in _KNOWN_DEVICE_RULES:
                raise ValueRefused(f"a device rule is not one of {sorted(_KNOWN_DEVICE_RULES)}")
        for key, value in self.extra_env.items():
            validate.check_env_name(key, "unit extra env")
            validate.check_env_value(value, f"the value of unit extra env {key}")


def options_for(
    plan: Plan,
    layout: HostLayout = DEFAULT_LAYOUT,
    kernel_protection: bool = True,
    syscall_filter: bool = True,
    **overrides,
) -> UnitOptions:
    """Unit options for a host laid out as `layout`: the plan's venv, vendor-specific device access and
    shared-memory size; keyword overrides win."""
    values = {
        "venv_dir": layout.venv_dir(plan),
        "user": layout.user,
        "group": layout.user,
        "state_dir": layout.state_dir,
        "config_dir": layout.config_dir,
        "writable_paths": (layout.state_dir, layout.cache_dir),
        "device_allow": DEVICE_ALLOW[plan.accelerator.vendor],
        "kernel_protection": kernel_protection,
        "syscall_filter": syscall_filter,
        "shm_size_gib": plan.shm_size_gib,
    }
    values.update(overrides)
    return UnitOptions(**values)


def unit_name(engine: Engine) -> str:
    return f"{UNIT_PREFIX}-{engine.index}.service"


def env_file_path(engine: Engine, options: UnitOptions) -> str:
    return f"{options.config_dir}/{UNIT_PREFIX}-{engine.index}.env"


def systemd_quote(word: str) -> str:
    """One ExecStart= word (targets/systemd/syntax.py): systemd hands it to the program unchanged."""
    return exec_word(word)


def exec_start(engine: Engine, options: UnitOptions) -> str:
    """The venv's own `vllm` executable followed by the plan's argv (argv[0] is the bare `vllm`)."""
    if not engine.argv or engine.argv[0] != "vllm":
        raise ValueError(f"engine {engine.index} argv does not start with `vllm`: {engine.argv[:2]}")
    return exec_line([f"{options.venv_dir}/bin/vllm", *engine.argv[1:]])


def environment(engine: Engine, options: UnitOptions, secrets: Mapping[str, str]) -> list[str]:
    """`KEY=value` lines: engine environment (plan env + device visibility), host extras, then secrets,
    in a stable order, each quoted so systemd and sh read the same value (targets/systemd/syntax.py)."""
    merged: dict[str, str] = dict(engine.env)
    for key, value in options.extra_env.items():
        if key in merged:
            raise ValueRefused(f"unit extra env {key} collides with the plan's environment")
        merged[key] = value
    for key, value in secrets.items():
        merged[key] = value
    return [env_assignment(k, str(v)) for k, v in merged.items()]


def _env() -> jinja2.Environment:
    return template_env("targets.systemd")


def render_unit(plan: Plan, engine: Engine, options: UnitOptions) -> str:
    text = (
        _env()
        .get_template(UNIT_TEMPLATE)
        .render(
            header=HEADER,
            plan=plan,
            engine=engine,
            engines_per_host=plan.engines_per_host,
            served_name=unit_text(plan.served_model_name, "served model name"),
            model_key=unit_text(plan.model.key, "model key"),
            options=options,
            env_file=env_file_path(engine, options),
            exec_start=exec_start(engine, options),
        )
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def render_env(plan: Plan, engine: Engine, options: UnitOptions, secrets: Mapping[str, str]) -> str:
    return (
        _env()
        .get_template(ENV_TEMPLATE)
        .render(
            header=HEADER,
            unit_name=unit_name(engine),
            env=environment(engine, options, secrets),
        )
    )


def write_systemd(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    api_key_file: str | os.PathLike[str] | None = None,
    options: UnitOptions | None = None,
) -> list[Path]:
    """Write one unit and one env file (0600) per engine into `out_dir`; return the paths written.

    Without `api_key_file` the env file has no VLLM_API_KEY and the endpoint accepts any client.
    """
    options = options or options_for(plan)
    secrets = {"VLLM_API_KEY": read_secret_file(api_key_file, "API key")} if api_key_file else {}
    # Render everything before the first write: a refused value leaves the directory as it was.
    rendered = [
        (engine, render_unit(plan, engine, options), render_env(plan, engine, options, secrets))
        for engine in plan.engines
    ]
    out = prepare_out_dir(out_dir)
    written: list[Path] = []
    for engine, unit, env in rendered:
        unit_path = write_file(out / unit_name(engine), unit, mode=0o644)
        # A fresh 0600 file renamed into place: never through a planted link, never a foreign owner.
        env_path = write_private_file(out / Path(env_file_path(engine, options)).name, env)
        written += [unit_path, env_path]
    return written


def unit_names(plan: Plan) -> Iterable[str]:
    return [unit_name(e) for e in plan.engines]
