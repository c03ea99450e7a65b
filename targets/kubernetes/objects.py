"""The ONE builder of Kubernetes objects for a serving plan. Pure: plan + settings in, plain dicts out.

Pulumi (`infra/component.py`) registers these dicts and `gptoss render k8s` (`targets/kubernetes/yaml.py`) writes
them as YAML, so both paths deploy the same thing. Nothing here reads config, the environment or files,
and no secret value ever passes through: secrets are referenced by Secret name and key only.

Design choices (explained for users in docs/kubernetes.md):
- One ReadWriteMany PVC holds the weights, the tokenizer file and vLLM's compile cache. A download Job fills
  it once; servers wait in an init container until the Job's marker file exists, then serve with
  HF_HUB_OFFLINE=1. Per-replica volumes would download 65 GB again for every replica and every reschedule.
- One Deployment, one pod per engine, each pod asking for `tensor_parallel_size` GPUs. Replicas share the
  cache read-write, so nothing needs a StatefulSet's stable identity.
- The API key reaches vLLM only as `VLLM_API_KEY` from a secretKeyRef. Kubernetes httpGet probes cannot
  take a header from a Secret, so readiness is an exec probe generated from the plan's ReadinessSpec (the
  same contract as smoke.readiness): it reads the key from the container's own environment, asks `/health`,
  then `/v1/models` for the served name; startup and liveness use the open `/health`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from serving import VLLM_VERSION, Plan, ValueRefused, readiness_for
from serving.validate import control_character
from targets.kubernetes.scripts import (
    DOWNLOAD_SCRIPT,
    SMOKE_SCRIPT,
    WAIT_FOR_WEIGHTS_SCRIPT,
    readiness_command,
)
from targets.kubernetes.settings import (
    HOME_MOUNT,
    MODELS_MOUNT,
    STAGED_MARKER_DIR,
    K8sSettings,
    SecretRef,
    accelerator_profile,
    for_kubernetes,
    server_image,
    smoke_image,
    validate,
)
from targets.monitoring.dashboard import FILENAME as DASHBOARD_FILE
from targets.monitoring.dashboard import dashboard_json, dashboard_options
from targets.monitoring.rules import SCRAPE_INTERVAL, rule_groups, rule_options

TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
# The HF repos also carry `original/` (a second copy of the weights) and `metal/`: vLLM reads neither.
DOWNLOAD_IGNORE_PATTERNS = ("original/*", "metal/*")

# 10000 and up: outside the ranges images and hosts hand to their own users, so a container escape lands
# on no existing account. The vLLM images run as any UID with HOME set.
NON_ROOT_UID = 10001
# Deployment progress may include pulling a ~10 GB image and waiting for the weight download.
PROGRESS_MARGIN_S = 3600
STARTUP_PROBE_PERIOD_S = 10
TERMINATION_GRACE_S = 120
PRESTOP_SLEEP_S = 15  # let endpoints drop the pod before vLLM stops taking requests
CPU_PER_GPU = 4
MEMORY_GIB_PER_GPU = 16
# Small containers: requests and limits (a runaway loop or download cannot starve the node).
DOWNLOAD_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
INIT_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
SMOKE_RESOURCES = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
# Every container's root filesystem is read-only; what they write goes to these emptyDirs (and the cache PVC).
TMP_MOUNT = "/tmp"
# The weights, plus headroom for a second revision, the tokenizer and the compile cache.
CACHE_HEADROOM_GIB = 30

APP_NAME = "gpt-oss"
PART_OF = "gptoss-vllm"
MANAGED_BY = "gptoss"


# ---------------------------------------------------------------------------------------------- helpers


def labels(settings: K8sSettings, component: str, plan: Plan) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": settings.name,
        "app.kubernetes.io/version": f"vllm-{VLLM_VERSION}",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "gptoss/model": plan.model.key,
        "gptoss/accelerator": plan.accelerator.key,
        **dict(settings.extra_labels),
    }


def selector(settings: K8sSettings, component: str) -> dict[str, str]:
    """The immutable subset of labels that selects a component's pods."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": settings.name,
        "app.kubernetes.io/component": component,
    }


