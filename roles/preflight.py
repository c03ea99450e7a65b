"""Host checks that run before any change: OS, GPUs against the plan, driver, memory, disk, staged weights.

One SSH round trip (`HostProbe`) collects everything; `problems()` is a pure function over the result so
the rules are unit-tested without a host. Any problem stops the deploy before its first operation, so a
failed preflight changes nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import DeployError, FactBase, deploy

from roles.settings import DEFAULTS, Plan, Settings, weights_are_local

SUPPORTED_OS = ("debian", "ubuntu")
GIB = 2**30
# nvidia-smi reports memory.total in MiB, a little under the marketing size; allow 3% below the catalog.
MEMORY_TOLERANCE = 0.97


@dataclass
class HostFacts:
    os_id: str = ""
    os_like: str = ""
    os_pretty: str = ""
    systemd: bool = False
    python: str = ""  # "3.11" when python3 with venv and ensurepip is there, else ""
    mem_kib: int = 0
    cores: int = 0
    free_kib: dict[str, int] = field(default_factory=dict)  # path -> free KiB on its filesystem
    nvidia_smi: bool = False
    rocm_smi: bool = False
    gpus: list[tuple[str, float, str]] = field(default_factory=list)  # (name, memory GiB, driver)
    amd_lines: list[str] = field(default_factory=list)
    model_source_ok: bool | None = None  # None: not a local source
    venv_marker: str = ""
    weights_marker: str = ""


def probe_script(settings: Settings, plan: Plan, venv_dir: str, venv_marker: str, weights_marker: str) -> str:
    """A POSIX shell script printing `key=value` lines; read-only on the host."""
    q = shlex.quote
    lines = [
        "set +e",
        ". /etc/os-release 2>/dev/null",
        'echo "os_id=$ID"',
        'echo "os_like=$ID_LIKE"',
        'echo "os_pretty=$PRETTY_NAME"',
        'command -v systemctl >/dev/null && echo "systemd=1"',
        "python3 -c 'import sys, venv, ensurepip; print(\"python=%d.%d\" % sys.version_info[:2])' 2>/dev/null",
        "awk '/^MemTotal:/ {print \"mem_kib=\" $2}' /proc/meminfo",
        'echo "cores=$(nproc 2>/dev/null)"',
    ]
    for path in (settings.root, settings.state_dir):
        lines.append(
            f'p={q(path)}; while [ ! -d "$p" ]; do p=$(dirname "$p"); done; '
            f'echo "free:{path}=$(df -Pk "$p" | awk \'NR==2 {{print $4}}\')"'
        )
    if plan.accelerator.vendor == "nvidia":
        lines += [
            "if command -v nvidia-smi >/dev/null; then echo nvidia_smi=1; "
            "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits "
            "| sed 's/^/gpu=/'; fi",
        ]
    if plan.accelerator.vendor == "amd":
        lines += [
            "if command -v rocm-smi >/dev/null; then echo rocm_smi=1; "
            "rocm-smi --showproductname --csv 2>/dev/null | grep -i '^card' | sed 's/^/amd=/'; fi",
        ]
    if weights_are_local(plan):
        lines.append(
            f"test -f {q(plan.model_source + '/config.json')} && echo model_source=1 || echo model_source=0"
        )
    lines.append(f'echo "venv_marker=$(cat {q(venv_dir + "/" + venv_marker)} 2>/dev/null)"')
    lines.append(f'echo "weights_marker=$(cat {q(weights_marker)} 2>/dev/null)"')
    return "\n".join(lines)


def parse_probe(lines: list[str]) -> HostFacts:
    facts = HostFacts()
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if key == "gpu":
            parts = [p.strip() for p in value.split(",")]
            if len(parts) >= 3:
                try:
                    mem_gib = float(parts[1]) / 1024
                except ValueError:
                    mem_gib = 0.0
                facts.gpus.append((parts[0], mem_gib, parts[2]))
        elif key == "amd":
            facts.amd_lines.append(value)
        elif key.startswith("free:"):
            facts.free_kib[key.removeprefix("free:")] = int(value) if value.isdigit() else 0
        elif key in ("systemd", "nvidia_smi", "rocm_smi"):
            setattr(facts, key, value == "1")
        elif key == "model_source":
            facts.model_source_ok = value == "1"
        elif key in ("mem_kib", "cores"):
            setattr(facts, key, int(value) if value.isdigit() else 0)
        elif key in ("os_id", "os_like", "os_pretty", "python", "venv_marker", "weights_marker"):
            setattr(facts, key, value)
    return facts


def _version(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def problems(
    settings: Settings, plan: Plan, facts: HostFacts, venv_marker_text: str, weights_marker_text: str
) -> list[str]:
    """Every reason this host cannot serve the plan, each a sentence saying what would work."""
    found: list[str] = []
    acc = plan.accelerator
    os_ids = {facts.os_id, *facts.os_like.split()}
    if not os_ids & set(SUPPORTED_OS):
        found.append(
            f"the host runs {facts.os_pretty or facts.os_id or 'an unknown OS'}; these roles support Debian "
            "and Ubuntu (systemd, apt); port roles/ for other distributions"
        )
    if not facts.systemd:
        found.append("systemctl is missing: the service is a systemd unit, so the host needs systemd")
    if not facts.python:
        found.append(
            "python3 with the venv module is missing: install python3 and python3-venv (uv is installed "
            "into its own venv)"
        )

    need = plan.request.gpus_per_host
    if acc.vendor == "nvidia":
        if not facts.nvidia_smi:
            found.append(
                f"the plan needs {need} {acc.name} GPU(s) but nvidia-smi is not on this host: install the "
                f"NVIDIA driver (>= {settings.min_nvidia_driver}), or plan for the hardware it has "
                "(vllm_accelerator=cpu serves only the tiny test model)"
            )
        else:
            if len(facts.gpus) < need:
                found.append(
                    f"the plan needs {need} GPU(s) per host; nvidia-smi shows {len(facts.gpus)}: "
                    f"set vllm_gpus={len(facts.gpus)} or use a bigger host"
                )
            wrong = sorted({name for name, _, _ in facts.gpus if acc.smi_names and name not in acc.smi_names})
            if wrong:
                found.append(
                    f"the plan is for {acc.name} ({', '.join(acc.smi_names)}) but the host has {', '.join(wrong)}: "
                    "set vllm_accelerator to the GPU the host has"
                )
            if acc.memory_gib:
                small = [mem for _, mem, _ in facts.gpus[:need] if mem < acc.memory_gib * MEMORY_TOLERANCE]
                if small:
                    found.append(
                        f"GPU memory {min(small):.1f} GiB is below the {acc.memory_gib} GiB the plan assumes "
                        f"for {acc.name}: choose the accelerator that matches"
                    )
            old = sorted({d for _, _, d in facts.gpus if _version(d) < _version(settings.min_nvidia_driver)})
            if old:
                found.append(
                    f"NVIDIA driver {', '.join(old)} is older than {settings.min_nvidia_driver}, which vLLM's "
                    "CUDA 12.8 wheels need: upgrade the driver"
                )
    elif acc.vendor == "amd":
        if not facts.rocm_smi:
            found.append(
                f"the plan needs {need} {acc.name} GPU(s) but rocm-smi is not on this host: install ROCm"
            )
        else:
            if len(facts.amd_lines) < need:
                found.append(
                    f"the plan needs {need} GPU(s) per host; rocm-smi shows {len(facts.amd_lines)}: "
                    f"set vllm_gpus={len(facts.amd_lines)}"
                )
            if acc.smi_names and not any(n in line for line in facts.amd_lines for n in acc.smi_names):
                found.append(
                    f"rocm-smi does not name {acc.name} ({', '.join(acc.smi_names)}): set vllm_accelerator "
                    "to the GPU the host has"
                )
    else:  # the cpu profile: memory and cores instead of GPUs
        mem_gib = facts.mem_kib * 1024 / GIB
        if mem_gib < settings.cpu_min_memory_gib:
            found.append(
                f"the cpu profile needs {settings.cpu_min_memory_gib:g} GiB of memory; the host has "
                f"{mem_gib:.1f} GiB"
            )
        if facts.cores < settings.cpu_min_cores:
            found.append(
                f"the cpu profile needs {settings.cpu_min_cores} CPU cores; the host has {facts.cores}"
            )

    if facts.venv_marker != venv_marker_text:
        free_gib = facts.free_kib.get(settings.root, 0) * 1024 / GIB
        if free_gib < settings.venv_disk_gib:
            found.append(
                f"{settings.root} has {free_gib:.1f} GiB free; the vLLM venv needs about "
                f"{settings.venv_disk_gib:g} GiB (vllm_venv_disk_gib)"
            )
    if weights_are_local(plan) and facts.model_source_ok is False:
        found.append(
            f"vllm_model_source {plan.model_source} has no config.json on the host: stage the weights "
            "there first, or leave vllm_model_source unset to download them"
        )
    if plan.hub_sources and facts.weights_marker != weights_marker_text:
        free_gib = facts.free_kib.get(settings.state_dir, 0) * 1024 / GIB
        need_gib = plan.download_gib * 1.1
        if free_gib < need_gib:
            found.append(
                f"{settings.state_dir} has {free_gib:.1f} GiB free; {' and '.join(plan.hub_sources)} need "
                f"about {need_gib:.0f} GiB of weights there"
            )
    return found


class HostProbe(FactBase):
    """Output lines of the read-only preflight script."""

    def command(self, script: str) -> str:
        return f"sh -c {shlex.quote(script)}"

    def process(self, output):
        return list(output)


@deploy("Check the host can serve the plan", data_defaults=DEFAULTS)
def check_host(
    settings: Settings,
    plan: Plan,
    venv_dir: str,
    venv_marker: str,
    venv_marker_text: str,
    weights_marker: str,
    weights_marker_text: str,
) -> HostFacts:
    """Read facts and refuse with every problem found; no operation is queued here."""
    script = probe_script(settings, plan, venv_dir, venv_marker, weights_marker)
    facts = parse_probe(host.get_fact(HostProbe, script=script))
    found = problems(settings, plan, facts, venv_marker_text, weights_marker_text)
    if found:
        raise DeployError(
            f"preflight failed on {host.name}, nothing was changed:\n  - " + "\n  - ".join(found)
        )
    return facts
