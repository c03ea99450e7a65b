"""The Pulumi stack's configuration: the Kubernetes target's keys (targets/kubernetes/config.py) plus what
only `pulumi up` has (GPU node pools, secret values), read and checked before any resource is registered.

`Pulumi.yaml` is generated from STACK_KEYS (`python -m infra.config > Pulumi.yaml`; a unit test keeps them in
sync). This module imports pulumi only inside `load_stack_config`, so rendering works without the engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.node_pools import NODE_POOL_KINDS, NodePoolSettings
from serving import PlanError, PlanRequest
from serving.options import INT, LIST, STR
from targets.kubernetes.config import (
    CONFIG_KEYS,
    KEYS_BY_NAME,
    ConfigError,
    ConfigKey,
    plan_request,
    settings_from_values,
)
from targets.kubernetes.config import (
    defaults as cluster_defaults,
)
from targets.kubernetes.settings import K8sSettings, SecretRef, SettingsError

PROJECT = "gptoss"
PROJECT_DESCRIPTION = "gpt-oss on vLLM in an existing Kubernetes cluster, from the serving plan"

NODE_POOL_KEYS: tuple[ConfigKey, ...] = (
    # --- optional GPU capacity
    ConfigKey("nodePool", STR, "none", "Add GPU nodes to an existing cluster: none, eks or gke."),
    ConfigKey("nodePoolMachineType", STR, "", "EC2 instance type or GCE machine type of the nodes."),
    ConfigKey("nodePoolNodes", INT, 0, "Nodes in the pool; 0: one per replica."),
    ConfigKey("nodePoolDiskGi", INT, 200, "Node boot disk in GiB (the vLLM image is ~10 GiB)."),
    ConfigKey("eksClusterName", STR, "", "EKS: the existing cluster's name."),
    ConfigKey("eksNodeRoleArn", STR, "", "EKS: IAM role ARN for the nodes."),
    ConfigKey("eksSubnetIds", LIST, [], "EKS: subnet ids for the nodes."),
    ConfigKey("gkeCluster", STR, "", "GKE: the existing cluster's name."),
    ConfigKey("gkeLocation", STR, "", "GKE: the cluster's region or zone."),
)
STACK_KEYS: tuple[ConfigKey, ...] = CONFIG_KEYS + NODE_POOL_KEYS
STACK_KEYS_BY_NAME = {k.name: k for k in STACK_KEYS}

# Secret values: set with `pulumi config set --secret`. Not in Pulumi.yaml's schema: a declared key without
# a default is required, and either may instead come from an existing Secret.
SECRET_KEYS: dict[str, str] = {
    "apiKey": "The API key clients send; stored as a Kubernetes Secret, read by vLLM as VLLM_API_KEY.",
    "hfToken": "A Hugging Face token for the download Job (optional: gpt-oss is not gated).",
}


def defaults() -> dict[str, Any]:
    return {**cluster_defaults(), **{k.name: k.default for k in NODE_POOL_KEYS}}


def node_pool_settings(values: Mapping[str, Any], tensor_parallel_size: int) -> NodePoolSettings:
    v = {**defaults(), **values}
    if v["nodePool"] not in NODE_POOL_KINDS:
        raise ConfigError(f"nodePool {v['nodePool']!r}: use one of {', '.join(NODE_POOL_KINDS)}")
    return NodePoolSettings(
        kind=v["nodePool"],
        machine_type=v["nodePoolMachineType"],
        nodes=v["nodePoolNodes"] or v["replicas"],
        gpus_per_node=tensor_parallel_size,
        disk_gib=v["nodePoolDiskGi"],
        eks_cluster_name=v["eksClusterName"],
        eks_node_role_arn=v["eksNodeRoleArn"],
        eks_subnet_ids=tuple(v["eksSubnetIds"]),
        gke_cluster=v["gkeCluster"],
        gke_location=v["gkeLocation"],
    )


@dataclass(frozen=True)
class StackConfig:
    request: PlanRequest
    settings: K8sSettings
    node_pool: NodePoolSettings
    api_key: Any  # pulumi.Output[str] (secret) or None when an existing Secret is referenced
    hf_token: Any


def stack_values(get: Callable[[ConfigKey], Any], present: Callable[[str], bool]) -> dict[str, Any]:
    return {k.name: get(k) for k in STACK_KEYS if present(k.name)}


def load_stack_config() -> StackConfig:
    """Read and check the stack's config. Raises ConfigError/PlanError/SettingsError with a sentence."""
    import pulumi
    from pulumi.runtime.config import CONFIG

    project = pulumi.get_project()
    cfg = pulumi.Config()
    set_keys = {k.split(":", 1)[1] for k in CONFIG.get() if k.startswith(f"{project}:")}
    unknown = sorted(set_keys - set(STACK_KEYS_BY_NAME) - set(SECRET_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], [*STACK_KEYS_BY_NAME, *SECRET_KEYS], n=1)
        hint = f": did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown config key {unknown[0]!r}{hint}")

    def get(key: ConfigKey) -> Any:
        # Pulumi keeps every value as text (an array as JSON): the shared converters type it, as for --set.
        return key.read(cfg.get(key.name))

    from pulumi.runtime.config import is_config_secret

    for key in sorted(set(SECRET_KEYS) & set_keys):
        if not is_config_secret(f"{project}:{key}"):
            raise ConfigError(
                f"{key} is stored in plain text in the stack's config file: `pulumi config rm {key}`, then "
                f"`pulumi config set --secret {key} ...` (encrypted in the stack)"
            )

    values = stack_values(get, lambda name: name in set_keys)
    cluster_values = {k: v for k, v in values.items() if k in KEYS_BY_NAME}
    settings = settings_from_values(cluster_values)
    request = plan_request(cluster_values)
    api_key = cfg.get_secret("apiKey") if "apiKey" in set_keys else None
    hf_token = cfg.get_secret("hfToken") if "hfToken" in set_keys else None
    if api_key is None and not values.get("apiKeySecretName"):
        raise ConfigError(
            "no API key: run `pulumi config set --secret apiKey <key>`, or point apiKeySecretName at an "
            "existing Secret (key apiKeySecretKey)"
        )
    if hf_token is not None and not values.get("hfTokenSecretName"):
        from dataclasses import replace

        settings = replace(settings, hf_token_secret=SecretRef(f"{settings.name}-hf-token", "token"))
    node_pool = node_pool_settings(values, request.tensor_parallel_size or 1)
    return StackConfig(request, settings, node_pool, api_key, hf_token)


