"""`gptoss:index:GptOssService`: the objects of `targets/kubernetes/objects.py`, registered with Pulumi.

The component adds only what a plain YAML file cannot hold: Secrets made from secret config (their values
stay Pulumi secrets), the dependency order, and await timeouts sized from the plan. Each Kubernetes object
is registered exactly as the builder made it, so `gptoss render k8s` writes the same objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from serving import Plan
from targets.kubernetes.objects import labels, object_key, service_objects, service_url
from targets.kubernetes.settings import K8sSettings, SecretRef, for_kubernetes, server_image

TYPE_TOKEN = "gptoss:index:GptOssService"

# Kinds the component registers as typed resources; anything else (CRDs) goes through CustomResource.
TYPED: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def register_object(obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One builder dict -> one Pulumi resource with the same fields (top-level keys become kwargs)."""
    key = (obj["apiVersion"], obj["kind"])
    fields = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if key in TYPED:
        return TYPED[key](object_key(obj), **{_snake(k): v for k, v in fields.items()}, opts=opts)
    return k8s.apiextensions.CustomResource(
        object_key(obj), api_version=obj["apiVersion"], kind=obj["kind"], **fields, opts=opts
    )


class GptOssService(pulumi.ComponentResource):
    """gpt-oss on vLLM: cache, download, servers, Service, policies, monitoring and a smoke Job.

    Each child is an attribute named for its role (None when these settings do not make it), and each
    names the children it needs first: the server Deployment waits for its cache volume, service account and
    API key Secret; the download Job for the cache and the HF token; the smoke Job for ready servers behind
    their Service and network policy. Everything waits for the namespace and the caller's `depends_on`.
    """

    url: pulumi.Output[str]
    service_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        plan: Plan,
        settings: K8sSettings,
        *,
        api_key: pulumi.Input[str] | None = None,
        hf_token: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        plan = for_kubernetes(plan)
        objects = service_objects(plan, settings)  # raises before the component or a child is registered
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.objects = objects

        def child(obj: dict[str, Any], needs: Sequence[pulumi.Resource | None] = (), **kw: Any):
            deps = [*depends_on, *([self.namespace] if self.namespace else []), *(d for d in needs if d)]
            return register_object(obj, pulumi.ResourceOptions(parent=self, depends_on=deps, **kw))

        def maybe(obj: dict[str, Any] | None, needs: Sequence[pulumi.Resource | None] = (), **kw: Any):
            return child(obj, needs, **kw) if obj is not None else None

        self.namespace: pulumi.CustomResource | None = None
        if objects.namespace is not None:
            self.namespace = register_object(
                objects.namespace, pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
            )
        self.api_key_secret = self._secret(settings.api_key_secret, api_key, settings, plan, child)
        self.hf_token_secret = self._secret(settings.hf_token_secret, hf_token, settings, plan, child)

        self.service_account = child(objects.service_account)
        self.cache_pvc = child(objects.cache_pvc)
        # Jobs are immutable: a changed spec replaces them, deleting the old one first (fixed names).
        job = {"delete_before_replace": True, "replace_on_changes": ["spec"]}
        # Each Job after its NetworkPolicy: a Job pod never runs unconfined, not even for a moment.
        self.download_network_policy = maybe(objects.download_network_policy)
        self.download_job = maybe(
            objects.download_job,
            [self.cache_pvc, self.hf_token_secret, self.download_network_policy],
            custom_timeouts=pulumi.CustomTimeouts(create="6h", update="6h"),
            **job,
        )
        # pulumi-kubernetes waits for the Deployment to be ready: the plan's startup budget plus image pulls.
        rollout = f"{plan.startup_timeout_s + 3600}s"
        self.deployment = child(
            objects.deployment,
            [self.service_account, self.cache_pvc, self.api_key_secret],
            custom_timeouts=pulumi.CustomTimeouts(create=rollout, update=rollout),
            # With autoscaling, KEDA owns the replica count.
            ignore_changes=["spec.replicas"] if settings.autoscaling else None,
        )
        self.service = child(objects.service)
        self.disruption_budget = child(objects.disruption_budget)
        self.network_policy = child(objects.network_policy)
        self.service_monitor = maybe(objects.service_monitor, [self.service])
        self.prometheus_rule = maybe(objects.prometheus_rule)
        self.dashboard_config_map = maybe(objects.dashboard_config_map)
        self.scaled_object = maybe(objects.scaled_object, [self.deployment])
        self.smoke_network_policy = maybe(objects.smoke_network_policy)
        self.smoke_job = maybe(
            objects.smoke_job,
            [
                self.deployment,
                self.service,
                self.network_policy,
                self.smoke_network_policy,
                self.api_key_secret,
            ],
            custom_timeouts=pulumi.CustomTimeouts(create="40m", update="40m"),
            **job,
        )

        self.url = pulumi.Output.from_input(service_url(plan, settings))
        self.service_name = pulumi.Output.from_input(settings.name)
        self.plan_summary = {
            "model": plan.model.key,
            "served_model_name": plan.served_model_name,
            "accelerator": plan.accelerator.key,
            "tensor_parallel_size": plan.tensor_parallel_size,
            "replicas": plan.total_engines,
            "gpus": plan.total_engines * plan.tensor_parallel_size,
            "max_model_len": plan.max_model_len,
            "image": server_image(plan, settings),
            "startup_timeout_s": plan.startup_timeout_s,
            "warnings": list(plan.warnings),
        }
        self.register_outputs({"url": self.url, "service_name": self.service_name, "plan": self.plan_summary})

    def _secret(
        self,
        ref: SecretRef | None,
        value: pulumi.Input[str] | None,
        settings: K8sSettings,
        plan: Plan,
        child: Any,
    ) -> pulumi.CustomResource | None:
        """A Secret made from secret config, or None when the config has no value (an existing Secret)."""
        if ref is None or value is None:
            return None
        obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": ref.name,
                "namespace": settings.namespace,
                "labels": labels(settings, "secret", plan),
            },
            "type": "Opaque",
            # A Pulumi secret in, an encrypted value in the state; never a plain string in the inputs.
            "stringData": {ref.key: pulumi.Output.secret(value)},
        }
        return child(obj)
