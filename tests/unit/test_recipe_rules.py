"""Each rule of serving/rules.py, applied where its source says and cited with that source.

The recipe is vllm-project/recipes OpenAI/GPT-OSS.md (pinned in serving.reasons.RECIPE); each test names
the section its expectation comes from and checks the plan cites it.
"""

from __future__ import annotations

import json

import pytest

from serving import (
    ACCELERATORS,
    MODELS,
    PlanError,
    ServingPaths,
    enumerate_plans,
    rules,
)
from serving.caches import STARTUP_CACHES
from serving.memory import BatchLimits, fits, memory_math, vllm_batch_defaults
from serving.reasons import RECIPE, Rule
from tests.unit.test_plan import flag_value, plan


def reason(p, item):
    found = [r for r in p.reasons if r.item == item]
    assert len(found) == 1, f"{item}: {found}"
    return found[0]


PATHS = ServingPaths(hf_home="/srv/hf", vllm_cache_root="/srv/cache/vllm", tiktoken_dir="/srv/tiktoken")
KNOWN_LIMITATIONS = f"{RECIPE} § Known Limitations"
BALANCING = f"{RECIPE} § Balancing between Throughput and Latencies"


# --- Known Limitations: "On H100 using tensor parallel size 1, default gpu memory utilization, and batched
# token will cause CUDA Out-of-memory ... vllm serve openai/gpt-oss-120b --gpu-memory-utilization 0.95
# --max-num-batched-tokens 1024" -------------------------------------------------------------------------


@pytest.mark.parametrize("gpu", ["h100", "h100-pcie"])
def test_120b_on_one_h100_gets_the_known_limitations_settings(gpu):
    p = plan("gpt-oss-120b", gpu, 1)
    argv = p.engines[0].argv
    assert flag_value(argv, "--gpu-memory-utilization") == "0.95"
    assert flag_value(argv, "--max-num-batched-tokens") == "1024"
    # The recipe's 2048 capture size would be truncated by vLLM to the batched tokens: the plan says so.
    assert flag_value(argv, "--max-cudagraph-capture-size") == "1024"
    assert reason(p, "--max-cudagraph-capture-size").rule is rules.CUDAGRAPH_CAPPED
    for item in ("--gpu-memory-utilization", "--max-num-batched-tokens"):
        r = reason(p, item)
        assert r.rule is rules.H100_TP1
        assert r.source == f"known limitation: {KNOWN_LIMITATIONS}"
    assert p.memory.max_num_batched_tokens == 1024
    assert p.memory.usable_gib == pytest.approx(79.6 * 0.95, abs=0.01)


def test_every_tp1_engine_of_an_h100_box_gets_them_too():
    p = plan("gpt-oss-120b", "h100", 8, goal="throughput")
    assert p.tensor_parallel_size == 1 and p.engines_per_host == 8
    for engine in p.engines:
        assert flag_value(engine.argv, "--max-num-batched-tokens") == "1024"
        assert flag_value(engine.argv, "--gpu-memory-utilization") == "0.95"


@pytest.mark.parametrize(
    ("model", "gpu", "gpus"),
    [("gpt-oss-20b", "h100", 1), ("gpt-oss-120b", "h200", 1), ("gpt-oss-120b", "h100", 8)],
)
def test_the_limitation_stays_where_the_recipe_puts_it(model, gpu, gpus):
    # 20b on one H100, 120b on one H200, and 120b at TP 8 on H100 keep the recipe's 8192 and 0.9.
    goal = "latency" if gpus == 8 else "balanced"
    argv = plan(model, gpu, gpus, goal=goal).engines[0].argv
    assert flag_value(argv, "--max-num-batched-tokens") == "8192"
    assert flag_value(argv, "--gpu-memory-utilization") == "0.9"


def test_the_memory_math_reproduces_the_limitation_and_the_a100_claim():
    """serving/memory.py is calibrated on four statements of the recipe; all four hold."""
    model, h100, a100 = MODELS["gpt-oss-120b"], ACCELERATORS["h100"], ACCELERATORS["a100-80gb"]
    seqs = vllm_batch_defaults(h100).max_num_seqs

    def fit(acc, util, batched, max_num_seqs=seqs):
        return fits(memory_math(model, acc, 1, 131072, util, BatchLimits(batched, max_num_seqs)))

    assert not fit(h100, 0.90, 8192)  # Known Limitations: default utilization and batched tokens: OOM
    assert fit(h100, 0.95, 8192)  # "please increase your gpu memory utilization"
    assert fit(h100, 0.90, 1024)  # "or lower batched token"
    # A100: "gpt-oss-120b will fit on a single A100 (80GB)" with vLLM's defaults there (2048 and 256).
    assert vllm_batch_defaults(a100) == BatchLimits(2048, 256)
    assert fit(a100, 0.90, 2048, 256)