def pulumi_yaml() -> str:
    """Pulumi.yaml, generated from CONFIG_KEYS and SECRET_KEYS (the one place for defaults)."""
    import yaml

    doc = {
        "name": PROJECT,
        "runtime": {"name": "python", "options": {"toolchain": "uv"}},
        "description": PROJECT_DESCRIPTION,
        "main": "infra/",
        "config": {
            k.name: {"type": k.type, "description": k.description, "default": k.default}
            | ({"items": {"type": "string"}} if k.type == "array" else {})
            for k in STACK_KEYS
        },
    }
    head = (
        "# Generated by `uv run python -m infra.config > Pulumi.yaml` from targets/kubernetes/config.py and\n"
        "# infra/config.py: edit there.\n"
        "# Secrets (set with `pulumi config set --secret KEY VALUE`; not declared below because a declared\n"
        "# key without a default is required, and each may come from an existing Secret instead):\n"
    )
    head += "".join(f"#   {key}: {text}\n" for key, text in SECRET_KEYS.items())
    return head + yaml.safe_dump(doc, sort_keys=False, width=110)


__all__ = [
    "CONFIG_KEYS",
    "SECRET_KEYS",
    "STACK_KEYS",
    "ConfigError",
    "PlanError",
    "SettingsError",
    "StackConfig",
    "load_stack_config",
    "plan_request",
    "pulumi_yaml",
    "settings_from_values",
]

if __name__ == "__main__":
    print(pulumi_yaml(), end="")