def metadata(settings: K8sSettings, name: str, component: str, plan: Plan) -> dict[str, Any]:
    return {"name": name, "namespace": settings.namespace, "labels": labels(settings, component, plan)}


def names(settings: K8sSettings) -> dict[str, str]:
    n = settings.name
    return {
        "service_account": n,
        "cache": f"{n}-models",
        "download": f"{n}-download",
        "server": n,
        "service": n,
        "pdb": n,
        "network_policy": n,
        "download_policy": f"{n}-download",
        "smoke_policy": f"{n}-smoke",
        "service_monitor": n,
        "prometheus_rule": n,
        "dashboard": f"{n}-dashboard",
        "scaled_object": n,
        "smoke": f"{n}-smoke",
    }


def service_url(plan: Plan, settings: K8sSettings) -> str:
    return f"http://{settings.name}.{settings.namespace}.svc.cluster.local:{plan.request.port}/v1"


def staged_marker(plan: Plan) -> str:
    """The file the download Job writes once every id of `plan.hub_sources` is on the volume."""
    return f"{STAGED_MARKER_DIR}/{'+'.join(s.replace('/', '--') for s in plan.hub_sources)}"


def staged_markers(plan: Plan) -> tuple[str, ...]:
    """The files whose presence means every checkpoint the engines load is on the volume: a local model
    directory's config.json, and the download Job's marker."""
    local = [f"{s.rstrip('/')}/config.json" for s in plan.weights_sources if s.startswith("/")]
    return (*local, *((staged_marker(plan),) if plan.hub_sources else ()))


def needs_download(plan: Plan) -> bool:
    return bool(plan.hub_sources)


def cache_size_gib(plan: Plan, settings: K8sSettings) -> int:
    return settings.cache_size_gib or int(math.ceil(plan.weights_gib * 1.2) + CACHE_HEADROOM_GIB)


def _secret_env(name: str, ref: SecretRef, optional: bool = False) -> dict[str, Any]:
    key_ref: dict[str, Any] = {"name": ref.name, "key": ref.key}
    if optional:
        key_ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": key_ref}}


def _env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def _run_as_non_root(plan: Plan, settings: K8sSettings, uses_gpu: bool = True) -> bool:
    """The accelerator profile's choice for pods that open GPUs (ROCm wants root); pods that open none
    (the download Job) run as non-root unless runAsNonRoot is false."""
    if settings.run_as_non_root is not None:
        return settings.run_as_non_root
    return not uses_gpu or accelerator_profile(plan, settings.gpu_labels).run_as_non_root


def pod_security_context(plan: Plan, settings: K8sSettings, uses_gpu: bool = True) -> dict[str, Any]:
    ctx: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if _run_as_non_root(plan, settings, uses_gpu):
        ctx |= {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_UID,
            "runAsGroup": NON_ROOT_UID,
            "fsGroup": NON_ROOT_UID,
            # Re-chowning 65 GB on every mount would stall each start: only when the root dir differs.
            "fsGroupChangePolicy": "OnRootMismatch",
        }
    return ctx


def container_security_context(plan: Plan, settings: K8sSettings, uses_gpu: bool = True) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        # vLLM, torch and the HF client write only to HOME, /tmp and the cache volume: all mounted.
        "readOnlyRootFilesystem": True,
    }
    if _run_as_non_root(plan, settings, uses_gpu):
        ctx["runAsNonRoot"] = True
    return ctx


def placement(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """nodeSelector/affinity and tolerations: the profile's unless the settings override them."""
    profile = accelerator_profile(plan, settings.gpu_labels)
    out: dict[str, Any] = {}
    if settings.node_selector is not None:
        if settings.node_selector:
            out["nodeSelector"] = dict(settings.node_selector)
    elif profile.node_affinity:
        out["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": key, "operator": "In", "values": list(values)}
                                for key, values in profile.node_affinity
                            ]
                        }
                    ]
                }
            }
        }
    tolerations = profile.tolerations if settings.tolerations is None else settings.tolerations
    if tolerations:
        out["tolerations"] = [dict(t) for t in tolerations]
    return out


# ---------------------------------------------------------------------------------------------- objects


