"""The Ollama plan: sized from the memory (the guide's thresholds hold), offload warned about, refusals only
where even offload cannot hold the model, and `gptoss plan --runtime ollama` in front of it."""

from __future__ import annotations

import json

import pytest

from gptoss.cli import main
from serving import ACCELERATORS, MODELS, PlanError, PlanRequest, plan_serving
from serving.catalog import GIB
from serving.ollama import (
    CONTEXT_LADDER,
    MIN_CONTEXT,
    OllamaRequest,
    kv_cache_gib,
    need_gib,
    plan_ollama,
)


def ollama(model="gpt-oss-20b", accelerator="rtx4090", **kw):
    return plan_ollama(OllamaRequest(model=model, accelerator=accelerator, **kw))


def refusal(**kw) -> str:
    with pytest.raises(PlanError) as err:
        ollama(**kw)
    return str(err.value)


def test_rtx4090_serves_20b_on_the_gpu_with_the_full_context_twice():
    plan = ollama()
    assert (plan.tag, plan.placement, plan.context_length, plan.num_parallel) == (
        "gpt-oss:20b",
        "gpu",
        131072,
        2,
    )
    assert plan.env["OLLAMA_CONTEXT_LENGTH"] == "131072" and plan.env["OLLAMA_NUM_PARALLEL"] == "2"
    assert plan.env["OLLAMA_HOST"] == "127.0.0.1:11434" and plan.warnings == ()
    # The math, by hand: 23.5 GiB usable; 12.8 weights + 1 runtime + 2 x 131072 x 24 KiB (6 GiB) + windows.
    m = plan.memory
    assert m.gpu_budget_gib == 23.5 and m.kv_bytes_per_token == 24 * 1024
    assert m.kv_cache_gib == pytest.approx(6.0, abs=0.02) and m.total_gib == pytest.approx(19.8, abs=0.02)
    # A third slot would not fit: 4 x 131072 tokens is 12 GiB of KV cache.
    assert need_gib(MODELS["gpt-oss-20b"], 131072, 4) > m.gpu_budget_gib


def test_kv_cache_counts_every_slot_and_its_sliding_window():
    model = MODELS["gpt-oss-120b"]
    window = model.sliding_kv_bytes_per_sequence() / GIB
    assert kv_cache_gib(model, 1024, 3) == pytest.approx(3 * (1024 * 36 * 1024 / GIB + window))


@pytest.mark.parametrize(("model", "minimum_gib"), [("gpt-oss-20b", 16), ("gpt-oss-120b", 60)])
def test_the_guides_memory_thresholds_hold(model, minimum_gib):
    """The guide: 20b runs with 16 GB of VRAM or unified memory and more, 120b with 60 GB and more. Every
    catalog machine at or above the threshold gets a plan; on one at it, 20b runs all on the GPU."""
    for key, acc in ACCELERATORS.items():
        if acc.memory_gib is None or acc.memory_gib < minimum_gib or acc.vendor == "cpu":
            continue
        plan = ollama(model, key)
        assert plan.context_length >= MIN_CONTEXT, key
    assert ollama("gpt-oss-20b", "rtx4080").placement == "gpu"


def test_too_little_gpu_memory_offloads_with_a_warning_and_a_modest_context():
    plan = ollama("gpt-oss-120b", "rtx4090", host_memory_gib=64)
    assert plan.placement == "gpu+cpu" and plan.num_parallel == 1 and plan.context_length <= 16384
    assert plan.memory.gpu_share == pytest.approx(23.5 / plan.memory.total_gib, abs=0.01)
    (warning,) = plan.warnings
    assert "on the CPU" in warning and "slower" in warning and "only more GPU memory" in warning
    assert plan.keep_alive == "30m"  # offloaded layers hold the machine's RAM: give it back when idle


def test_unknown_host_memory_offloads_but_says_what_ram_it_needs():
    plan = ollama("gpt-oss-120b", "rtx4090")
    assert plan.placement == "gpu+cpu"
    assert any("--host-memory-gib" in w for w in plan.warnings)


def test_a_pinned_context_that_spills_says_what_would_fit():
    plan = ollama(context_length=131072, num_parallel=8)
    assert plan.placement == "gpu+cpu"
    assert "unpinned, the plan fits it on the GPU with 131072 tokens x 2" in plan.warnings[0]


def test_macs_plan_with_metals_share_of_unified_memory():
    small = ollama("gpt-oss-20b", "m4-16gb")
    assert small.memory.gpu_budget_gib == pytest.approx(16 * 2 / 3, abs=0.01)
    assert small.placement == "gpu+cpu" and small.keep_alive == "30m"
    big = ollama("gpt-oss-120b", "m3-max-128gb")
    assert big.placement == "gpu" and big.memory.gpu_budget_gib == 96.0
    assert "OLLAMA_MODELS" not in ollama("gpt-oss-20b", "m4-max-64gb").env  # Ollama's own ~/.ollama/models