def test_a_user_utilization_keeps_the_lower_batched_tokens():
    p = plan("gpt-oss-120b", "h100", 1, gpu_memory_utilization=0.9)
    assert flag_value(p.engines[0].argv, "--max-num-batched-tokens") == "1024"
    assert reason(p, "--gpu-memory-utilization").rule is rules.USER_OPTION
    assert p.memory.full_context_sequences >= 1  # "or lower batched token": 0.9 with 1024 fits


# --- Known Limitations: "When running TP2 on H100, set your gpu memory utilization below 0.95" -----------


def test_h100_tp2_refuses_utilization_at_or_above_095():
    with pytest.raises(PlanError) as err:
        plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2, gpu_memory_utilization=0.95)
    assert "Known Limitations" in str(err.value) and "below 0.95" in str(err.value)
    assert plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2, gpu_memory_utilization=0.94)


def test_h100_tp2_limit_steers_the_goal_to_another_tp():
    p = plan("gpt-oss-120b", "h100", 2, goal="latency", gpu_memory_utilization=0.95)
    assert p.tensor_parallel_size == 1  # TP 2 would run out of memory at 0.95


def test_h100_tp2_default_utilization_cites_the_limit():
    p = plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2)
    r = reason(p, "--gpu-memory-utilization")
    assert r.value == "0.9" and r.rule is rules.H100_TP2
    assert r.source == f"known limitation: {KNOWN_LIMITATIONS}"


# --- Prepare the Config File: GPT-OSS_Hopper.yaml / GPT-OSS_Blackwell.yaml ----------------------------


@pytest.mark.parametrize("gpu", ["h200", "b200", "gb200"])
def test_hopper_and_blackwell_get_the_config_file_values(gpu):
    p = plan("gpt-oss-120b", gpu, 1)
    argv = p.engines[0].argv
    assert flag_value(argv, "--max-num-batched-tokens") == "8192"
    assert flag_value(argv, "--max-cudagraph-capture-size") == "2048"
    assert reason(p, "--max-num-batched-tokens").rule.source.endswith(
        "§ Prepare the Config File (GPT-OSS_Hopper.yaml, GPT-OSS_Blackwell.yaml)"
    )


def test_stream_interval_only_for_throughput():
    assert flag_value(plan(gpus=8, goal="throughput").engines[0].argv, "--stream-interval") == "20"
    for goal in ("balanced", "latency"):
        assert "--stream-interval" not in plan(gpus=8, goal=goal).engines[0].argv
    assert reason(plan(gpus=8, goal="throughput"), "--stream-interval").source.endswith(
        "§ Configs and Parameters"
    )


def test_blackwell_fp8_kv_cache_halves_the_bytes_per_token():
    p = plan("gpt-oss-120b", "b200", 1)
    assert flag_value(p.engines[0].argv, "--kv-cache-dtype") == "fp8"
    assert p.memory.kv_bytes_per_token == MODELS["gpt-oss-120b"].kv_bytes_per_token(1)
    assert reason(p, "--kv-cache-dtype").rule is rules.BLACKWELL_FP8_KV


# --- Balancing between Throughput and Latencies (B200) -------------------------------------------------


def test_blackwell_balanced_is_tp2_with_128_sequences():
    p = plan("gpt-oss-120b", "b200", 8, goal="balanced")
    assert (p.tensor_parallel_size, p.engines_per_host) == (2, 4)
    assert flag_value(p.engines[0].argv, "--max-num-seqs") == "128"
    assert reason(p, "--tensor-parallel-size").rule is rules.BLACKWELL_BALANCED
    assert reason(p, "--max-num-seqs").rule.source == BALANCING
    assert p.memory.max_num_seqs == 128


def test_blackwell_balanced_on_one_gpu_has_no_tp2_batch():
    p = plan("gpt-oss-120b", "b200", 1, goal="balanced")
    assert p.tensor_parallel_size == 1
    assert "--max-num-seqs" not in p.engines[0].argv