def namespace_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    level = "restricted" if _run_as_non_root(plan, settings) else "baseline"
    meta = {"name": settings.namespace, "labels": labels(settings, "namespace", plan)}
    # Pod Security Admission enforces what the pods promise: restricted when they run as non-root.
    meta["labels"] |= {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/warn": level}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(settings, names(settings)["service_account"], "server", plan),
        # Nothing here talks to the Kubernetes API.
        "automountServiceAccountToken": False,
    }


def cache_pvc_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [settings.cache_access_mode],
        "resources": {"requests": {"storage": f"{cache_size_gib(plan, settings)}Gi"}},
    }
    if settings.cache_storage_class:
        spec["storageClassName"] = settings.cache_storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(settings, names(settings)["cache"], "model-cache", plan),
        "spec": spec,
    }


def _cache_volume(settings: K8sSettings) -> dict[str, Any]:
    return {"name": "models", "persistentVolumeClaim": {"claimName": names(settings)["cache"]}}


def download_job_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    image = server_image(plan, settings)
    env = [
        {"name": "HF_HOME", "value": plan.env["HF_HOME"]},
        {"name": "TIKTOKEN_ENCODINGS_BASE", "value": plan.env["TIKTOKEN_ENCODINGS_BASE"]},
        {"name": "HOME", "value": HOME_MOUNT},
        {"name": "GPTOSS_MODEL_SOURCES", "value": "\n".join(plan.hub_sources)},
        {"name": "GPTOSS_IGNORE", "value": ",".join(DOWNLOAD_IGNORE_PATTERNS)},
        {"name": "GPTOSS_TIKTOKEN_URL", "value": TIKTOKEN_URL},
        {"name": "GPTOSS_STAGED_MARKER", "value": staged_marker(plan)},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
    ]
    if settings.hf_token_secret:
        env.append(_secret_env("HF_TOKEN", settings.hf_token_secret))
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names(settings)["service_account"],
        "automountServiceAccountToken": False,
        "restartPolicy": "OnFailure",
        "securityContext": pod_security_context(plan, settings, uses_gpu=False),
        # Same placement as the servers: the Job pulls the server image onto the GPU nodes it will run on.
        **placement(plan, settings),
        "containers": [
            {
                "name": "download",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python3", "-c", DOWNLOAD_SCRIPT],
                "env": env,
                "resources": DOWNLOAD_RESOURCES,
                "securityContext": container_security_context(plan, settings, uses_gpu=False),
                "volumeMounts": [
                    {"name": "models", "mountPath": MODELS_MOUNT},
                    {"name": "home", "mountPath": HOME_MOUNT},
                    {"name": "tmp", "mountPath": TMP_MOUNT},
                ],
            }
        ],
        "volumes": [
            _cache_volume(settings),
            {"name": "home", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(settings, names(settings)["download"], "model-download", plan),
        "spec": {
            "backoffLimit": 6,  # a dropped connection resumes: snapshot_download skips finished files
            "template": {
                "metadata": {"labels": labels(settings, "model-download", plan)},
                "spec": pod_spec,
            },
        },
    }


def engine_resources(plan: Plan) -> dict[str, Any]:
    """What one engine of `tensor_parallel_size` GPUs asks for (a server pod, a sampling Job)."""
    tp = plan.tensor_parallel_size
    resource = plan.accelerator.k8s_resource
    requests: dict[str, str] = {
        "cpu": str(CPU_PER_GPU * tp),
        # A memory-backed /dev/shm counts against the pod's memory: request it on top.
        "memory": f"{MEMORY_GIB_PER_GPU * tp + plan.shm_size_gib}Gi",
    }
    limits: dict[str, str] = {}
    if resource:
        # Extended resources need request == limit; one pod is one engine of `tp` GPUs.
        requests[resource] = str(tp)
        limits[resource] = str(tp)
    # Memory limit = request (from the plan's TP size and /dev/shm): the pod is never the first a node under
    # memory pressure evicts, and a leak cannot take the node. No CPU limit: CFS throttling would stall
    # token streaming (accepted checkov CKV_K8S_11).
    limits["memory"] = requests["memory"]
    return {"requests": requests, "limits": limits}


def engine_mounts(plan: Plan) -> list[dict[str, Any]]:
    """The cache volume, a writable home and /tmp (the root filesystem is read-only), and /dev/shm for
    tensor parallelism (see `engine_volumes`)."""
    mounts = [
        {"name": "models", "mountPath": MODELS_MOUNT},
        {"name": "home", "mountPath": HOME_MOUNT},
        {"name": "tmp", "mountPath": TMP_MOUNT},
    ]
    if plan.shm_size_gib:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return mounts


def engine_volumes(plan: Plan, settings: K8sSettings) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        _cache_volume(settings),
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if plan.shm_size_gib:
        volumes.append(
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{plan.shm_size_gib}Gi"}}
        )
    return volumes


def wait_for_weights_container(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """An init container that holds an engine's pod until the weights are staged on the cache."""
    return {
        "name": "wait-for-weights",
        "image": server_image(plan, settings),
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", WAIT_FOR_WEIGHTS_SCRIPT],
        "env": [{"name": "GPTOSS_STAGED_MARKERS", "value": "\n".join(staged_markers(plan))}],
        "resources": INIT_RESOURCES,
        "securityContext": container_security_context(plan, settings),
        "volumeMounts": [{"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True}],
    }


def server_container(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    port = plan.request.port
    resources = engine_resources(plan)
    env = [*_env_list(plan.env), {"name": "HOME", "value": HOME_MOUNT}]
    env.append(_secret_env("VLLM_API_KEY", settings.api_key_secret))
    mounts = engine_mounts(plan)
    startup_failures = math.ceil(plan.startup_timeout_s / STARTUP_PROBE_PERIOD_S)
    ready = readiness_for(plan)
    return {
        "name": "vllm",
        "image": server_image(plan, settings),
        "imagePullPolicy": "IfNotPresent",
        # The plan's argv as is: `command` replaces the image's entrypoint, so nothing is prepended.
        "command": list(plan.engines[0].argv),
        "env": env,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": resources,
        "startupProbe": {
            "httpGet": {"path": ready.health_path, "port": "http"},
            "periodSeconds": STARTUP_PROBE_PERIOD_S,
            "timeoutSeconds": 5,
            "failureThreshold": startup_failures,
        },
        "readinessProbe": {
            "exec": {"command": readiness_command(ready, port)},
            "periodSeconds": 10,
            "timeoutSeconds": 8,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            # /health is open (no key) and answers while the engine loop lives; generous under load.
            "httpGet": {"path": ready.health_path, "port": "http"},
            "periodSeconds": 15,
            "timeoutSeconds": 10,
            "failureThreshold": 4,
        },
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_S)]}}},
        "securityContext": container_security_context(plan, settings),
        "volumeMounts": mounts,
    }


