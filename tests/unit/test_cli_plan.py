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


def _cli_args(p) -> list[str]:
    r = p.request
    return ["--model", r.model, "--gpu", r.accelerator, "--gpus", str(r.gpus_per_host), "--goal", r.goal]


def test_explain_works_on_every_catalog_case(capsys):
    """`--explain` prints one line per flag and variable of engine 0, with its source, for every plan
    enumerate_plans() accepts; the JSON plan carries the same reasons."""
    from serving import enumerate_plans

    plans = list(enumerate_plans())
    assert len(plans) > 300
    for p in plans:
        code, out, err = run_cli(capsys, "plan", *_cli_args(p), "--explain")
        assert code == 0 and err == "", err
        explained = out.split("why each flag and variable (engine 0):\n", 1)[1].split(
            "\nrecipe lines left out:"
        )[0]
        lines = explained.split("known limitations no flag fixes:")[0].strip().splitlines()
        assert len(lines) == len(p.reasons), (_cli_args(p), lines)
        for line, reason in zip(lines, p.reasons, strict=True):
            assert line.strip().startswith("model" if reason.item == "model" else reason.item), line
            assert line.endswith(f"[{reason.source}]"), line
        assert "known limitations no flag fixes:" in out
    code, out, _ = run_cli(capsys, "plan", *_cli_args(plans[0]), "--format", "json")
    assert json.loads(out)["reasons"] == [r.to_dict() for r in plans[0].reasons]


def test_explain_names_the_known_limitation_for_120b_on_one_h100(capsys):
    code, out, _ = run_cli(capsys, "plan", "--model", "gpt-oss-120b", "--gpu", "h100", "--explain")
    assert code == 0
    line = next(x for x in out.splitlines() if x.strip().startswith("--max-num-batched-tokens"))
    assert "--max-num-batched-tokens 1024" in line
    assert "[known limitation: vllm-project/recipes@c033a83 OpenAI/GPT-OSS.md § Known Limitations]" in line


def test_cli_speculative_and_batch_options(capsys):
    base = ["plan", "--model", "gpt-oss-120b", "--gpu", "h200", "--gpus", "8", "--format", "json"]
    _, out, _ = run_cli(capsys, *base, "--goal", "latency")
    data = json.loads(out)
    assert data["draft_model"] == "nvidia/gpt-oss-120b-Eagle3-v3"
    assert data["weights_sources"] == ["openai/gpt-oss-120b", "nvidia/gpt-oss-120b-Eagle3-v3"]
    _, out, _ = run_cli(capsys, *base, "--goal", "latency", "--speculative", "off", "--max-num-seqs", "16")
    data = json.loads(out)
    assert data["draft_model"] is None and "--speculative-config" not in data["argv"]
    assert data["argv"][data["argv"].index("--max-num-seqs") + 1] == "16"
    code, out, err = run_cli(capsys, "plan", "--model", "gpt-oss-20b", "--gpu", "l4", "--speculative", "on")
    assert code == 2 and out == "" and "recipe" in err


def test_table_command_is_copy_pasteable_with_the_speculative_json(capsys):
    import shlex

    _, out, _ = run_cli(
        capsys, "plan", "--model", "gpt-oss-120b", "--gpu", "h100", "--gpus", "8", "--goal", "latency"
    )
    command = out.split("command (engine 0):\n", 1)[1].splitlines()[0].strip()
    argv = shlex.split(command)
    assert json.loads(argv[argv.index("--speculative-config") + 1])["method"] == "eagle3"
