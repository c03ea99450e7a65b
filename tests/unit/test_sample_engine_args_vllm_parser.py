"""Every plan's `gptoss sample` engine arguments are accepted by vLLM 0.33.0's EngineArgs parser.

The arguments are `engine_argv(plan)` for every plan `serving.enumerate_plans()` yields; they are parsed
in the parser-only venv (scripts/vllm-parser-venv) by the sampler's own `parse_engine_args`, the call a
batch makes before `vllm.LLM` starts, and the fields the plan decides must come back as the plan says.
Marked e2e: it needs the external venv (CI turns a skip into a failure).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from serving import PlanRequest, enumerate_plans, plan_serving
from targets.sample import engine_argv
from tests.vllm_parser_venv import REPO, ensure_parser_venv

pytestmark = pytest.mark.e2e

CHECKER = REPO / "tests" / "vllm_parser" / "check_engine_args.py"


def parse_with_vllm(argvs: list[list[str]]) -> list[dict]:
    venv = ensure_parser_venv()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(CHECKER)],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout)
    assert len(results) == len(argvs)
    return results


def test_every_plans_engine_arguments_parse_as_the_plan_says():
    by_argv = {}
    for plan in enumerate_plans():
        by_argv.setdefault(tuple(engine_argv(plan)), plan)
    assert len(by_argv) > 50, len(by_argv)
    results = parse_with_vllm([list(argv) for argv in by_argv])
    failures = [
        f"{' '.join(argv)}: {r['error']}" for argv, r in zip(by_argv, results, strict=True) if not r["ok"]
    ]
    assert not failures, f"{len(failures)} of {len(by_argv)} refused:\n" + "\n".join(failures[:10])
    for (argv, plan), result in zip(by_argv.items(), results, strict=True):
        parsed = result["parsed"]
        assert parsed["model"] == plan.model_source, argv
        assert parsed["tensor_parallel_size"] == plan.tensor_parallel_size, argv
        assert parsed["max_model_len"] == plan.max_model_len, argv
        if plan.gpu_memory_utilization is not None:
            assert parsed["gpu_memory_utilization"] == plan.gpu_memory_utilization, argv
        assert parsed["enforce_eager"] == (plan.accelerator.vendor == "cpu"), argv
        assert parsed["kv_cache_dtype"] == ("fp8" if "--kv-cache-dtype" in argv else "auto"), argv


def test_server_flags_would_be_refused_so_dropping_them_is_needed():
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="h100"))
    kept = engine_argv(plan)
    serve_only = list(plan.engines[0].argv[3:])  # with --host, --port, the parsers ...
    results = parse_with_vllm(
        [kept, ["--model", plan.model_source, *serve_only], [*kept, "--uvicorn-log-level=warning"]]
    )
    assert results[0]["ok"], results[0]
    assert not results[1]["ok"] and "unrecognized arguments" in results[1]["error"]
    assert "--host" in results[1]["error"] or "--port" in results[1]["error"]
    assert not results[2]["ok"] and "--uvicorn-log-level" in results[2]["error"]
