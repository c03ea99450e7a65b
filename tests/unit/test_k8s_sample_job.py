"""The sampling Job on the model cache volume: schema-valid, the plan's engine in the server's image and
placement, the shipped sampler from a ConfigMap, no Secret, and outside `kubectl apply -k`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from gptoss.cli import main
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.objects import build_objects
from targets.kubernetes.sample import BATCH_DIR, SAMPLER_MOUNT, sample_objects
from targets.kubernetes.settings import SettingsError, for_kubernetes
from targets.sample import SAMPLER_PACKAGE, engine_argv, sampler_sources
from tests.unit.k8s_support import PLAN_CONFIGS, plan_for

K8S_VERSIONS = ("1.30", "1.34")


@pytest.fixture(params=sorted(PLAN_CONFIGS))
def case(request):
    plan = plan_for(request.param)
    settings = settings_from_values({})
    config_map, job = sample_objects(plan, settings, "evals-1")
    deployment = next(o for o in build_objects(plan, settings) if o["kind"] == "Deployment")
    return request.param, plan, config_map, job, deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_config_map_and_job_pass_strict_schema(case, version):
    name, _, config_map, job, _ = case
    for obj in (config_map, job):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{name}: {obj['kind']} invalid for {version}: {err.message}")


def test_job_runs_the_shipped_sampler_with_the_plans_engine_on_the_cache(case):
    _, plan, config_map, job, _ = case
    container = job["spec"]["template"]["spec"]["containers"][0]
    kplan = for_kubernetes(plan)
    assert container["command"] == [
        "python3",
        "-m",
        SAMPLER_PACKAGE,
        "--batch-dir",
        BATCH_DIR,
        "--batch",
        "evals-1",
        "--",
        *engine_argv(kplan),
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {**kplan.env, "HOME": "/home/gptoss", "PYTHONPATH": SAMPLER_MOUNT}
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_HOME"].startswith("/models/")
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    # python3 -m gptoss_sampler finds the package at PYTHONPATH/gptoss_sampler: the ConfigMap's mount
    assert mounts["sampler"] == {
        "name": "sampler",
        "mountPath": f"{SAMPLER_MOUNT}/{SAMPLER_PACKAGE}",
        "readOnly": True,
    }
    assert mounts["models"]["mountPath"] == "/models" and BATCH_DIR.startswith("/models/")
    assert config_map["data"] == sampler_sources()
    assert len(json.dumps(config_map["data"])) < 1024 * 1024  # a ConfigMap's limit


def test_job_asks_for_one_engine_like_a_server_pod_and_lands_where_servers_do(case):
    name, plan, _, job, server_pod = case
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    server = server_pod["containers"][0]
    assert container["resources"] == server["resources"]
    if plan.accelerator.k8s_resource:
        assert container["resources"]["limits"][plan.accelerator.k8s_resource] == str(
            plan.tensor_parallel_size
        )
    for key in ("securityContext", "affinity", "tolerations", "nodeSelector", "serviceAccountName"):
        assert spec.get(key) == server_pod.get(key), f"{name}: {key}"
    assert container["securityContext"] == server["securityContext"]
    assert spec["initContainers"] == server_pod["initContainers"]  # waits for the same staged weights
    server_volumes = {v["name"]: v for v in server_pod["volumes"]}
    for volume in spec["volumes"]:
        if volume["name"] != "sampler":
            assert volume == server_volumes[volume["name"]]  # the same cache claim, /dev/shm for TP
    assert spec["enableServiceLinks"] is False and spec["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 0


def test_no_secret_reaches_the_job(case):
    _, _, config_map, job, _ = case
    text = json.dumps([config_map, job])
    assert "secretKeyRef" not in text and "VLLM_API_KEY" not in text


@pytest.mark.parametrize(
    ("batch", "fragment"),
    [
        ("Evals", "lowercase letters"),
        ("evals_1", "lowercase letters"),
        ("-evals", "lowercase letters"),
        ("../x", "lowercase letters"),
        ("e" * 60, "longer than 63 characters"),
    ],
)
def test_batch_names_that_cannot_name_a_job_or_a_file_are_refused(batch, fragment):
    with pytest.raises(SettingsError, match=fragment):
        sample_objects(plan_for("120b-h100"), settings_from_values({}), batch)


def test_render_k8s_writes_the_job_beside_the_service_but_not_into_kustomization(tmp_path, capsys):
    argv = [
        "render",
        "k8s",
        "--out",
        str(tmp_path),
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "l4",
        "--sample-batch",
        "nightly",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "sample-job-nightly.yaml") in printed
    kustomization = yaml.safe_load((tmp_path / "kustomization.yaml").read_text())
    assert not [r for r in kustomization["resources"] if "sample" in r]
    job = yaml.safe_load((tmp_path / "sample-job-nightly.yaml").read_text())
    assert job["metadata"]["name"] == "gptoss-sample-nightly"
    config_map = yaml.safe_load((tmp_path / "sampler-configmap.yaml").read_text())
    assert config_map["data"] == sampler_sources()  # the sources survive the YAML round trip


def test_the_config_maps_files_run_as_the_jobs_command_says(tmp_path):
    """Lay the ConfigMap out as the kubelet mounts it and run the Job's command (a dry run: no GPU here)."""
    plan, settings = plan_for("20b-l4"), settings_from_values({})
    config_map, job = sample_objects(plan, settings, "smoke")
    container = job["spec"]["template"]["spec"]["containers"][0]
    root = tmp_path / SAMPLER_MOUNT.lstrip("/")
    package = root / SAMPLER_PACKAGE
    package.mkdir(parents=True)
    for name, text in config_map["data"].items():
        (package / name).write_text(text)
    batch_dir = tmp_path / BATCH_DIR.lstrip("/")
    batch_dir.mkdir(parents=True)
    (batch_dir / "smoke.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"
    )
    command = [str(tmp_path) + a if a == BATCH_DIR else a for a in container["command"]]
    cut = command.index("--")
    command[cut:cut] = ["--dry-run"]  # render and validate, start no engine: no GPU here
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 conversation(s) valid")
    assert proc.stdout.rstrip().endswith("engine arguments: " + " ".join(engine_argv(for_kubernetes(plan))))
