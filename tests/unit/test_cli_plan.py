"""`gptoss plan`: a table for people, one JSON object for machines, errors on stderr only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gptoss.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_json_has_the_contract_keys(capsys):
    code, out, err = run_cli(
        capsys,
        "plan",
        "--model",
        "gpt-oss-120b",
        "--gpu",
        "h100",
        "--gpus",
        "8",
        "--goal",
        "throughput",
        "--format",
        "json",
    )
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["tensor_parallel_size"] == 1
    assert data["engines"] == 8
    assert data["argv"][:3] == ["vllm", "serve", "openai/gpt-oss-120b"]
    assert isinstance(data["env"], dict) and isinstance(data["warnings"], list)
    assert data["model"] == "gpt-oss-120b" and data["accelerator"] == "h100"


def test_plan_table_is_readable(capsys):
    code, out, _ = run_cli(capsys, "plan", "--model", "gpt-oss-20b", "--gpu", "b200")
    assert code == 0
    assert "tensor parallel  1" in out
    assert "--kv-cache-dtype fp8" in out
    assert "vllm serve openai/gpt-oss-20b" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "gpt-oss-120b", "--gpu", "a100-40gb"],
        ["--model", "nope", "--gpu", "h100"],
        ["--model", "gpt-oss-20b", "--gpu", "h100", "--extra-arg=--api-key", "--extra-arg=sk-1"],
        ["--model", "gpt-oss-20b", "--gpu", "h100", "--extra-env", "NOEQUALS"],
    ],
)
def test_impossible_plans_exit_nonzero_with_nothing_on_stdout(capsys, argv):
    code, out, err = run_cli(capsys, "plan", *argv, "--format", "json")
    assert code == 2
    assert out == ""
    assert err.startswith("gptoss: ")


def test_console_script_runs():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gptoss.cli",
            "plan",
            "--model",
            "gpt-oss-tiny",
            "--gpu",
            "cpu",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["accelerator"] == "cpu"


def test_render_k8s_takes_typed_settings(tmp_path, capsys):
    code, _out, err = run_cli(
        capsys,
        "render",
        "k8s",
        "--out",
        str(tmp_path),
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "l4",
        "--set",
        "cacheSizeGi=200",
        "--set",
        "apiKeySecretName=team-key",
    )
    assert code == 0, err
    text = "\n".join(p.read_text() for p in tmp_path.glob("*.yaml"))
    assert "200Gi" in text
    assert "team-key" in text


@pytest.mark.parametrize("item", ["cacheSize=2", "cacheSizeGi=big", "createNamespace=maybe"])
def test_render_k8s_refuses_bad_settings_with_a_sentence(tmp_path, capsys, item):
    code, out, err = run_cli(
        capsys,
        "render",
        "k8s",
        "--out",
        str(tmp_path),
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "l4",
        "--set",
        item,
    )
    assert code == 2 and out == ""
    assert item.split("=")[0] in err
