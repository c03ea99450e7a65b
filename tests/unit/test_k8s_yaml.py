"""`gptoss render k8s`: files kustomize can build, equal to the builder's objects; the config surface."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gptoss.cli import main as gptoss_main
from infra.config import PROJECT, SECRET_KEYS, STACK_KEYS, STACK_KEYS_BY_NAME, pulumi_yaml
from serving import PlanRequest, plan_serving
from targets.kubernetes.config import KEYS_BY_NAME, settings_from_values
from targets.kubernetes.objects import build_objects, object_key
from targets.kubernetes.yaml import KUSTOMIZATION, SMOKE_JOB_FILE, read_objects, write_kubernetes

REPO = Path(__file__).resolve().parents[2]
RENDER_ARGS = ["--model", "gpt-oss-120b", "--gpu", "h100", "--gpus", "4", "--goal", "latency"]


def render(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "k8s"
    assert gptoss_main(["render", "k8s", "--out", str(out), *RENDER_ARGS, *extra]) == 0
    return out


def test_render_writes_every_object_and_a_kustomization(tmp_path):
    out = render(tmp_path, "--namespace", "llm")
    plan = plan_serving(
        PlanRequest(model="gpt-oss-120b", accelerator="h100", gpus_per_host=4, goal="latency")
    )
    expected = build_objects(plan, settings_from_values({"namespace": "llm"}))
    assert [object_key(o) for o in read_objects(out)] == [object_key(o) for o in expected]
    assert read_objects(out) == expected
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    assert SMOKE_JOB_FILE not in kustomization["resources"], "the smoke Job is applied after the rollout"
    assert all(o["metadata"].get("namespace", "llm") == "llm" for o in expected)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (kubectl kustomize)")
def test_kubectl_kustomize_builds_the_output(tmp_path):
    out = render(tmp_path)
    result = subprocess.run(["kubectl", "kustomize", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    built = {object_key(o): o for o in yaml.safe_load_all(result.stdout)}
    listed = {object_key(o): o for o in read_objects(out) if o["metadata"]["name"] != "gptoss-smoke"}
    assert built == listed


def test_write_kubernetes_returns_the_paths_it_wrote(tmp_path):
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="l4", max_model_len=32768))
    written = write_kubernetes(plan, tmp_path / "out", namespace="a")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in written)
    assert written[-1].name == KUSTOMIZATION


def test_pulumi_yaml_is_generated_from_the_config_keys():
    text = (REPO / "Pulumi.yaml").read_text()
    assert text == pulumi_yaml(), "Pulumi.yaml is stale: uv run python -m infra.config > Pulumi.yaml"
    doc = yaml.safe_load(text)
    assert doc["name"] == PROJECT and doc["main"] == "infra/"
    assert doc["runtime"]["name"] == "python"
    for key in STACK_KEYS:
        declared = doc["config"][key.name]
        assert declared["description"], key.name
        assert declared["default"] == key.default and declared["type"] == key.type
    for secret in SECRET_KEYS:
        assert secret not in doc["config"] and f"#   {secret}:" in text


def test_defaults_build_a_plan_and_settings():
    settings = settings_from_values({})
    assert settings.namespace == KEYS_BY_NAME["namespace"].default
    assert settings.api_key_secret.name == f"{KEYS_BY_NAME['name'].default}-api-key"


def test_example_stack_uses_only_declared_keys():
    doc = yaml.safe_load((REPO / "Pulumi.example.yaml").read_text())
    values = {}
    for full, value in doc["config"].items():
        namespace, key = full.split(":", 1)
        if namespace == PROJECT:
            assert key in STACK_KEYS_BY_NAME or key in SECRET_KEYS, f"Pulumi.example.yaml: unknown key {key}"
            values[key] = value
    assert "apiKey" not in values, "a plain-text API key in an example teaches the wrong thing"
    settings = settings_from_values(values)
    from targets.kubernetes.config import plan_request

    assert build_objects(plan_serving(plan_request(values)), settings)