def test_blackwell_min_latency_is_the_largest_tp_with_8_sequences():
    p = plan("gpt-oss-120b", "b200", 8, goal="latency")
    assert p.tensor_parallel_size == 8
    assert flag_value(p.engines[0].argv, "--max-num-seqs") == "8"
    assert reason(p, "--max-num-seqs").rule is rules.BLACKWELL_MIN_LATENCY


def test_hopper_keeps_vllms_batch_of_sequences():
    # The recipe's numbers are for B200; Hopper keeps vLLM's 1024 (which the memory math counts).
    p = plan("gpt-oss-120b", "h100", 8, goal="latency")
    assert "--max-num-seqs" not in p.engines[0].argv
    assert p.memory.max_num_seqs == 1024


def test_a_user_batch_of_sequences_is_passed_and_counted():
    p = plan("gpt-oss-120b", "h200", 1, max_num_seqs=64)
    assert flag_value(p.engines[0].argv, "--max-num-seqs") == "64"
    assert p.memory.max_num_seqs == 64
    assert reason(p, "--max-num-seqs").rule is rules.USER_OPTION
    with pytest.raises(PlanError, match="1024 batched tokens"):
        plan("gpt-oss-120b", "h100", 1, max_num_seqs=2048)


# --- GPT-OSS_EAGLE3_Hopper.yaml / GPT-OSS_EAGLE3_Blackwell.yaml ---------------------------------------

RECIPE_SPECULATIVE_CONFIG = (
    '{"model":"nvidia/gpt-oss-120b-Eagle3-v3","num_speculative_tokens":7,"method":"eagle3",'
    '"draft_tensor_parallel_size":1}'
)


@pytest.mark.parametrize(("gpu", "gpus"), [("h100", 8), ("h200", 4), ("b200", 8), ("h100", 1)])
def test_latency_on_hopper_and_blackwell_speculates_with_the_recipes_eagle3(gpu, gpus):
    p = plan("gpt-oss-120b", gpu, gpus, goal="latency")
    value = flag_value(p.engines[0].argv, "--speculative-config")
    assert value == RECIPE_SPECULATIVE_CONFIG  # byte for byte the recipe's YAML value
    assert json.loads(value)["model"] == p.draft_model == "nvidia/gpt-oss-120b-Eagle3-v3"
    assert p.weights_sources == ("openai/gpt-oss-120b", "nvidia/gpt-oss-120b-Eagle3-v3")
    r = reason(p, "--speculative-config")
    assert r.rule is rules.EAGLE3 and "GPT-OSS_EAGLE3_Hopper.yaml" in r.source


def test_the_draft_is_counted_in_the_memory_math():
    on = plan("gpt-oss-120b", "h100", 8, goal="latency")
    off = plan("gpt-oss-120b", "h100", 8, goal="latency", speculative=False)
    draft = MODELS["gpt-oss-120b"].eagle3_draft
    assert on.memory.draft_weights_per_gpu_gib == draft.weights_gib
    assert off.memory.draft_weights_per_gpu_gib == 0
    assert on.memory.kv_cache_per_gpu_gib == pytest.approx(
        off.memory.kv_cache_per_gpu_gib - draft.weights_gib
    )
    assert on.memory.kv_bytes_per_token == off.memory.kv_bytes_per_token + draft.kv_bytes_per_token()
    assert on.weights_gib == pytest.approx(off.weights_gib + draft.weights_gib)
    assert "--speculative-config" not in off.engines[0].argv and off.draft_model is None


@pytest.mark.parametrize(
    ("model", "gpu", "goal"),
    [
        ("gpt-oss-120b", "h100", "throughput"),
        ("gpt-oss-120b", "h100", "balanced"),
        ("gpt-oss-20b", "h100", "latency"),  # the recipe has no draft for 20b
        ("gpt-oss-120b", "mi300x", "latency"),  # nor configs for ROCm
        ("gpt-oss-120b", "a100-80gb", "latency"),
    ],
)
def test_no_speculation_where_the_recipe_does_not_validate_it(model, gpu, goal):
    p = plan(model, gpu, 8, goal=goal)
    assert "--speculative-config" not in p.engines[0].argv
    assert p.weights_sources == (p.model_source,)


def test_speculation_is_a_user_option_within_the_recipes_reach():
    assert plan("gpt-oss-120b", "h200", 8, goal="throughput", speculative=True).draft_model
    with pytest.raises(PlanError, match="validates EAGLE3 for gpt-oss-120b on Hopper and Blackwell"):
        plan("gpt-oss-120b", "a100-80gb", 8, speculative=True)
    with pytest.raises(PlanError, match="speculative"):
        plan("gpt-oss-tiny", "cpu", 1, speculative=True)


