"""The Kubernetes target's configuration surface: every key, its type, default and description, in ONE place.

The plan's keys (model, accelerator, goal, maxModelLen, ...) are generated from the option table,
serving/options.py; `gpusPerReplica` and `replicas` are this target's own adapters of the plan (a pod is one
engine); the cluster keys are declared here. `gptoss render k8s --set KEY=VALUE` (cluster keys; the plan
comes from the flags) and the Pulumi stack config (`infra/config.py`, which adds the node-pool and secret
keys and generates `Pulumi.yaml` from these) read the same keys with the same converters, so the YAML path
and `pulumi up` agree. Reading and checking happen here, before any object is built: a bad value fails
with a sentence that names the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving import PlanError, PlanRequest, options, validate
from serving.options import ARGS, BOOL, FLOAT, INT, LIST, MAPPING, STR, Kind, Option, OptionError, parse
from serving.plan import MAX_GPUS_PER_HOST, resolve_accelerator
from targets.kubernetes.settings import K8S_PATHS, Autoscaling, K8sSettings, SecretRef, SettingsError

# Namespaces Kubernetes itself owns: createNamespace would relabel them (Pod Security levels) and make the
# stack their owner, so `pulumi destroy` would try to delete them.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


class ConfigError(ValueError):
    """Stack configuration that cannot work. The message names the key and what would."""


# Pulumi project config types of the shared kinds. Pulumi has no float (a number is a string here) and no
# null: an unset plan option is its type's empty value.
PULUMI_TYPES: dict[Kind, str] = {
    INT: "integer",
    FLOAT: "string",
    BOOL: "boolean",
    STR: "string",
    LIST: "array",
    ARGS: "array",
    MAPPING: "array",
}
PULUMI_EMPTY: dict[str, Any] = {"integer": 0, "string": "", "array": []}


def pulumi_type(kind: Kind, nullable: bool) -> str:
    """Pulumi has no null boolean either: an unset-able one is a string, "" (unset), true or false."""
    return "string" if kind is BOOL and nullable else PULUMI_TYPES[kind]


@dataclass(frozen=True)
class ConfigKey:
    name: str
    kind: Kind  # the shared converter (serving/options.py): `--set` text and Pulumi config alike
    default: Any  # as Pulumi.yaml declares it
    description: str
    nullable: bool = False  # the type's empty value (0, "") means unset: None

    @property
    def type(self) -> str:
        """Pulumi project config type: string, integer, boolean, array (of strings here)."""
        return pulumi_type(self.kind, self.nullable)

    def read(self, value: Any) -> Any:
        """The typed value; ConfigError naming the key when it does not fit."""
        try:
            typed = parse(self.kind, self.name, value, self.nullable)
        except OptionError as err:
            raise ConfigError(f"config {err}") from None
        return None if self.nullable and typed == PULUMI_EMPTY[self.type] else typed


def _stack_default(option: Option) -> Any:
    if option.default is None:
        return PULUMI_EMPTY[pulumi_type(option.kind, nullable=True)]
    if option.kind is MAPPING:
        return [f"{k}={v}" for k, v in option.default.items()]
    if option.kind.many:
        return list(option.default)
    return f"{option.default:g}" if option.kind is FLOAT else option.default


def _stack_description(option: Option) -> str:
    text = option.help[0].upper() + option.help[1:]
    if option.nullable:
        text += f"; {'0' if option.kind is INT else 'empty'}: {option.unset}"
        if option.kind is BOOL:
            text += " (else true or false)"
    return text + (". One per item." if option.kind.many else ".")


def plan_config_keys() -> tuple[ConfigKey, ...]:
    """The plan's keys, generated from the option table (serving/options.py)."""
    return tuple(
        ConfigKey(o.stack, o.kind, _stack_default(o), _stack_description(o), nullable=o.nullable)
        for o in options.OPTIONS
        if o.stack
    )


# The plan options Kubernetes decides differently, kept explicit: a pod is one engine, so GPUs per pod is
# the tensor-parallel size, and the number of engines is the number of pods (see plan_request).
ADAPTER_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "gpusPerReplica",
        INT,
        0,
        "GPUs per pod = tensor parallel size (1, 2, 4, 8); 0 lets the plan choose for the goal.",
    ),
    ConfigKey("replicas", INT, 1, "Server pods, one vLLM engine each."),
)
# Which PlanRequest fields each adapter stands for (`gptoss render k8s` takes those as flags, not --set).
ADAPTED_FIELDS: dict[str, tuple[str, ...]] = {
    "gpusPerReplica": ("gpus_per_host", "tensor_parallel_size"),
    "replicas": ("hosts",),
}