def deployment_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    volumes = engine_volumes(plan, settings)
    init = wait_for_weights_container(plan, settings)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names(settings)["service_account"],
        "automountServiceAccountToken": False,
        # A Service named e.g. `vllm` would inject VLLM_PORT=tcp://..., which vLLM reads as its own setting.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
        "securityContext": pod_security_context(plan, settings),
        **placement(plan, settings),
        "initContainers": [init],
        "containers": [server_container(plan, settings)],
        "volumes": volumes,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(settings, names(settings)["server"], "server", plan),
        "spec": {
            "replicas": plan.total_engines,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": plan.startup_timeout_s + PROGRESS_MARGIN_S,
            # GPUs are scarce: never start a new pod before an old one frees its GPUs.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
            "selector": {"matchLabels": selector(settings, "server")},
            "template": {"metadata": {"labels": labels(settings, "server", plan)}, "spec": pod_spec},
        },
    }


def service_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(settings, names(settings)["service"], "server", plan),
        "spec": {
            "type": settings.service_type,
            "selector": selector(settings, "server"),
            "ports": [{"name": "http", "port": plan.request.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pdb_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(settings, names(settings)["pdb"], "server", plan),
        "spec": {
            # One at a time; a single replica can still be drained (minAvailable 1 would block drains).
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector(settings, "server")},
        },
    }


def network_policy_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [{"podSelector": {}}]  # this namespace, the smoke Job included
    sources += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in settings.allowed_namespaces
    ]
    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(settings, names(settings)["network_policy"], "server", plan),
        "spec": {
            "podSelector": {"matchLabels": selector(settings, "server")},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": plan.request.port}]}],
            # Servers run offline from the staged cache: DNS only, no way out to the internet.
            "egress": [{"ports": dns_ports}],
        },
    }


