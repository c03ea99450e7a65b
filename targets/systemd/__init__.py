"""The systemd target: a serving plan as one hardened unit and one 0600 env file per engine."""

from targets.systemd.layout import DEFAULT_LAYOUT, HostLayout
from targets.systemd.render import (
    DEVICE_ALLOW,
    UNIT_PREFIX,
    UnitOptions,
    env_file_path,
    environment,
    exec_start,
    options_for,
    render_env,
    render_unit,
    systemd_quote,
    unit_name,
    unit_names,
    write_systemd,
)

__all__ = [
    "DEFAULT_LAYOUT",
    "DEVICE_ALLOW",
    "UNIT_PREFIX",
    "HostLayout",
    "UnitOptions",
    "env_file_path",
    "environment",
    "exec_start",
    "options_for",
    "render_env",
    "render_unit",
    "systemd_quote",
    "unit_name",
    "unit_names",
    "write_systemd",
]
