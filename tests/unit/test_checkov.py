"""checkov over the rendered Kubernetes YAML: every finding is an accepted one, with its reason
(targets/kubernetes/accepted_checks.py), and every accepted one still occurs where it says.

Marked e2e: checkov lives in its own venv (scripts/checkov-venv, ~290 MB) and CI must not skip this
(tests/conftest.py turns the skip into a failure there). GPTOSS_BUILD_VENVS=1 builds the venv on demand.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from serving import PlanRequest, plan_serving
from targets.kubernetes.accepted_checks import ACCEPTED_CHECKS
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.settings import K8S_PATHS
from targets.kubernetes.yaml import write_kubernetes

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "checkov-venv"
SMOKE = {"smokeJob": True, "smokeImage": "registry.example/gptoss-smoke:0.1.0"}
FULL = {
    **SMOKE,
    "monitoring": True,
    "autoscaling": True,
    "autoscalingMaxReplicas": 8,
    "hfTokenSecretName": "hf",
}
DIGEST = "sha256:" + "0123456789abcdef" * 4
VARIANTS = {
    "nvidia": (dict(model="gpt-oss-120b", accelerator="h100", gpus_per_host=8, goal="throughput"), FULL),
    "amd": (dict(model="gpt-oss-120b", accelerator="mi300x", gpus_per_host=8, goal="latency"), FULL),
    "cpu": (dict(model="gpt-oss-tiny", accelerator="cpu"), SMOKE),
    "digests": (
        dict(model="gpt-oss-20b", accelerator="h100"),
        {**FULL, "imageDigest": DIGEST, "smokeImageDigest": DIGEST},
    ),
    "local-weights": (dict(model="gpt-oss-20b", accelerator="l4", model_source="/models/gpt-oss-20b"), SMOKE),
    "smoke-from-index": (
        dict(model="gpt-oss-20b", accelerator="h100"),
        {
            **SMOKE,
            "smokeImage": "python:3.11.13-slim-bookworm",
            "smokePackage": "gptoss-vllm==0.1.0",
            "smokeInstallFromIndex": True,
        },
    ),
}


def checkov_venv() -> Path:
    done = subprocess.run(["bash", str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return Path(done.stdout.strip().splitlines()[-1])
    if os.environ.get("GPTOSS_BUILD_VENVS") != "1":
        pytest.skip(
            "checkov venv is missing: build it with scripts/checkov-venv (about 2 minutes, 290 MB), "
            "or set GPTOSS_BUILD_VENVS=1"
        )
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> dict[str, list[tuple[str, str]]]:
    """{variant: [(check id, object kind)]} for every failed check."""
    venv = checkov_venv()
    root = tmp_path_factory.mktemp("rendered")
    for name, (request, values) in VARIANTS.items():
        plan = plan_serving(PlanRequest(**request, paths=K8S_PATHS))
        write_kubernetes(plan, root / name, settings=settings_from_values(values))
    done = subprocess.run(
        [
            str(venv / "bin" / "checkov"),
            "-d",
            str(root),
            "--framework",
            "kubernetes",
            "--quiet",
            "--compact",
            "--skip-download",
            "--soft-fail",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout)
    results = report if isinstance(report, list) else [report]
    found: dict[str, list[tuple[str, str]]] = {name: [] for name in VARIANTS}
    passed = 0
    for result in results:
        passed += result["summary"]["passed"]
        for check in result["results"]["failed_checks"]:
            variant = Path(check["file_path"]).parts[1]
            found[variant].append((check["check_id"], check["resource"].split(".")[0]))
    assert passed > 100, f"checkov passed only {passed} checks: did it read the files?"
    return found


def test_every_finding_is_accepted_with_a_reason(findings):
    accepted = {a.check_id: a for a in ACCEPTED_CHECKS}
    unexpected = []
    for variant, checks in findings.items():
        for check_id, kind in checks:
            rule = accepted.get(check_id)
            if rule is None or kind not in rule.kinds:
                unexpected.append(f"{variant}: {check_id} on a {kind}")
            elif rule.where == "amd" and variant != "amd":
                unexpected.append(f"{variant}: {check_id} is accepted for AMD only")
            elif rule.where == "tags" and variant == "digests":
                unexpected.append(f"{variant}: {check_id} despite imageDigest and smokeImageDigest")
    assert not unexpected, "checkov findings without an accepted reason:\n" + "\n".join(unexpected)


def test_every_accepted_check_still_occurs(findings):
    seen = {check_id for checks in findings.values() for check_id, _ in checks}
    stale = [a.check_id for a in ACCEPTED_CHECKS if a.check_id not in seen]
    assert not stale, f"accepted checks checkov no longer reports (drop them): {stale}"
