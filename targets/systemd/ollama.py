"""The Ollama plan as one hardened systemd unit and its env file, for a Linux workstation.

Laid out like Ollama's own Linux install (docs/linux.mdx, scripts/install.sh of v0.32.7: a release archive
holding bin/ollama and lib/ollama/, an `ollama` system user, `ollama serve` as a service) with three
differences: each version unpacks into its own directory (a new pin never half-overwrites the running one),
the unit is hardened like the vLLM engines' (targets/systemd/templates/gptoss-vllm.service.j2), and Ollama
binds loopback only, behind the authenticating front (targets/nginx).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2

from serving.ollama import OllamaPlan
from targets.systemd.render import DEVICE_ALLOW
from targets.systemd.syntax import env_value, exec_word
from targets.templates import template_env

UNIT_NAME = "gptoss-ollama.service"
UNIT_TEMPLATE = "ollama.service.j2"
ENV_TEMPLATE = "ollama.env.j2"
HEADER = "Managed by gptoss (pyinfra role roles/ollama.py): local edits are overwritten."
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class OllamaLayout:
    """Where Ollama lives on a Linux host: the one definition (roles/ollama_settings.py takes its defaults
    from here, `gptoss plan --runtime ollama` its OLLAMA_MODELS)."""

    user: str = "ollama"  # system user the service runs as (Ollama's install script makes the same)
    root: str = "/opt/ollama"  # one directory per version: /opt/ollama/0.32.7/{bin,lib}
    state_dir: str = "/var/lib/ollama"  # the user's home: ~/.ollama (Ollama's key pair) and the models
    cache_dir: str = "/var/cache/gptoss-ollama"  # downloaded release archives, root only
    config_dir: str = "/etc/gptoss-ollama"  # the env file, root only

    @property
    def models_dir(self) -> str:
        return f"{self.state_dir}/models"

    def install_dir(self, version: str) -> str:
        return f"{self.root}/{version}"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/{UNIT_NAME.removesuffix('.service')}.env"


OLLAMA_LAYOUT = OllamaLayout()


@dataclass(frozen=True)
class OllamaUnitOptions:
    version: str  # the Ollama release installed (the plan's pin unless the host data pins another)
    install_dir: str
    user: str
    state_dir: str
    env_file: str
    writable_paths: tuple[str, ...]
    device_allow: tuple[str, ...]
    kernel_protection: bool  # off on hosts that are containers (see gptoss-vllm.service.j2)


def unit_options(
    plan: OllamaPlan,
    layout: OllamaLayout = OLLAMA_LAYOUT,
    kernel_protection: bool = True,
    version: str | None = None,
) -> OllamaUnitOptions:
    version = version or plan.version
    models = plan.env.get("OLLAMA_MODELS", layout.models_dir)
    writable = (
        (layout.state_dir,) if models.startswith(layout.state_dir + "/") else (layout.state_dir, models)
    )
    return OllamaUnitOptions(
        version=version,
        install_dir=layout.install_dir(version),
        user=layout.user,
        state_dir=layout.state_dir,
        env_file=layout.env_file,
        writable_paths=writable,
        device_allow=DEVICE_ALLOW.get(plan.accelerator.vendor, ()),
        kernel_protection=kernel_protection,
    )


def _env() -> jinja2.Environment:
    return template_env("targets.systemd")


def render_unit(plan: OllamaPlan, options: OllamaUnitOptions) -> str:
    exec_start = " ".join(exec_word(w) for w in (f"{options.install_dir}/bin/ollama", "serve"))
    text = (
        _env()
        .get_template(UNIT_TEMPLATE)
        .render(header=HEADER, plan=plan, options=options, exec_start=exec_start)
    )
    return re.sub(r"\n{3,}", "\n\n", text)


def render_env(plan: OllamaPlan) -> str:
    """The plan's environment as an EnvironmentFile= (no secrets: Ollama has no API key)."""
    for key in plan.env:
        if not _ENV_KEY.match(key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
    pairs = [(k, env_value(v, f"the value of {k}")) for k, v in plan.env.items()]
    return _env().get_template(ENV_TEMPLATE).render(header=HEADER, unit_name=UNIT_NAME, env=pairs)