DNS_EGRESS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def download_network_policy_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """The download Job: nothing may call it; it reaches DNS and HTTPS (Hugging Face, the tokenizer file)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(settings, names(settings)["download_policy"], "model-download", plan),
        "spec": {
            "podSelector": {"matchLabels": selector(settings, "model-download")},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [DNS_EGRESS, {"ports": [{"protocol": "TCP", "port": 443}]}],
        },
    }


def smoke_network_policy_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """The smoke Job: nothing may call it; it reaches DNS and the servers' port, and nothing else (with
    smokeInstallFromIndex also HTTPS, for the package index)."""
    egress: list[dict[str, Any]] = [
        DNS_EGRESS,
        {
            "to": [{"podSelector": {"matchLabels": selector(settings, "server")}}],
            "ports": [{"protocol": "TCP", "port": plan.request.port}],
        },
    ]
    if settings.smoke_install_from_index:
        egress.append({"ports": [{"protocol": "TCP", "port": 443}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(settings, names(settings)["smoke_policy"], "smoke", plan),
        "spec": {
            "podSelector": {"matchLabels": selector(settings, "smoke")},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }


def service_monitor_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(settings, names(settings)["service_monitor"], "server", plan),
        "spec": {
            "selector": {"matchLabels": selector(settings, "server")},
            "namespaceSelector": {"matchNames": [settings.namespace]},
            # vLLM serves Prometheus metrics on /metrics without the API key. The interval is the one the
            # recording rules' 1-minute rates are written for.
            "endpoints": [{"port": "http", "path": "/metrics", "interval": SCRAPE_INTERVAL}],
        },
    }


# The label the Grafana chart's dashboard sidecar (kube-prometheus-stack's default) watches ConfigMaps for.
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"


def prometheus_rule_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """The same recording and alerting rules as bare metal; the Prometheus Operator names the scrape job
    after the Service the ServiceMonitor selects, so that is the engine job the rules select."""
    options = rule_options(plan, engine_job=names(settings)["service"])
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata(settings, names(settings)["prometheus_rule"], "monitoring", plan),
        "spec": {"groups": rule_groups(options)},
    }


def dashboard_config_map_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    """The fleet dashboard for Grafana's sidecar, which imports every ConfigMap labelled grafana_dashboard."""
    meta = metadata(settings, names(settings)["dashboard"], "monitoring", plan)
    meta["labels"][GRAFANA_DASHBOARD_LABEL] = "1"
    board = dashboard_json(dashboard_options(plan, engine_job=names(settings)["service"]))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {DASHBOARD_FILE: json.dumps(board, indent=1, sort_keys=True)},
    }


def scaled_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    auto = settings.autoscaling
    assert auto is not None
    query = (
        f"sum(vllm:num_requests_waiting{{namespace={promql_string(settings.namespace)},"
        f"model_name={promql_string(plan.served_model_name)}}})"
    )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(settings, names(settings)["scaled_object"], "server", plan),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": names(settings)["server"],
            },
            "minReplicaCount": plan.total_engines,
            "maxReplicaCount": auto.max_replicas,
            "pollingInterval": 30,
            # A new replica costs a model load (minutes): scale down slowly so it is not wasted.
            "cooldownPeriod": max(600, plan.startup_timeout_s),
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": auto.prometheus_url,
                        "query": query,
                        "threshold": str(auto.queue_threshold),
                    },
                }
            ],
        },
    }


