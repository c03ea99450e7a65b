"""Every `vllm serve` argv the planner can produce is accepted by vLLM 0.33.0's own argument parser.

The argvs come from `serving.enumerate_plans()` (every model x accelerator x GPU count x goal the planner
accepts) plus a sweep of the request options; each distinct engine argv is parsed by the parser `vllm serve`
builds, validated with `validate_parsed_serve_args`, and its parser names, KV-cache dtype, attention backend
and scheduler/cache/parallel limits are checked (tests/vllm_parser/check_argv.py, run in the venv made by
scripts/vllm-parser-venv). The environment the plan sets is checked too: a VLLM_* variable this vLLM does not
know is silently ignored at run time, so a stale recipe variable must fail here instead.

Marked e2e: it needs the external venv, and CI must not skip it (tests/conftest.py turns the skip into a
failure there). GPTOSS_BUILD_VENVS=1 builds the venv on demand.
"""

from __future__ import annotations

import json

import pytest

from serving import PlanError, PlanRequest, enumerate_plans, plan_serving
from tests.vllm_parser_venv import ensure_parser_venv, run_checker

pytestmark = pytest.mark.e2e

# Per-engine device visibility differs between otherwise identical engines; it is not a vLLM setting.
_DEVICE_VISIBILITY = {"CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}


def _option_sweep() -> list:
    """Plans with the request options enumerate_plans() leaves at defaults, for every accelerator."""
    from serving import ACCELERATORS, CATALOG_MODELS

    variants = [
        {"max_model_len": 8192, "gpu_memory_utilization": 0.85},
        {"served_model_name": "gpt-oss", "port": 9000, "host": "127.0.0.1"},
        {"model_source": "/srv/models/gpt-oss", "hosts": 2},
        {"max_model_len": 131072, "goal": "latency"},
        # The recipe's EAGLE3 draft outside the latency goal, and without it where latency would add it.
        {"goal": "throughput", "speculative": True, "max_num_seqs": 64},
        {"goal": "latency", "speculative": False, "max_num_seqs": 8},
        {"goal": "latency", "gpus_per_host": 1},
    ]
    plans = []
    for model in CATALOG_MODELS:
        for accelerator in ACCELERATORS:
            for variant in variants:
                fields = {"goal": "balanced", "gpus_per_host": 8, **variant}
                try:
                    plans.append(plan_serving(PlanRequest(model=model, accelerator=accelerator, **fields)))
                except PlanError:
                    continue  # e.g. a GPU count the CPU profile has no layout for
    return plans


def _describe(plan) -> str:
    return (
        f"{plan.model.key} on {plan.request.gpus_per_host} x {plan.accelerator.key} "
        f"goal={plan.request.goal} TP={plan.tensor_parallel_size}"
    )


@pytest.fixture(scope="module")
def planned():
    """Distinct engine argvs (with the first plan that produced each) and distinct plan environments (with
    the accelerators whose plans set them)."""
    argvs: dict[tuple[str, ...], str] = {}
    envs: dict[tuple[tuple[str, str], ...], tuple[str, set[str]]] = {}
    plans = list(enumerate_plans())
    for plan in [*plans, *_option_sweep()]:
        for engine in plan.engines:
            argvs.setdefault(tuple(engine.argv), _describe(plan))
            env = tuple(sorted((k, v) for k, v in engine.env.items() if k not in _DEVICE_VISIBILITY))
            envs.setdefault(env, (engine.argv[2], set()))[1].add(plan.accelerator.key)
    return {"plan_count": len(plans), "argvs": argvs, "envs": envs}


@pytest.fixture(scope="module")
def checked(planned):
    """One checker process for all planned argvs and environments (importing vLLM takes seconds)."""
    venv = ensure_parser_venv()
    argv_items = [list(argv) for argv in planned["argvs"]]
    # Environments are checked on a bare `vllm serve <model>` so an env failure is never an argv failure.
    env_items = [
        {"argv": ["vllm", "serve", model], "env": dict(env)} for env, (model, _) in planned["envs"].items()
    ]
    results = run_checker(venv, argv_items + env_items)
    return {
        "argvs": list(zip(planned["argvs"].items(), results[: len(argv_items)], strict=True)),
        "envs": list(zip(planned["envs"].items(), results[len(argv_items) :], strict=True)),
    }


def _failures(pairs) -> list[str]:
    # A deprecated option counts as a failure too: the next vLLM pin would break on it. (0.33.0 marks no
    # `vllm serve` option deprecated, so today only refusals show up here.)
    return [
        f"{origin}: {result['error'] or result['warnings']}\n    {' '.join(key)}"
        for (key, origin), result in pairs
        if not result["ok"] or result["warnings"]
    ]


def test_planner_produces_many_distinct_argvs(planned):
    # enumerate_plans() covers 2 models x 17 accelerators x 1..8 GPUs x 3 goals; a collapse of that space
    # (say, a filter that accepts only one accelerator) would make the proof below trivially green.
    assert planned["plan_count"] > 300, planned["plan_count"]
    assert len(planned["argvs"]) > 100, len(planned["argvs"])


def test_every_planned_argv_passes_vllm_033_parser(checked):
    failures = _failures(checked["argvs"])
    assert not failures, (
        f"{len(failures)} of {len(checked['argvs'])} argvs refused by vLLM 0.33.0:\n"
        + "\n".join(failures[:20])
    )


def test_every_planned_environment_is_known_to_vllm_033(checked):
    # The real envs.py of 0.33.0 decides: e.g. VLLM_ATTENTION_BACKEND and
    # VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8 are gone there and would only log "Unknown vLLM environment variable".
    failures = [
        f"plans for {', '.join(sorted(accelerators))}: {result['error']}"
        for (_, (_, accelerators)), result in checked["envs"]
        if not result["ok"]
    ]
    assert not failures, (
        f"{len(failures)} of {len(checked['envs'])} distinct plan environments:\n" + "\n".join(failures)
    )


def _first_planned_argv(planned, flag: str) -> list[str]:
    for argv in planned["argvs"]:
        if flag in argv:
            return list(argv)
    pytest.fail(f"no planned argv carries {flag}; the negative cases below need one")


def _replace_value(argv: list[str], flag: str, value: str) -> list[str]:
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


def _without(argv: list[str], flag: str, takes_value: bool) -> list[str]:
    out = list(argv)
    i = out.index(flag)
    del out[i : i + (2 if takes_value else 1)]
    return out


def test_checker_rejects_broken_argvs(planned):
    """The proof above means something only if the same checker refuses what vLLM refuses."""
    venv = ensure_parser_venv()
    base = _first_planned_argv(planned, "--tool-call-parser")
    kv = _first_planned_argv(planned, "--kv-cache-dtype")
    backend = _first_planned_argv(planned, "--attention-backend")
    spec = _first_planned_argv(planned, "--speculative-config")
    recipe_spec = json.loads(spec[spec.index("--speculative-config") + 1])

    def spec_with(**change):
        return _replace_value(spec, "--speculative-config", json.dumps({**recipe_spec, **change}))

    broken = {
        "unknown flag": ([*base, "--no-such-flag"], "unrecognized arguments"),
        "removed flag": ([*base, "--swap-space", "4"], "unrecognized arguments"),
        "bad choice": ([*base, "--dtype", "float8"], "invalid choice"),
        "bad int": (_replace_value(base, "--tensor-parallel-size", "two"), "invalid int value"),
        "tool parser name": (_replace_value(base, "--tool-call-parser", "openai_harmony"), "tool parser"),
        "reasoning parser name": (_replace_value(base, "--reasoning-parser", "gptoss"), "reasoning parser"),
        "auto tool choice without parser": (
            _without(base, "--tool-call-parser", takes_value=True),
            "requires --tool-call-parser",
        ),
        "kv cache dtype": (_replace_value(kv, "--kv-cache-dtype", "fp9"), "kv_cache_dtype"),
        "old attention backend name": (
            _replace_value(backend, "--attention-backend", "TRITON_ATTN_VLLM_V1"),
            "Unknown attention backend",
        ),
        "memory fraction above 1": ([*base, "--gpu-memory-utilization", "1.5"], "gpu_memory_utilization"),
        "zero stream interval": ([*base, "--stream-interval", "0"], "stream_interval"),
        "bad compilation config key": ([*base, "--compilation-config", '{"no_such_key": 1}'], "no_such_key"),
        "speculative config that is not JSON": (
            _replace_value(spec, "--speculative-config", "{model: eagle}"),
            "speculative-config",
        ),
        "unknown speculative method": (spec_with(method="eagle4"), "method"),
        "no speculative tokens": (spec_with(num_speculative_tokens=0), "greater than 0"),
        "unknown speculative field": (spec_with(draft_tp=1), "no field 'draft_tp'"),
        "draft TP neither 1 nor the target's": (
            _replace_value(spec_with(draft_tensor_parallel_size=2), "--tensor-parallel-size", "8"),
            "other value than 1 or target model tensor_parallel_size",
        ),
        "more sequences than batched tokens": ([*base, "--max-num-seqs", "16384"], "max_num_seqs"),
    }
    env_broken = {
        "removed env var": ({"VLLM_ATTENTION_BACKEND": "TRITON_ATTN"}, "unknown to vLLM"),
        "bad env choice": ({"VLLM_ROCM_QUICK_REDUCE_QUANTIZATION": "INT5"}, "Invalid value"),
    }
    items = [base] + [argv for argv, _ in broken.values()]
    items += [{"argv": base[:3], "env": env} for env, _ in env_broken.values()]
    results = run_checker(venv, items)

    # The unbroken argv in the same run is accepted: the rejections below are about the breakage.
    assert results[0] == {"ok": True, "error": None, "warnings": []}, results[0]
    expected = [*broken.items(), *env_broken.items()]
    for (name, (_, needle)), result in zip(expected, results[1:], strict=True):
        assert not result["ok"], f"{name}: accepted, but vLLM 0.33.0 refuses it"
        assert needle.lower() in result["error"].lower(), f"{name}: {result['error']}"
