"""The Kubernetes target's configuration surface: every key, its type, default and description, in ONE place.

`gptoss render k8s --set KEY=VALUE` and the Pulumi stack config (`infra/config.py`, which adds the node-pool
and secret keys and generates `Pulumi.yaml` from these) read the same keys, so the YAML path and
`pulumi up` agree. Reading and checking happen here, before any object is built: a bad value fails with a
sentence that names the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving import PlanError, PlanRequest
from serving.pins import SMOKE_IMAGE
from serving.plan import MAX_GPUS_PER_HOST, resolve_accelerator
from targets.kubernetes.settings import K8S_PATHS, Autoscaling, K8sSettings, SecretRef, SettingsError


def _project_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gptoss-vllm")
    except PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: str  # Pulumi project config types: string, integer, boolean, array (of strings here)
    default: Any
    description: str


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    # --- the serving plan
    ConfigKey("model", "string", "gpt-oss-120b", "Model key: gpt-oss-20b or gpt-oss-120b."),
    ConfigKey(
        "accelerator",
        "string",
        "h100",
        "GPU of the nodes, a catalog key (h100, h200, b200, a100-80gb, l4, l40s, mi300x, ...).",
    ),
    ConfigKey(
        "gpusPerReplica",
        "integer",
        0,
        "GPUs per pod = tensor parallel size (1, 2, 4, 8); 0 lets the plan choose for the goal.",
    ),
    ConfigKey("replicas", "integer", 1, "Server pods, one vLLM engine each."),
    ConfigKey("goal", "string", "balanced", "throughput, latency or balanced: how the plan picks TP."),
    ConfigKey("maxModelLen", "integer", 0, "Context length served; 0 uses the model's full context."),
    ConfigKey(
        "gpuMemoryUtilization",
        "string",
        "",
        "vLLM --gpu-memory-utilization, e.g. 0.92; empty: the plan's (0.9, AMD 0.95).",
    ),
    ConfigKey("servedModelName", "string", "", "Name clients send as `model`; empty: the HF id."),
    ConfigKey("modelSource", "string", "", "Another HF id, or a directory on the cache volume, to load."),
    ConfigKey("extraArgs", "array", [], "More vLLM arguments, one per item; plan-owned flags are refused."),
    ConfigKey("extraEnv", "array", [], "More server environment as KEY=VALUE items (never secrets)."),
    # --- cluster objects
    ConfigKey("name", "string", "gptoss", "Instance name: the Deployment, Service and prefix of the rest."),
    ConfigKey("namespace", "string", "gptoss", "Namespace for every object."),
    ConfigKey("createNamespace", "boolean", True, "Create the namespace (false: it exists already)."),
    ConfigKey("image", "string", "", "Server image override, pinned by tag or digest; empty: the plan's."),
    ConfigKey("cacheStorageClass", "string", "", "StorageClass of the model cache PVC; empty: default."),
    ConfigKey("cacheSizeGi", "integer", 0, "Model cache size in GiB; 0: the weights plus headroom."),
    ConfigKey(
        "cacheAccessMode",
        "string",
        "ReadWriteMany",
        "ReadWriteMany (one download for all replicas) or ReadWriteOnce (1 replica only).",
    ),
    ConfigKey("serviceType", "string", "ClusterIP", "ClusterIP, NodePort or LoadBalancer."),
    ConfigKey(
        "apiKeySecretName",
        "string",
        "",
        "Secret holding the API key: created from the secret `apiKey` when set, else it must exist.",
    ),
    ConfigKey("apiKeySecretKey", "string", "api-key", "Key inside that Secret."),
    ConfigKey(
        "hfTokenSecretName",
        "string",
        "",
        "Secret with a Hugging Face token for the download (created from `hfToken` when set).",
    ),
    ConfigKey("hfTokenSecretKey", "string", "token", "Key inside that Secret."),
    ConfigKey(
        "gpuLabels",
        "string",
        "nvidia-gfd",
        "How pods pick GPU nodes: nvidia-gfd (nvidia.com/gpu.product), gke (gke-accelerator), none.",
    ),
    ConfigKey("nodeSelector", "array", [], "key=value items replacing the GPU node selection."),
    ConfigKey("tolerations", "array", [], "key[=value]:Effect items replacing the GPU taint tolerations."),
    ConfigKey(
        "runAsNonRoot",
        "string",
        "auto",
        "auto (non-root on NVIDIA and CPU, root for ROCm device access), true or false.",
    ),
    ConfigKey("allowedNamespaces", "array", [], "Namespaces whose pods may call the server."),
    ConfigKey("monitoring", "boolean", False, "Create a ServiceMonitor (Prometheus Operator) for /metrics."),
    ConfigKey("autoscaling", "boolean", False, "KEDA ScaledObject on vllm:num_requests_waiting."),
    ConfigKey("autoscalingMaxReplicas", "integer", 4, "Most replicas autoscaling may run."),
    ConfigKey("autoscalingQueueThreshold", "integer", 8, "Waiting requests per replica before scaling out."),
    ConfigKey(
        "prometheusUrl",
        "string",
        "http://prometheus-operated.monitoring.svc:9090",
        "Prometheus KEDA queries.",
    ),
    ConfigKey("smokeJob", "boolean", True, "Run `gptoss smoke` against the Service after the rollout."),
    ConfigKey("smokeImage", "string", SMOKE_IMAGE, "Image of the smoke Job, pinned."),
    ConfigKey(
        "smokePackage",
        "string",
        f"gptoss-vllm=={_project_version()}",
        "pip requirement installing this project in the smoke Job; empty when smokeImage has it.",
    ),
)
KEYS_BY_NAME = {k.name: k for k in CONFIG_KEYS}


class ConfigError(ValueError):
    """Stack configuration that cannot work. The message names the key and what would."""


def defaults() -> dict[str, Any]:
    return {k.name: k.default for k in CONFIG_KEYS}


def _pairs(items: list[str], key: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name:
            raise ConfigError(f"{key} item {item!r} is not key=value")
        out[name] = value
    return out


TOLERATION = re.compile(
    r"^(?P<key>[^=:]+)(=(?P<value>[^:]*))?:(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)$"
)


def parse_toleration(item: str) -> dict[str, str]:
    match = TOLERATION.match(item)
    if not match:
        raise ConfigError(
            f"toleration {item!r} is not key[=value]:Effect (Effect NoSchedule, PreferNoSchedule or NoExecute)"
        )
    if match["value"] is None:
        return {"key": match["key"], "operator": "Exists", "effect": match["effect"]}
    return {"key": match["key"], "operator": "Equal", "value": match["value"], "effect": match["effect"]}


def _check_types(values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        spec = KEYS_BY_NAME.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(KEYS_BY_NAME), n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown config key {name!r}{hint}")
        expected = {"string": str, "integer": int, "boolean": bool, "array": list}[spec.type]
        if not isinstance(value, expected) or (spec.type == "integer" and isinstance(value, bool)):
            raise ConfigError(
                f"config {name} must be a{'n' if spec.type[0] in 'ai' else ''} {spec.type}, not {value!r}"
            )


def plan_request(values: Mapping[str, Any]) -> PlanRequest:
    """The serving plan for the stack: one pod per engine, `gpusPerReplica` GPUs each."""
    v = {**defaults(), **values}
    if v["replicas"] < 1:
        raise ConfigError(f"replicas must be 1 or more, not {v['replicas']}")
    util = None
    if v["gpuMemoryUtilization"]:
        try:
            util = float(v["gpuMemoryUtilization"])
        except ValueError:
            raise ConfigError(
                f"gpuMemoryUtilization {v['gpuMemoryUtilization']!r} is not a number: use e.g. 0.9"
            ) from None
    common = {
        "model": v["model"],
        "accelerator": v["accelerator"],
        "goal": v["goal"],
        "max_model_len": v["maxModelLen"] or None,
        "gpu_memory_utilization": util,
        "served_model_name": v["servedModelName"] or None,
        "model_source": v["modelSource"] or None,
        "extra_args": tuple(str(a) for a in v["extraArgs"]),
        "extra_env": _pairs(v["extraEnv"], "extraEnv"),
        "paths": K8S_PATHS,
        "weights_staged": True,
    }
    tp = v["gpusPerReplica"]
    if tp == 0:
        if resolve_accelerator(v["accelerator"]).vendor == "cpu":
            tp = 1
        else:
            # Let the goal choose among TP 1..8 as on one full node, then give each pod that many GPUs.
            from serving import plan_serving

            tp = plan_serving(PlanRequest(gpus_per_host=MAX_GPUS_PER_HOST, **common)).tensor_parallel_size
    return PlanRequest(gpus_per_host=tp, hosts=v["replicas"], tensor_parallel_size=tp, **common)


def settings_from_values(values: Mapping[str, Any]) -> K8sSettings:
    """Cluster settings from config values (missing keys take CONFIG_KEYS defaults)."""
    _check_types(values)
    v = {**defaults(), **values}
    name = v["name"]
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", name):
        raise ConfigError(f"name {name!r} must be a DNS label of at most 40 characters (a-z, 0-9, -)")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", v["namespace"]):
        raise ConfigError(f"namespace {v['namespace']!r} is not a DNS label (a-z, 0-9, -)")
    if v["runAsNonRoot"] not in ("auto", "true", "false"):
        raise ConfigError(f"runAsNonRoot {v['runAsNonRoot']!r}: use auto, true or false")
    autoscaling = None
    if v["autoscaling"]:
        autoscaling = Autoscaling(
            max_replicas=v["autoscalingMaxReplicas"],
            queue_threshold=v["autoscalingQueueThreshold"],
            prometheus_url=v["prometheusUrl"],
        )
    hf = None
    if v["hfTokenSecretName"]:
        hf = SecretRef(v["hfTokenSecretName"], v["hfTokenSecretKey"])
    return K8sSettings(
        name=name,
        namespace=v["namespace"],
        create_namespace=v["createNamespace"],
        image=v["image"] or None,
        cache_storage_class=v["cacheStorageClass"] or None,
        cache_size_gib=v["cacheSizeGi"] or None,
        cache_access_mode=v["cacheAccessMode"],
        service_type=v["serviceType"],
        api_key_secret=SecretRef(v["apiKeySecretName"] or f"{name}-api-key", v["apiKeySecretKey"]),
        hf_token_secret=hf,
        gpu_labels=v["gpuLabels"],
        node_selector=_pairs(v["nodeSelector"], "nodeSelector") or None,
        tolerations=tuple(parse_toleration(t) for t in v["tolerations"]) or None,
        run_as_non_root={"auto": None, "true": True, "false": False}[v["runAsNonRoot"]],
        monitoring=v["monitoring"],
        autoscaling=autoscaling,
        smoke_job=v["smokeJob"],
        smoke_image=v["smokeImage"],
        smoke_package=v["smokePackage"],
        allowed_namespaces=tuple(v["allowedNamespaces"]),
    )


__all__ = [
    "CONFIG_KEYS",
    "KEYS_BY_NAME",
    "ConfigError",
    "ConfigKey",
    "PlanError",
    "SettingsError",
    "plan_request",
    "settings_from_values",
]