def test_cpu_only_machines_run_everything_on_the_cpu_and_say_it_is_slow():
    plan = ollama("gpt-oss-20b", "cpu-64gb")
    assert plan.placement == "cpu" and plan.memory.gpu_share == 0.0
    assert "no GPU" in plan.warnings[0]


def test_refusals_say_what_would_work():
    mac = refusal(model="gpt-oss-120b", accelerator="m3-pro-36gb")
    assert "needs about 61.9 GiB" in mac and "serve gpt-oss-20b" in mac and "m3-max-128gb" in mac
    gpu = refusal(model="gpt-oss-120b", accelerator="rtx4090", host_memory_gib=32)
    assert "30.0 GiB of RAM" in gpu and "--gpus 3" in gpu and "GiB of RAM or more" in gpu
    assert "cpu-64gb" in refusal(accelerator="cpu")
    assert "gpt-oss-20b or gpt-oss-120b" in refusal(model="gpt-oss-tiny", accelerator="rtx4090")


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"context_length": 100}, "1024..131072"),
        ({"num_parallel": 0}, "1 to 16"),
        ({"keep_alive": "5 minutes"}, "30m"),
        ({"host": "localhost"}, "IP address"),
        ({"port": 70000}, "TCP port"),
        ({"models_dir": "models"}, "absolute path"),
        ({"host_memory_gib": -1}, "RAM"),
        ({"accelerator": "m4-max-64gb", "host_memory_gib": 64}, "drop --host-memory-gib"),
        ({"accelerator": "m4-max-64gb", "gpus": 2}, "--gpus 1"),
        ({"extra_env": {"OLLAMA_HOST": "0.0.0.0"}}, "collides with the plan"),
        ({"extra_env": {"BAD-KEY": "1"}}, "not an environment variable name"),
    ],
)
def test_bad_requests_are_refused_with_a_sentence(kw, needle):
    assert needle in refusal(**kw)


def test_every_catalog_machine_either_plans_or_refuses_with_a_sentence():
    for model in ("gpt-oss-20b", "gpt-oss-120b"):
        for key in ACCELERATORS:
            try:
                plan = ollama(model, key)
            except PlanError as err:
                assert str(err).endswith(tuple("abcdefghijklmnopqrstuvwxyz0123456789)")), str(err)
                continue
            assert plan.context_length in CONTEXT_LADDER and 1 <= plan.num_parallel <= 4
            assert plan.memory.total_gib <= plan.memory.gpu_budget_gib or plan.placement != "gpu"


def test_vllm_refuses_apple_silicon_and_cpu_only_machines_pointing_to_ollama():
    for key in ("m4-max-64gb", "cpu-64gb"):
        with pytest.raises(PlanError, match=f"--runtime ollama --model gpt-oss-20b --gpu {key}"):
            plan_serving(PlanRequest(model="gpt-oss-20b", accelerator=key))


def test_vllm_plans_for_the_existing_catalog_keys_are_unchanged_by_the_new_machines():
    # The consumer cards are new keys; the old ones plan as before (same TP, same KV cache).
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="rtx4090"))
    # 225,725 tokens since the memory math counts batched tokens and sequences (serving/memory.py).
    assert plan.tensor_parallel_size == 1 and plan.memory.kv_cache_tokens == 225725
    assert plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="rtx3090")).tensor_parallel_size == 1


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_has_the_ollama_contract(capsys):
    code, out, err = run_cli(
        capsys,
        "plan",
        "--runtime",
        "ollama",
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "rtx4090",
        "--format",
        "json",
    )
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["runtime"] == "ollama" and data["ollama_tag"] == "gpt-oss:20b"
    assert {
        "OLLAMA_HOST",
        "OLLAMA_MODELS",
        "OLLAMA_CONTEXT_LENGTH",
        "OLLAMA_NUM_PARALLEL",
        "OLLAMA_KEEP_ALIVE",
    } <= set(data["env"])
    assert data["env"]["OLLAMA_MODELS"] == "/var/lib/ollama/models"
    assert data["memory"]["math"] and isinstance(data["warnings"], list)


def test_cli_table_shows_the_math_and_the_pull(capsys):
    code, out, _ = run_cli(
        capsys, "plan", "--runtime", "ollama", "--model", "gpt-oss-120b", "--gpu", "m4-max-128gb"
    )
    assert code == 0 and "memory math:" in out and "ollama pull gpt-oss:120b" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--runtime", "ollama", "--goal", "latency"], "--goal is a vLLM option"),
        (["--runtime", "ollama", "--max-model-len", "4096"], "use --context-length"),
        (["--context-length", "4096"], "add --runtime ollama"),
        (["--runtime", "ollama", "--gpu", "m3-pro-36gb", "--model", "gpt-oss-120b"], "serve gpt-oss-20b"),
    ],
)
def test_cli_errors_are_one_sentence_on_stderr_with_exit_2(capsys, argv, needle):
    base = ["plan", "--model", "gpt-oss-20b", "--gpu", "rtx4090"]
    code, out, err = run_cli(capsys, *base, *argv)
    assert code == 2 and out == "" and needle in err and "Traceback" not in err
