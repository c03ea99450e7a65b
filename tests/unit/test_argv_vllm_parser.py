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
import os
import subprocess
from pathlib import Path

import pytest

from serving import PlanError, PlanRequest, enumerate_plans, plan_serving
from tests.vllm_parser_venv import CHECK_TIMEOUT_S, ensure_parser_venv, run_checker

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


# ------------------------------------------------------------------ plan-owned options, as vLLM reads them

OWNED_PROBE = Path(__file__).resolve().parents[1] / "vllm_parser" / "owned_probe.py"
OPTION_DUMPER = Path(__file__).resolve().parents[1] / "vllm_parser" / "dump_options.py"
# A value each owned option accepts and the base argv does not already hold.
OWNED_VALUES = {
    "model": "other/model",
    "served_model_name": "zz",
    "host": "10.9.9.9",
    "port": "9999",
    "tensor_parallel_size": "2",
    "max_model_len": "777",
    "gpu_memory_utilization": "0.55",
    "tool_call_parser": "hermes",
    "reasoning_parser": "deepseek_r1",
    "api_key": "k-owned",
    "kv_cache_dtype": "fp8_e5m2",
    "attention_backend": "FLASH_ATTN",
    "data_parallel_size": "3",
}


def run_probe(venv: Path, base: list[str], cases: list[list[str]]) -> dict:
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(OWNED_PROBE)],
        input=json.dumps({"base": base, "cases": cases}),
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_S,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("VLLM_")},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def _refusal(base_plan_args: dict, extra: list[str]) -> str | None:
    try:
        plan_serving(PlanRequest(**base_plan_args, extra_args=tuple(extra)))
    except PlanError as err:
        return str(err)
    return None


def _spellings(option: str, dest: str, takes_value: bool, config_file: Path) -> list[list[str]]:
    """The ways vLLM's parser lets an extra arg reach `option`: exact, =, underscores, prefixes, dotted."""
    value = str(config_file) if dest == "config" else OWNED_VALUES.get(dest, "1")
    with_value = (lambda word: [word, value]) if takes_value else (lambda word: [word])
    out = [with_value(option)]
    if takes_value:
        out.append([f"{option}={value}"])
    if option.startswith("--"):
        out.append(with_value("--" + option[2:].replace("-", "_")))
        for end in range(3, len(option)):
            prefix = option[:end]
            out.append(with_value(prefix))
            if takes_value:
                out.append([f"{prefix}={value}"])
            out.append(with_value("--" + prefix[2:].replace("-", "_")))
    else:
        for end in range(2, len(option)):
            out += [with_value(option[:end]), [f"{option[:end]}={value}"]]
        out.append([option + value])
    out.append([f"{option}.x=1"])
    return out


@pytest.fixture(scope="module")
def parser_venv():
    return ensure_parser_venv()


def test_option_snapshot_is_the_pinned_parsers(parser_venv):
    """serving/vllm_options.py is what the live vLLM 0.33.0 parser has (regenerate: devtools.vllm_options)."""
    from devtools.vllm_options import live_options

    from serving.vllm_options import SERVE_OPTIONS

    assert live_options(parser_venv) == SERVE_OPTIONS


def test_refused_extra_args_are_exactly_those_vllm_reads_as_plan_owned(parser_venv, tmp_path):
    """Both directions, against vLLM's own parser: a spelling that sets an owned option there is refused
    here, and a spelling refused here sets an owned option there, or is one vLLM refuses outright (`--model
    X` next to the positional, `-t=2` that only Python 3.12+'s argparse reads as `-tp 2`, `--port.x=1`
    whose JSON is no port): refusing a command line vLLM cannot start with loses nothing."""
    from serving.vllm_args import OWNED_OPTIONS
    from serving.vllm_options import SERVE_OPTIONS

    config_file = tmp_path / "owned.yaml"
    config_file.write_text("api-key: k-from-file\nport: 9998\n")
    request = {"model": "gpt-oss-20b", "accelerator": "h100"}
    base = list(plan_serving(PlanRequest(**request)).engines[0].argv)
    cases: list[list[str]] = []
    for option, (dest, takes_value) in SERVE_OPTIONS.items():
        if dest == "help":
            continue  # prints help and exits: vLLM never starts; not an option to set
        if dest in OWNED_OPTIONS:
            cases += _spellings(option, dest, takes_value, config_file)
        else:
            cases.append([option, "1"] if takes_value else [option])
    cases += [
        ["-ac.backend=FLASH_ATTN"],
        ["--attention-config", '{"backend": "FLASH_ATTN"}'],
        ["-ac.use_trtllm_attention=true"],
    ]
    unique = list({tuple(c): c for c in cases}.values())
    probed = run_probe(parser_venv, base, unique)["results"]

    unsound, imprecise, both_refuse = [], [], 0
    for case, seen in zip(unique, probed, strict=True):
        refused = _refusal(request, case)
        sets_owned = bool(set(seen["dests"]) & set(OWNED_OPTIONS)) or bool(seen["attention_keys"])
        if sets_owned and not refused:
            unsound.append(f"{case}: vLLM sets {seen['dests']} {seen['attention_keys']}, the plan accepts it")
        elif refused and not sets_owned:
            if seen["error"] is None:
                imprecise.append(f"{case}: refused ({refused}) but vLLM sets only {seen['dests']}")
            both_refuse += 1
    assert not unsound, f"{len(unsound)} spellings set plan-owned options unrefused:\n" + "\n".join(
        unsound[:30]
    )
    assert not imprecise, f"{len(imprecise)} refusals vLLM does not back:\n" + "\n".join(imprecise[:30])
    assert len(unique) > 1000, len(unique)  # the generated set covers prefixes and forms, not a handful
    print(f"{len(unique)} spellings: {both_refuse} refused by both, the rest agree")


def test_amd_recipe_compilation_keys_are_owned_as_vllm_merges_them(parser_venv):
    """The AMD recipe sets -cc.pass_config.fuse_rope_kvcache and -cc.use_inductor_graph_partition: an
    extra arg that changes either (dotted, JSON-merged, underscores) or replaces the whole config (which
    vLLM then silently drops for the plan's dotted keys) is refused; other -cc keys merge and pass."""
    request = {"model": "gpt-oss-120b", "accelerator": "mi300x", "gpus_per_host": 8}
    base = list(plan_serving(PlanRequest(**request)).engines[0].argv)
    cases = {
        "-cc.pass_config.fuse_rope_kvcache=false": True,
        "--compilation_config.use_inductor_graph_partition=false": True,
        '-cc.pass_config={"fuse_rope_kvcache": false}': True,
        '--compilation-config={"mode": 0}': True,
        "-cc.pass_config.fuse_norm_quant=true": False,
        "-cc.mode=0": False,
    }
    probed = run_probe(parser_venv, base, [[c] for c in cases])
    plan_view = probed["base_compilation"]
    for (word, owned), seen in zip(cases.items(), probed["results"], strict=True):
        assert seen["error"] is None, (word, seen["error"])
        got = seen["compilation"]
        changed = (
            got.get("pass_config", {}).get("fuse_rope_kvcache")
            != plan_view["pass_config"]["fuse_rope_kvcache"]
            or got.get("use_inductor_graph_partition") != plan_view["use_inductor_graph_partition"]
        )
        dropped = word.startswith("--compilation-config=") and got.get("mode") != 0
        assert (changed or dropped) == owned, (word, got, "vLLM's reading disagrees with the test's claim")
        refused = _refusal(request, [word])
        assert bool(refused) == owned, (word, refused)