def promql_string(value: str) -> str:
    """A PromQL string literal (Go escaping): backslash and double quote escaped, no control characters.
    The values are validated names already (namespace, served model name); this keeps the query a query."""
    bad = control_character(value)
    if bad:
        raise ValueRefused(f"a PromQL label value contains the control character {bad}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def smoke_job_object(plan: Plan, settings: K8sSettings) -> dict[str, Any]:
    env = []
    if settings.smoke_install_from_index:  # opted in: the Job installs this pinned requirement first
        env += [
            {"name": "GPTOSS_SMOKE_PACKAGE", "value": settings.smoke_package},
            {"name": "PIP_DISABLE_PIP_VERSION_CHECK", "value": "1"},
        ]
    env += [
        {"name": "GPTOSS_BASE_URL", "value": service_url(plan, settings)},
        {"name": "GPTOSS_MODEL", "value": plan.served_model_name},
        # Enough for a replica that is still loading (kubectl users may start the Job early).
        {"name": "GPTOSS_READY_TIMEOUT", "value": str(plan.startup_timeout_s)},
        {"name": "HOME", "value": TMP_MOUNT},
        _secret_env("OPENAI_API_KEY", settings.api_key_secret),
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(settings, names(settings)["smoke"], "smoke", plan),
        "spec": {
            "backoffLimit": 0,  # a failed smoke run is a finding, not something to retry away
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": labels(settings, "smoke", plan)},
                "spec": {
                    "serviceAccountName": names(settings)["service_account"],
                    "automountServiceAccountToken": False,
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NON_ROOT_UID,
                        "runAsGroup": NON_ROOT_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "smoke",
                            "image": smoke_image(settings),
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", SMOKE_SCRIPT],
                            "env": env,
                            "resources": SMOKE_RESOURCES,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True,
                                "readOnlyRootFilesystem": True,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": TMP_MOUNT}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


@dataclass(frozen=True)
class ServiceObjects:
    """Every object of one gpt-oss service, by role (None: not wanted by these settings). Fields are in
    apply order; the Pulumi component registers each one by its role and names its dependencies."""

    namespace: dict[str, Any] | None
    service_account: dict[str, Any]
    cache_pvc: dict[str, Any]
    download_network_policy: dict[str, Any] | None  # before its Job: the Job never runs unconfined
    download_job: dict[str, Any] | None
    deployment: dict[str, Any]
    service: dict[str, Any]
    disruption_budget: dict[str, Any]
    network_policy: dict[str, Any]
    service_monitor: dict[str, Any] | None
    prometheus_rule: dict[str, Any] | None
    dashboard_config_map: dict[str, Any] | None
    scaled_object: dict[str, Any] | None
    smoke_network_policy: dict[str, Any] | None  # before its Job, as for the download
    smoke_job: dict[str, Any] | None

    def in_apply_order(self) -> list[dict[str, Any]]:
        return [obj for f in fields(self) if (obj := getattr(self, f.name)) is not None]


def service_objects(plan: Plan, settings: K8sSettings) -> ServiceObjects:
    """Every object for one gpt-oss service, by role. Raises SettingsError or PlanError first."""
    plan = for_kubernetes(plan)
    validate(plan, settings)
    return ServiceObjects(
        namespace=namespace_object(plan, settings) if settings.create_namespace else None,
        service_account=service_account_object(plan, settings),
        cache_pvc=cache_pvc_object(plan, settings),
        download_network_policy=download_network_policy_object(plan, settings)
        if needs_download(plan)
        else None,
        download_job=download_job_object(plan, settings) if needs_download(plan) else None,
        deployment=deployment_object(plan, settings),
        service=service_object(plan, settings),
        disruption_budget=pdb_object(plan, settings),
        network_policy=network_policy_object(plan, settings),
        service_monitor=service_monitor_object(plan, settings) if settings.monitoring else None,
        prometheus_rule=prometheus_rule_object(plan, settings) if settings.monitoring else None,
        dashboard_config_map=dashboard_config_map_object(plan, settings) if settings.monitoring else None,
        scaled_object=scaled_object(plan, settings) if settings.autoscaling else None,
        smoke_network_policy=smoke_network_policy_object(plan, settings) if settings.smoke_job else None,
        smoke_job=smoke_job_object(plan, settings) if settings.smoke_job else None,
    )


def build_objects(plan: Plan, settings: K8sSettings) -> list[dict[str, Any]]:
    """Every object for one gpt-oss service, in apply order. Raises SettingsError or PlanError first."""
    return service_objects(plan, settings).in_apply_order()


def object_key(obj: Mapping[str, Any]) -> str:
    """A stable, unique name for an object: `kind/name` (Pulumi's logical name, the YAML file name)."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}"


__all__ = [
    "ServiceObjects",
    "build_objects",
    "labels",
    "object_key",
    "service_objects",
    "service_url",
]
