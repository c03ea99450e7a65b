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

from serving import Engine, Plan
from targets.secrets import read_secret_file
from targets.systemd.layout import DEFAULT_LAYOUT, HostLayout
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
    extra_env: Mapping[str, str] = field(default_factory=dict)


def options_for(
    plan: Plan, layout: HostLayout = DEFAULT_LAYOUT, kernel_protection: bool = True, **overrides
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
        "shm_size_gib": plan.shm_size_gib,
    }
    values.update(overrides)
    return UnitOptions(**values)


def unit_name(engine: Engine) -> str:
    return f"{UNIT_PREFIX}-{engine.index}.service"


def env_file_path(engine: Engine, options: UnitOptions) -> str:
    return f"{options.config_dir}/{UNIT_PREFIX}-{engine.index}.env"


# systemd's command-line syntax: words split on whitespace, double quotes group, backslash escapes inside
# quotes; `%` starts a specifier and `$` a variable expansion, so both are doubled.
_SYSTEMD_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./$-]+$")


def systemd_quote(word: str) -> str:
    escaped = word.replace("%", "%%").replace("$", "$$")
    if word and _SYSTEMD_SAFE.match(word):
        return escaped
    escaped = escaped.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def exec_start(engine: Engine, options: UnitOptions) -> str:
    """The venv's own `vllm` executable followed by the plan's argv (argv[0] is the bare `vllm`)."""
    if not engine.argv or engine.argv[0] != "vllm":
        raise ValueError(f"engine {engine.index} argv does not start with `vllm`: {engine.argv[:2]}")
    words = [f"{options.venv_dir}/bin/vllm", *engine.argv[1:]]
    return " ".join(systemd_quote(w) for w in words)


_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")


def env_line_value(value: str) -> str:
    """A value for systemd's EnvironmentFile=: bare when plain, else double-quoted with escapes."""
    if "\n" in value or "\r" in value:
        raise ValueError("environment values cannot contain newlines")
    if _ENV_SAFE_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def environment(engine: Engine, options: UnitOptions, secrets: Mapping[str, str]) -> list[tuple[str, str]]:
    """Engine environment (plan env + device visibility), host extras, then secrets, in a stable order."""
    merged: dict[str, str] = dict(engine.env)
    for key, value in options.extra_env.items():
        if key in merged:
            raise ValueError(f"unit extra env {key} collides with the plan's environment")
        merged[key] = value
    for key, value in secrets.items():
        merged[key] = value
    for key in merged:
        if not _ENV_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
    return [(k, env_line_value(str(v))) for k, v in merged.items()]


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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secrets = {"VLLM_API_KEY": read_secret_file(api_key_file, "API key")} if api_key_file else {}
    written: list[Path] = []
    for engine in plan.engines:
        unit_path = out / unit_name(engine)
        unit_path.write_text(render_unit(plan, engine, options))
        env_path = out / Path(env_file_path(engine, options)).name
        # Create 0600 before writing so the key is never readable by others, not even briefly.
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(render_env(plan, engine, options, secrets))
        env_path.chmod(0o600)
        written += [unit_path, env_path]
    return written


def unit_names(plan: Plan) -> Iterable[str]:
    return [unit_name(e) for e in plan.engines]
