"""uv, pinned, in its own venv: installed from the package index or a wheelhouse, never `curl | sh`."""

from __future__ import annotations

import shlex

from pyinfra.api import deploy

from roles.ops import install_once
from roles.settings import DEFAULTS, Settings

MARKER = ".gptoss-installed"


def uv_marker_text(settings: Settings) -> str:
    return f"uv=={settings.uv_version} sources={' '.join(settings.package_sources()) or 'default'}"


def uv_script(settings: Settings) -> str:
    q = shlex.quote
    venv = settings.layout.uv_venv
    sources = " ".join(q(a) for a in settings.package_sources())
    return "\n".join(
        [
            f"rm -rf {q(venv)}",
            f"python3 -m venv {q(venv)}",
            f"{q(venv)}/bin/pip install --quiet --disable-pip-version-check --no-cache-dir {sources} "
            f"{q('uv==' + settings.uv_version)}",
            f"{q(settings.layout.uv_bin)} --version",
        ]
    )


@deploy("Install uv", data_defaults=DEFAULTS)
def install_uv(settings: Settings):
    return install_once(
        name=f"uv {settings.uv_version} is installed in {settings.layout.uv_venv}",
        marker=f"{settings.layout.uv_venv}/{MARKER}",
        marker_text=uv_marker_text(settings),
        script=uv_script(settings),
    )