# --- MI355x(gfx950): the recipe serves AMD's checkpoint; --model-source is the one override ---------------


def test_mi355x_serves_amds_checkpoint_and_model_source_overrides_it():
    p = plan("gpt-oss-120b", "mi355x", 8)
    assert p.model_source == "amd/gpt-oss-120b-w-mxfp4-a-fp8" == p.engines[0].argv[2]
    assert p.served_model_name == "openai/gpt-oss-120b"
    assert reason(p, "model").rule is rules.MI355X_CHECKPOINT
    assert reason(p, "model").source.endswith("§ MI355x(gfx950)")
    mine = plan("gpt-oss-120b", "mi355x", 8, model_source="openai/gpt-oss-120b")
    assert mine.engines[0].argv[2] == "openai/gpt-oss-120b"
    assert reason(mine, "model").rule is rules.USER_OPTION
    assert plan("gpt-oss-120b", "mi300x", 8).model_source == "openai/gpt-oss-120b"


def test_amd_gets_the_rocm_recipe_cited():
    p = plan("gpt-oss-120b", "mi300x", 8, goal="latency")
    for item in ("--attention-backend", "--block-size", "VLLM_ROCM_USE_AITER", "--gpu-memory-utilization"):
        assert reason(p, item).rule is rules.AMD_ROCM
    assert rules.HSA_SCRATCH_FIRMWARE in p.not_applied


# --- recipe lines left out, and limitations every plan carries -------------------------------------------


def test_left_out_recipe_lines_are_listed_where_they_would_apply():
    assert rules.PREFIX_CACHING_KEPT in plan("gpt-oss-120b", "h100", 1).not_applied
    assert "--no-enable-prefix-caching" not in plan("gpt-oss-120b", "h100", 1).engines[0].argv
    assert rules.FLASHINFER_MXFP4_ENV_GONE in plan("gpt-oss-120b", "b200", 1).not_applied
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in plan("gpt-oss-120b", "b200", 1).env
    assert rules.HOPPER_MARLIN_ENV_FIXED in plan("gpt-oss-120b", "h200", 1).not_applied
    assert plan("gpt-oss-20b", "l4", 1).not_applied == ()


def test_ampere_sets_nothing_and_says_why():
    p = plan("gpt-oss-120b", "a100-80gb", 1)
    assert rules.AMPERE_DEFAULTS in p.not_applied
    assert rules.AMPERE_DEFAULTS.source.endswith("§ A100")
    assert "--attention-backend" not in p.engines[0].argv


@pytest.mark.parametrize(
    ("gpu", "validated"), [("l4", False), ("rtx5090", False), ("h100", True), ("a100-80gb", True)]
)
def test_gpus_outside_the_recipes_validated_set_carry_that_limitation(gpu, validated):
    p = plan("gpt-oss-20b", gpu, 1)
    assert (rules.NOT_YET_VALIDATED_GPU not in p.limitations) == validated
    assert (not any("not in vLLM's tested gpt-oss set" in w for w in p.warnings)) == validated


def test_every_plan_carries_the_api_limitations():
    for p in (plan("gpt-oss-120b", "h100", 1), plan("gpt-oss-tiny", "cpu", 1)):
        assert p.limitations == rules.API_LIMITATIONS
        assert all(r.source.startswith(RECIPE) for r in p.limitations)


# --- start-up caches: every directory a start fills, under the target's cache root ------------------------

STARTUP_DEFAULTS = {c.variable: c.default for c in STARTUP_CACHES}


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        ("b200", set(STARTUP_DEFAULTS)),
        ("h100", set(STARTUP_DEFAULTS)),
        ("mi300x", {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"}),
        ("cpu", {"VLLM_CACHE_ROOT", "TORCHINDUCTOR_CACHE_DIR"}),
    ],
)
def test_every_startup_cache_lands_under_the_targets_cache_root(gpu, expected):
    model = "gpt-oss-tiny" if gpu == "cpu" else "gpt-oss-120b"
    p = plan(model, gpu, 1, paths=PATHS)
    caches = {k: v for k, v in p.env.items() if k in STARTUP_DEFAULTS}
    assert set(caches) == expected
    assert caches["VLLM_CACHE_ROOT"] == PATHS.vllm_cache_root
    assert all(
        v == PATHS.vllm_cache_root or v.startswith(PATHS.vllm_cache_root + "/") for v in caches.values()
    )
    assert len(set(caches.values())) == len(caches), "one directory per tool"
    assert all(reason(p, k).rule is rules.STARTUP_CACHES for k in caches)


