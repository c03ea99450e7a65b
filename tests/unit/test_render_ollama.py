"""The Ollama unit and env file: the plan's environment, loopback only, hardened like the vLLM units."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from serving.ollama import OllamaRequest, plan_ollama
from targets.systemd.ollama import OLLAMA_LAYOUT, OllamaLayout, render_env, render_unit, unit_options


def plan(accelerator="rtx4090", **kw):
    return plan_ollama(
        OllamaRequest(model="gpt-oss-20b", accelerator=accelerator, models_dir=OLLAMA_LAYOUT.models_dir, **kw)
    )


def values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_unit_runs_the_versioned_binary_as_ollama_with_the_env_file():
    p = plan()
    unit = render_unit(p, unit_options(p))
    assert values(unit, "ExecStart") == ["/opt/ollama/0.32.7/bin/ollama serve"]
    assert values(unit, "User") == ["ollama"] and values(unit, "EnvironmentFile") == [OLLAMA_LAYOUT.env_file]
    assert values(unit, "ReadWritePaths") == ["/var/lib/ollama"]  # the models live under it
    assert values(unit, "DeviceAllow") == ["char-nvidia* rw"] and values(unit, "DevicePolicy") == ["closed"]
    for hardening in (
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "ProtectKernelTunables",
    ):
        assert values(unit, hardening), hardening
    assert "Environment=" not in unit  # everything comes from the env file


def test_models_outside_the_home_are_writable_too_and_versions_have_their_own_directory():
    p = plan_ollama(OllamaRequest(model="gpt-oss-20b", accelerator="mi300x", models_dir="/data/models"))
    options = unit_options(p, OllamaLayout(root="/srv/ollama"), kernel_protection=False, version="0.33.1")
    unit = render_unit(p, options)
    assert values(unit, "ReadWritePaths") == ["/var/lib/ollama /data/models"]
    assert values(unit, "ExecStart") == ["/srv/ollama/0.33.1/bin/ollama serve"]
    assert values(unit, "DeviceAllow") == ["char-kfd rw", "char-drm rw"]
    assert not values(unit, "ProtectKernelTunables")


def test_env_file_is_the_plans_environment_and_cpu_hosts_open_no_device():
    p = plan("cpu-64gb")
    env = render_env(p)
    assert (
        dict(line.split("=", 1) for line in env.splitlines() if "=" in line and not line.startswith("#"))
        == p.env
    )
    assert values(render_unit(p, unit_options(p)), "DeviceAllow") == []


def test_env_values_are_quoted_for_systemd():
    p = plan(extra_env={"OLLAMA_ORIGINS": "http://a b"})
    assert 'OLLAMA_ORIGINS="http://a b"' in render_env(p)


def test_systemd_analyze_accepts_the_unit(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    p = plan()
    path = tmp_path / "gptoss-ollama.service"
    path.write_text(render_unit(p, unit_options(p)))
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    # The binary and the env file do not exist here; any other complaint is a rendering bug.
    complaints = [
        line
        for line in (proc.stderr + proc.stdout).splitlines()
        if line.strip() and "bin/ollama" not in line and "gptoss-ollama.env" not in line
    ]
    assert complaints == []
