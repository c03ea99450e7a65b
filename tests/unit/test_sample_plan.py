"""`gptoss sample` takes its engine from the serving plan, and its sampler package travels alone.

The engine arguments are every plan's `vllm serve` argv minus the HTTP server's flags (vLLM 0.33's own
EngineArgs parser accepts them: tests/unit/test_sample_engine_args_vllm_parser.py). The sampler package is
shipped without the rest of the project, so it may import only the standard library, openai_harmony, vllm
and itself, and it must run from a copy under another name.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gptoss.cli import main
from gptoss.sample import HOST_LAYOUT_ENV, local_env
from serving import PlanRequest, enumerate_plans, plan_serving
from targets.sample import (
    SAMPLER_DIR,
    SAMPLER_FILES,
    SAMPLER_PACKAGE,
    SERVER_FLAGS,
    engine_argv,
    sampler_sources,
)


def test_engine_args_are_the_plans_serve_argv_without_the_server_flags():
    checked = 0
    for plan in enumerate_plans():
        serve = list(plan.engines[0].argv)
        args = engine_argv(plan)
        assert args[:2] == ["--model", plan.model_source]
        assert not set(args) & set(SERVER_FLAGS), args
        # what is left is the plan's own flags, in the plan's order
        kept = [a for a in serve[3:] if a not in args]
        assert set(kept) <= set(SERVER_FLAGS) | {
            plan.served_model_name,
            plan.request.host,
            str(plan.engines[0].port),
            "openai",
            "openai_gptoss",
        }
        assert args[args.index("--tensor-parallel-size") + 1] == str(plan.tensor_parallel_size)
        assert args[args.index("--max-model-len") + 1] == str(plan.max_model_len)
        checked += 1
    assert checked > 300


def test_engine_args_keep_extra_args_and_drop_server_flags_in_either_form():
    plan = plan_serving(
        PlanRequest(
            model="gpt-oss-120b",
            accelerator="b200",
            gpus_per_host=8,
            goal="latency",
            model_source="/srv/models/gpt-oss-120b",
            extra_args=("--uvicorn-log-level=warning", "--enable-prefix-caching"),
        )
    )
    args = engine_argv(plan)
    assert args == [
        "--model",
        "/srv/models/gpt-oss-120b",
        "--tensor-parallel-size",
        "8",
        "--max-model-len",
        "131072",
        "--gpu-memory-utilization",
        "0.9",
        "--max-num-batched-tokens",
        "8192",
        "--max-cudagraph-capture-size",
        "2048",
        "--kv-cache-dtype",
        "fp8",
        "--max-num-seqs",  # the recipe's Min Latency batch on B200
        "8",
        "--speculative-config",  # the recipe's EAGLE3 draft: the engine's, so the batch keeps it
        '{"model":"nvidia/gpt-oss-120b-Eagle3-v3","num_speculative_tokens":7,"method":"eagle3",'
        '"draft_tensor_parallel_size":1}',
        "--uvicorn-log-level=warning",  # not the engine's: vLLM's engine parser refuses it at run time
        "--enable-prefix-caching",
    ]
    # a server flag written as --flag=value goes as one word
    plan = plan_serving(PlanRequest(model="gpt-oss-tiny", accelerator="cpu", extra_args=("--seed=4",)))
    assert engine_argv(plan)[-2:] == ["--enforce-eager", "--seed=4"]


def test_local_env_is_the_plans_minus_exactly_the_host_layout():
    """HOST_LAYOUT_ENV must be the keys that move with ServingPaths and staged weights, no more, no fewer."""
    from serving import ServingPaths

    moved_anywhere = set()
    for gpu in ("h100", "mi300x"):  # NVIDIA plans set the FlashInfer and CUDA caches too
        request = dict(model="gpt-oss-120b", accelerator=gpu, gpus_per_host=8, goal="latency")
        here = plan_serving(PlanRequest(**request))
        elsewhere = plan_serving(
            PlanRequest(**request, paths=ServingPaths("/a", "/b", "/c"), weights_staged=False)
        )
        first, second = here.engines[0].env, elsewhere.engines[0].env
        moved = {k for k in first.keys() | second.keys() if first.get(k) != second.get(k)}
        assert moved <= set(HOST_LAYOUT_ENV)
        moved_anywhere |= moved
        assert local_env(here) == local_env(elsewhere)
    assert moved_anywhere == set(HOST_LAYOUT_ENV)
    assert (
        local_env(here)["VLLM_ROCM_USE_AITER"] == "1"
        and local_env(here)["HIP_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    )


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_sampler_package_is_whole_and_imports_nothing_of_the_project():
    on_disk = sorted(p.name for p in SAMPLER_DIR.glob("*.py"))
    assert sorted(SAMPLER_FILES) == on_disk
    allowed = set(sys.stdlib_module_names) | {"openai_harmony", "vllm"}
    for name in SAMPLER_FILES:
        foreign = _imports(SAMPLER_DIR / name) - allowed
        assert not foreign, f"gptoss/sampler/{name} imports {foreign}: the shipped copy has no such package"


def test_a_shipped_copy_runs_alone_under_its_own_name(tmp_path):
    package = tmp_path / "lib" / SAMPLER_PACKAGE
    package.mkdir(parents=True)
    for name, text in sampler_sources().items():
        (package / name).write_text(text)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    # The project's packages are made unimportable: only the copy and openai_harmony are there.
    code = (
        "import sys, runpy; sys.modules.update(gptoss=None, serving=None, testbed=None); "
        f"sys.argv = ['x', '--dry-run', '--input', {str(source)!r}, '--output', 'o', '--', '--model', 'm']; "
        f"runpy.run_module({SAMPLER_PACKAGE!r}, run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "lib")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 conversation(s) valid, prompts of ")
    assert proc.stdout.rstrip().endswith("engine arguments: --model m")


def test_sample_without_vllm_says_what_to_install_in_one_line(tmp_path, capsys):
    pytest.importorskip("openai_harmony")  # the dev group has it; vLLM is never in the project venv
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    out = tmp_path / "out.jsonl"
    before = dict(os.environ)
    code = main(
        ["sample", "--input", str(source), "--output", str(out), "--model", "gpt-oss-20b", "--gpu", "h100"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert dict(os.environ) == before  # no vLLM to configure: the plan's environment is not applied
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("gptoss sample: install vllm (it brings oss-harmony, the openai_harmony module)")
    assert "`pip install vllm==0.33.0`" in err  # the plan's pin
    assert not out.exists()


def test_dry_run_shows_the_plans_engine_and_renders_every_prompt(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}]})
        + "\n"
        + json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Be brief. " * 20},
                    {"role": "user", "content": "hi"},
                ]
            }
        )
        + "\n"
    )
    before = dict(os.environ)
    argv = [
        "sample",
        "--dry-run",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
        "--start-date",
        "2025-08-05",
    ]
    code = main([*argv, "--model", "gpt-oss-120b", "--gpu", "h100", "--gpus", "8", "--goal", "latency"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("2 conversation(s) valid, prompts of 68-")
    assert out.rstrip().endswith(
        "engine arguments: --model openai/gpt-oss-120b --tensor-parallel-size 8 --max-model-len 131072 "
        "--gpu-memory-utilization 0.9 --max-num-batched-tokens 8192 --max-cudagraph-capture-size 2048 "
        '--speculative-config {"model":"nvidia/gpt-oss-120b-Eagle3-v3","num_speculative_tokens":7,'
        '"method":"eagle3","draft_tensor_parallel_size":1}'
    )
    assert dict(os.environ) == before  # a dry run sets none of the plan's environment
    assert not (tmp_path / "o").exists()


def test_sample_refuses_a_plan_that_cannot_be_served(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    code = main(
        [
            "sample",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o"),
            "--model",
            "gpt-oss-120b",
            "--gpu",
            "t4",
        ]
    )
    assert code == 2
    assert "cannot run gpt-oss" in capsys.readouterr().err