def test_startup_caches_follow_whatever_root_the_request_carries():
    other = ServingPaths(hf_home="/models/hf", vllm_cache_root="/models/vllm-cache", tiktoken_dir="/models/t")
    env = plan("gpt-oss-120b", "h100", 1, paths=other).env
    assert env["VLLM_CACHE_ROOT"] == "/models/vllm-cache"
    assert env["TRITON_CACHE_DIR"] == "/models/vllm-cache/triton"
    assert env["FLASHINFER_WORKSPACE_BASE"] == "/models/vllm-cache/flashinfer"
    # A plan with no target (`gptoss plan`) decides no paths at all.
    assert not set(STARTUP_DEFAULTS) & set(plan("gpt-oss-120b", "h100", 1).env)


# --- every rule is reachable, and every flag and variable has its reason ---------------------------------


def _option_plans():
    yield from enumerate_plans()
    yield plan("gpt-oss-120b", "h100", 8, served_model_name="x", host="127.0.0.1", port=9000)
    yield plan("gpt-oss-120b", "h100", 1, gpu_memory_utilization=0.9, max_model_len=8192, max_num_seqs=64)
    yield plan(
        "gpt-oss-120b", "mi355x", 8, model_source="/srv/m", extra_args=("--seed", "1"), extra_env={"A": "1"}
    )
    yield plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2)
    for model, gpu in (("gpt-oss-120b", "b200"), ("gpt-oss-120b", "mi300x"), ("gpt-oss-tiny", "cpu")):
        yield plan(model, gpu, 1, paths=PATHS)


ALL_PLANS = list(_option_plans())


def test_every_rule_is_used_by_some_plan():
    defined = {v.id: v for v in vars(rules).values() if isinstance(v, Rule)}
    used = set()
    for p in ALL_PLANS:
        used |= {r.rule.id for r in p.reasons} | {r.id for r in p.not_applied} | {r.id for r in p.limitations}
    assert set(defined) - used == set()


def _argv_items(argv):
    """(flag, value or None) for each flag of a `vllm serve` argv after the model."""
    items, i = [], 3
    while i < len(argv):
        flag = argv[i]
        assert flag.startswith("-"), f"stray value {flag!r} in {argv}"
        has_value = i + 1 < len(argv) and not argv[i + 1].startswith("-")
        items.append((flag, argv[i + 1] if has_value else None))
        i += 2 if has_value else 1
    return items


def _unexplained(p) -> list[str]:
    engine = p.engines[0]
    reasons = {r.item: r for r in p.reasons}
    problems = [] if len(reasons) == len(p.reasons) else ["two reasons for one item"]
    if reasons.get("model") is None or reasons["model"].value != engine.argv[2]:
        problems.append("the model has no reason")
    flags = _argv_items(engine.argv)
    for item, value in [*flags, *engine.env.items()]:
        if item not in reasons:
            problems.append(f"{item} has no reason")
        elif reasons[item].value != value:
            problems.append(f"{item}: the reason says {reasons[item].value!r}, the plan {value!r}")
    extra = set(reasons) - {f for f, _ in flags} - set(engine.env) - {"model"}
    problems += [f"a reason for {item}, which the plan does not set" for item in sorted(extra)]
    problems += [f"{r.item}: empty why or source" for r in p.reasons if not (r.why and r.rule.source)]
    return problems


def test_every_flag_and_variable_of_every_catalog_case_has_its_reason():
    assert len(ALL_PLANS) > 300
    failures = {
        f"{p.model.key} {p.request.gpus_per_host}x{p.accelerator.key} {p.request.goal}": problems
        for p in ALL_PLANS
        if (problems := _unexplained(p))
    }
    assert not failures, failures


def test_the_reason_check_catches_a_flag_without_reason():
    p = plan("gpt-oss-120b", "h100", 1)
    broken = type(p)(
        **{**p.__dict__, "reasons": tuple(r for r in p.reasons if r.item != "--max-num-batched-tokens")}
    )
    assert _unexplained(broken) == ["--max-num-batched-tokens has no reason"]
