"""`gptoss render k8s`: the builder's objects as YAML files plus a kustomization.yaml.

Same objects as `pulumi up` registers (targets/kubernetes/objects.py is the one builder). Secrets are not written: the
objects reference `<name>-api-key` (key `api-key`), which you create with kubectl (docs/kubernetes.md).
The smoke Job (when smokeJob is set) is written next to the others but left out of kustomization.yaml: `kubectl apply -k` would
start it while the weights are still downloading. Apply it after `kubectl rollout status` (Pulumi orders
it after the rollout itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from serving import Plan
from targets.files import prepare_out_dir, write_file
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.objects import build_objects, object_key
from targets.kubernetes.settings import K8sSettings

KUSTOMIZATION = "kustomization.yaml"
SMOKE_JOB_FILE = "smoke-job.yaml"


def is_smoke_job(obj: Mapping[str, Any]) -> bool:
    return obj["kind"] == "Job" and obj["metadata"]["labels"].get("app.kubernetes.io/component") == "smoke"


def default_settings(namespace: str = "gptoss", **overrides: Any) -> K8sSettings:
    """Cluster settings with the defaults of targets/kubernetes/config.py, for the YAML path."""
    return settings_from_values({"namespace": namespace, **overrides})


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the inline scripts) as literal blocks, so the YAML reads like the source."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj: Mapping[str, Any]) -> str:
    return yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, width=110, default_flow_style=False)


def write_kubernetes(
    plan: Plan, out_dir: str | Path, namespace: str = "gptoss", settings: K8sSettings | None = None
) -> list[Path]:
    """Write one file per object and a kustomization.yaml listing them; returns the paths written."""
    settings = settings or default_settings(namespace)
    objects = build_objects(plan, settings)
    out = prepare_out_dir(out_dir)
    written: list[Path] = []
    resources: list[str] = []
    for index, obj in enumerate(objects):
        if is_smoke_job(obj):
            path = out / SMOKE_JOB_FILE
        else:
            path = out / f"{index:02d}-{object_key(obj)}.yaml"
            resources.append(path.name)
        written.append(write_file(path, dump(obj)))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    written.append(write_file(out / KUSTOMIZATION, dump(kustomization)))
    return written


def read_objects(out_dir: str | Path) -> list[dict[str, Any]]:
    """The objects a rendered directory holds, in apply order (the smoke Job last, when present)."""
    out = Path(out_dir)
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    names = [*kustomization["resources"], *([SMOKE_JOB_FILE] if (out / SMOKE_JOB_FILE).exists() else [])]
    return [yaml.safe_load((out / name).read_text()) for name in names]