CLUSTER_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("name", STR, "gptoss", "Instance name: the Deployment, Service and prefix of the rest."),
    ConfigKey("namespace", STR, "gptoss", "Namespace for every object."),
    ConfigKey("createNamespace", BOOL, True, "Create the namespace (false: it exists already)."),
    ConfigKey("image", STR, "", "Server image override, pinned by tag or digest; empty: the plan's."),
    ConfigKey("imageDigest", STR, "", "sha256:<64 hex> pinning the server image (the plan's or `image`)."),
    ConfigKey("cacheStorageClass", STR, "", "StorageClass of the model cache PVC; empty: default."),
    ConfigKey("cacheSizeGi", INT, 0, "Model cache size in GiB; 0: the weights plus headroom."),
    ConfigKey(
        "cacheAccessMode",
        STR,
        "ReadWriteMany",
        "ReadWriteMany (one download for all replicas) or ReadWriteOnce (1 replica only).",
    ),
    ConfigKey("serviceType", STR, "ClusterIP", "ClusterIP, NodePort or LoadBalancer."),
    ConfigKey(
        "apiKeySecretName",
        STR,
        "",
        "Secret holding the API key: created from the secret `apiKey` when set, else it must exist.",
    ),
    ConfigKey("apiKeySecretKey", STR, "api-key", "Key inside that Secret."),
    ConfigKey(
        "hfTokenSecretName",
        STR,
        "",
        "Secret with a Hugging Face token for the download (created from `hfToken` when set).",
    ),
    ConfigKey("hfTokenSecretKey", STR, "token", "Key inside that Secret."),
    ConfigKey(
        "gpuLabels",
        STR,
        "nvidia-gfd",
        "How pods pick GPU nodes: nvidia-gfd (nvidia.com/gpu.product), gke (gke-accelerator), none.",
    ),
    ConfigKey("nodeSelector", MAPPING, [], "key=value items replacing the GPU node selection."),
    ConfigKey("tolerations", LIST, [], "key[=value]:Effect items replacing the GPU taint tolerations."),
    ConfigKey(
        "runAsNonRoot",
        STR,
        "auto",
        "auto (non-root on NVIDIA and CPU, root for ROCm device access), true or false.",
    ),
    ConfigKey("allowedNamespaces", LIST, [], "Namespaces whose pods may call the server (and scrape it)."),
    ConfigKey(
        "monitoring",
        BOOL,
        False,
        "Prometheus Operator ServiceMonitor for /metrics, the alert and recording rules as a PrometheusRule, "
        "and the fleet dashboard as a ConfigMap for the Grafana sidecar.",
    ),
    ConfigKey("autoscaling", BOOL, False, "KEDA ScaledObject on vllm:num_requests_waiting."),
    ConfigKey("autoscalingMaxReplicas", INT, 4, "Most replicas autoscaling may run."),
    ConfigKey("autoscalingQueueThreshold", INT, 8, "Waiting requests per replica before scaling out."),
    ConfigKey(
        "prometheusUrl",
        STR,
        "http://prometheus-operated.monitoring.svc:9090",
        "Prometheus KEDA queries.",
    ),
    ConfigKey(
        "smokeJob",
        BOOL,
        False,
        "Run `gptoss smoke` against the Service after the rollout (needs smokeImage).",
    ),
    ConfigKey(
        "smokeImage",
        STR,
        "",
        "Image with this project installed (docker/smoke.Dockerfile builds it from the wheel), pinned.",
    ),
    ConfigKey("smokeImageDigest", STR, "", "sha256:<64 hex> pinning smokeImage."),
    ConfigKey(
        "smokePackage",
        STR,
        "",
        "Opt-in with smokeInstallFromIndex only: name==version the smoke Job pip-installs at run time.",
    ),
    ConfigKey(
        "smokeInstallFromIndex",
        BOOL,
        False,
        "Let the smoke Job pip-install smokePackage from a package index at run time (trusts that index).",
    ),
)
CONFIG_KEYS: tuple[ConfigKey, ...] = plan_config_keys() + ADAPTER_KEYS + CLUSTER_KEYS
KEYS_BY_NAME = {k.name: k for k in CONFIG_KEYS}
PLAN_KEYS = frozenset(k.name for k in plan_config_keys() + ADAPTER_KEYS)


def defaults() -> dict[str, Any]:
    return {k.name: k.default for k in CONFIG_KEYS}


TOLERATION = re.compile(
    r"(?P<key>[^=:]+)(=(?P<value>[^:]*))?:(?P<effect>NoSchedule|PreferNoSchedule|NoExecute)"
)


def parse_toleration(item: str) -> dict[str, str]:
    match = TOLERATION.fullmatch(item)
    if not match:
        raise ConfigError(
            "a toleration is not key[=value]:Effect (Effect NoSchedule, PreferNoSchedule or NoExecute)"
        )
    validate.check_label_key(match["key"], "toleration key")
    if match["value"] is not None:
        validate.check_label_value(match["value"], "toleration value")
    if match["value"] is None:
        return {"key": match["key"], "operator": "Exists", "effect": match["effect"]}
    return {"key": match["key"], "operator": "Equal", "value": match["value"], "effect": match["effect"]}


