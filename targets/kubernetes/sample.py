"""A sampling batch as a Kubernetes Job on the model cache volume (`gptoss render k8s --sample-batch NAME`).

The Job runs the shipped sampler (`python3 -m gptoss_sampler`, mounted from a ConfigMap) in the plan's
vLLM image with the plan's engine arguments and environment, asking for one engine's GPUs like a server
pod, so it runs on free GPUs (or after the Deployment is scaled down by one). It reads
`/models/sample/NAME.jsonl` from the cache volume and writes `/models/sample/NAME.results.jsonl` there;
the weights and the tokenizer file are the ones the download Job staged. No Secret is referenced: the
library engine serves nothing. Not part of `build_objects` (nor of `pulumi up`): a batch is a run, not
infrastructure.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from serving import Plan
from targets.kubernetes.objects import (
    _env_list,
    container_security_context,
    engine_mounts,
    engine_resources,
    engine_volumes,
    labels,
    metadata,
    names,
    placement,
    pod_security_context,
    wait_for_weights_container,
)
from targets.kubernetes.settings import (
    HOME_MOUNT,
    MODELS_MOUNT,
    K8sSettings,
    SettingsError,
    for_kubernetes,
    server_image,
    validate,
)
from targets.sample import SAMPLER_PACKAGE, engine_argv, sampler_sources

BATCH_DIR = f"{MODELS_MOUNT}/sample"
SAMPLER_MOUNT = "/opt/gptoss/lib"  # PYTHONPATH; the ConfigMap is mounted as the package below it
COMPONENT = "sample"
# A batch name is a DNS label (it ends the Job's name) and a plain file name (NAME.jsonl).
BATCH_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_JOB_NAME = 63  # the job-name label Kubernetes puts on the Job's pods is a label value


def job_name(settings: K8sSettings, batch: str) -> str:
    return f"{names(settings)['server']}-sample-{batch}"


def sampler_config_map_name(settings: K8sSettings) -> str:
    return f"{names(settings)['server']}-sampler"


def check_batch(settings: K8sSettings, batch: str) -> None:
    if not BATCH_NAME.match(batch):
        raise SettingsError(
            f"sample batch {batch!r}: use lowercase letters, digits and '-', starting and ending with a "
            "letter or digit (it names the Job and the file NAME.jsonl)"
        )
    if len(job_name(settings, batch)) > MAX_JOB_NAME:
        raise SettingsError(
            f"sample batch {batch!r} makes the Job name {job_name(settings, batch)!r} longer than "
            f"{MAX_JOB_NAME} characters: use a shorter batch name"
        )


def sampler_config_map_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """The sampler package, file by file (about 40 kB; a ConfigMap holds up to 1 MiB)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(settings, sampler_config_map_name(settings), COMPONENT, plan),
        "data": sampler_sources(),
    }


def sample_job_object(plan: Plan, settings: K8sSettings, batch: str) -> dict[str, Any]:
    check_batch(settings, batch)
    plan = for_kubernetes(plan)
    env = [
        *_env_list(plan.env),
        {"name": "HOME", "value": HOME_MOUNT},
        {"name": "PYTHONPATH", "value": SAMPLER_MOUNT},
    ]
    container = {
        "name": "sample",
        "image": server_image(plan, settings),
        "imagePullPolicy": "IfNotPresent",
        # `command` replaces the image's `vllm serve` entrypoint.
        "command": [
            "python3",
            "-m",
            SAMPLER_PACKAGE,
            "--batch-dir",
            BATCH_DIR,
            "--batch",
            batch,
            "--",
            *engine_argv(plan),
        ],
        "env": env,
        "resources": engine_resources(plan),
        "securityContext": container_security_context(plan, settings),
        "volumeMounts": [
            *engine_mounts(plan),
            {"name": "sampler", "mountPath": f"{SAMPLER_MOUNT}/{SAMPLER_PACKAGE}", "readOnly": True},
        ],
    }
    sampler_volume = {"name": "sampler", "configMap": {"name": sampler_config_map_name(settings)}}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names(settings)["service_account"],
        "automountServiceAccountToken": False,
        # A Service named e.g. `vllm` would inject VLLM_PORT=tcp://..., which vLLM reads as its own setting.
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(plan, settings),
        **placement(plan, settings),
        "initContainers": [wait_for_weights_container(plan, settings)],
        "containers": [container],
        "volumes": [*engine_volumes(plan, settings), sampler_volume],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(settings, job_name(settings, batch), COMPONENT, plan),
        "spec": {
            # A failed batch is a finding (bad input exits 2, rows with errors 1): rerunning changes nothing.
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels(settings, COMPONENT, plan)}, "spec": pod_spec},
        },
    }


def sample_objects(plan: Plan, settings: K8sSettings, batch: str) -> list[dict[str, Any]]:
    """The sampler ConfigMap and the batch's Job, in apply order; refuses what cannot work first."""
    check_batch(settings, batch)
    validate(for_kubernetes(plan), settings)
    return [sampler_config_map_object(plan, settings), sample_job_object(plan, settings, batch)]


CONFIG_MAP_FILE = "sampler-configmap.yaml"


def write_sample(plan: Plan, out_dir: str | Path, settings: K8sSettings, batch: str) -> list[Path]:
    """The ConfigMap and the Job as YAML next to the rendered service, outside kustomization.yaml
    (`kubectl apply -k` would start a batch on every apply): `kubectl apply -f` each when the input is there."""
    from targets.kubernetes.yaml import dump

    config_map, job = sample_objects(plan, settings, batch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, obj in ((out / CONFIG_MAP_FILE, config_map), (out / f"sample-job-{batch}.yaml", job)):
        path.write_text(dump(obj))
        written.append(path)
    return written