def read_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every key typed by its kind, defaults filling the gaps; an unknown key is refused by name."""
    for name in values:
        if name not in KEYS_BY_NAME:
            close = difflib.get_close_matches(name, list(KEYS_BY_NAME), n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            raise ConfigError(
                f"unknown config key {validate.check_text(name, 'a config key', max_len=80)!r}{hint}"
            )
    return {k.name: k.read(values.get(k.name, k.default)) for k in CONFIG_KEYS}


def plan_request(values: Mapping[str, Any]) -> PlanRequest:
    """The serving plan for the stack: one pod per engine, `gpusPerReplica` GPUs each."""
    v = read_values(values)
    if v["replicas"] < 1:
        raise ConfigError(f"replicas must be 1 or more, not {v['replicas']}")
    common = {o.field: v[o.stack] for o in options.OPTIONS if o.stack}
    common |= {"paths": K8S_PATHS, "weights_staged": True}
    tp = v["gpusPerReplica"]
    if tp == 0:
        if resolve_accelerator(v["accelerator"]).vendor == "cpu":
            tp = 1
        else:
            # Let the goal choose among TP 1..8 as on one full node, then give each pod that many GPUs.
            from serving import plan_serving

            tp = plan_serving(PlanRequest(gpus_per_host=MAX_GPUS_PER_HOST, **common)).tensor_parallel_size
    return PlanRequest(gpus_per_host=tp, hosts=v["replicas"], tensor_parallel_size=tp, **common)


def _check_values(v: Mapping[str, Any]) -> None:
    """Every cluster-side value that reaches YAML or a PromQL query, by its Kubernetes or format rule."""
    namespace = validate.check_dns_label(v["namespace"], "namespace")
    if v["createNamespace"] and namespace in SYSTEM_NAMESPACES:
        raise ConfigError(
            f"namespace {namespace} belongs to Kubernetes: createNamespace would relabel it and make this stack "
            "its owner (pulumi destroy would delete it); use a namespace of your own"
        )
    for key in ("apiKeySecretName", "hfTokenSecretName", "cacheStorageClass"):
        if v[key]:
            validate.check_dns_subdomain(v[key], key)
    for key in ("apiKeySecretKey", "hfTokenSecretKey"):
        validate.check_text(v[key], key, max_len=253)
        if not _SECRET_KEY.fullmatch(v[key]):
            raise ConfigError(f"{key} is not a Secret key: use letters, digits, - _ .")
    for key in ("image", "smokeImage"):
        if v[key]:
            validate.check_image_ref(v[key], key)
    for key in ("imageDigest", "smokeImageDigest"):
        if v[key]:
            validate.check_digest(v[key], key)
    for key in ("cacheSizeGi", "autoscalingMaxReplicas", "autoscalingQueueThreshold"):
        least = 0 if key == "cacheSizeGi" else 1
        if v[key] < least:
            raise ConfigError(f"{key} must be {least} or more, not {v[key]}")
    for label, value in v["nodeSelector"].items():
        validate.check_label_key(label, "nodeSelector key")
        validate.check_label_value(value, "nodeSelector value")
    for allowed in v["allowedNamespaces"]:
        validate.check_dns_label(allowed, "allowedNamespaces item")
    validate.check_http_url(v["prometheusUrl"], "prometheusUrl")
    if v["smokePackage"]:
        validate.check_pinned_requirement(v["smokePackage"], "smokePackage")


def settings_from_values(values: Mapping[str, Any]) -> K8sSettings:
    """Cluster settings from config values (missing keys take CONFIG_KEYS defaults)."""
    v = read_values(values)
    name = v["name"]
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", name):
        raise ConfigError(
            "name must be a DNS label of at most 40 characters (a-z, 0-9, -), starting with a letter"
        )
    _check_values(v)
    if v["runAsNonRoot"] not in ("auto", "true", "false"):
        raise ConfigError("runAsNonRoot: use auto, true or false")
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
        image_digest=v["imageDigest"] or None,
        cache_storage_class=v["cacheStorageClass"] or None,
        cache_size_gib=v["cacheSizeGi"] or None,
        cache_access_mode=v["cacheAccessMode"],
        service_type=v["serviceType"],
        api_key_secret=SecretRef(v["apiKeySecretName"] or f"{name}-api-key", v["apiKeySecretKey"]),
        hf_token_secret=hf,
        gpu_labels=v["gpuLabels"],
        node_selector=v["nodeSelector"] or None,
        tolerations=tuple(parse_toleration(t) for t in v["tolerations"]) or None,
        run_as_non_root={"auto": None, "true": True, "false": False}[v["runAsNonRoot"]],
        monitoring=v["monitoring"],
        autoscaling=autoscaling,
        smoke_job=v["smokeJob"],
        smoke_image=v["smokeImage"],
        smoke_image_digest=v["smokeImageDigest"] or None,
        smoke_package=v["smokePackage"],
        smoke_install_from_index=v["smokeInstallFromIndex"],
        allowed_namespaces=tuple(v["allowedNamespaces"]),
    )


__all__ = [
    "ADAPTER_KEYS",
    "CONFIG_KEYS",
    "KEYS_BY_NAME",
    "PLAN_KEYS",
    "ConfigError",
    "ConfigKey",
    "PlanError",
    "SettingsError",
    "plan_config_keys",
    "plan_request",
    "read_values",
    "settings_from_values",
]
