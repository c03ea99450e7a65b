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
from targets.kubernetes.objects import build_objects, labels, object_key, service_url
from targets.kubernetes.settings import K8sSettings, SecretRef, for_kubernetes, server_image

TYPE_TOKEN = "gptoss:index:GptOssService"

# Kinds the component registers as typed resources; anything else (CRDs) goes through CustomResource.
TYPED: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
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
    """gpt-oss on vLLM: cache, download, servers, Service, policies, monitoring and a smoke Job."""

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
        objects = build_objects(plan, settings)  # raises before the component or a child is registered
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.objects = objects
        self.resources: dict[str, pulumi.CustomResource] = {}

        def child(extra: Sequence[pulumi.Resource] = (), **kw: Any) -> pulumi.ResourceOptions:
            deps = [*depends_on, *base, *extra]
            return pulumi.ResourceOptions(parent=self, depends_on=deps, **kw)

        base: list[pulumi.Resource] = []
        namespace = next((o for o in objects if o["kind"] == "Namespace"), None)
        if namespace is not None:
            self.resources[object_key(namespace)] = register_object(namespace, child())
            base.append(self.resources[object_key(namespace)])

        secrets: list[pulumi.Resource] = []
        if api_key is not None:
            secrets.append(self._secret(settings.api_key_secret, api_key, settings, plan, child()))
        if hf_token is not None and settings.hf_token_secret is not None:
            secrets.append(self._secret(settings.hf_token_secret, hf_token, settings, plan, child()))

        # Await budgets from the plan: pulumi-kubernetes waits for Deployments to be ready and Jobs to finish.
        rollout_s = plan.startup_timeout_s + 3600
        for obj in objects:
            key = object_key(obj)
            if obj["kind"] == "Namespace":
                continue
            component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
            extra: list[pulumi.Resource] = list(secrets)
            kw: dict[str, Any] = {}
            if obj["kind"] == "Deployment":
                extra += [
                    r
                    for k, r in self.resources.items()
                    if k.startswith(("persistentvolumeclaim", "serviceaccount"))
                ]
                kw["custom_timeouts"] = pulumi.CustomTimeouts(create=f"{rollout_s}s", update=f"{rollout_s}s")
                if settings.autoscaling:
                    kw["ignore_changes"] = ["spec.replicas"]  # KEDA owns the replica count
            elif obj["kind"] == "Job":
                # Jobs are immutable: a changed spec replaces them, deleting the old one first (fixed names).
                kw["delete_before_replace"] = True
                kw["replace_on_changes"] = ["spec"]
                # Its NetworkPolicy first: a Job pod never runs unconfined, not even for a moment.
                extra += [r for k, r in self.resources.items() if k.startswith("networkpolicy")]
                if component == "model-download":
                    extra += [r for k, r in self.resources.items() if k.startswith("persistentvolumeclaim")]
                    kw["custom_timeouts"] = pulumi.CustomTimeouts(create="6h", update="6h")
                else:  # smoke: after the servers are ready and reachable
                    extra += list(self.resources.values())
                    kw["custom_timeouts"] = pulumi.CustomTimeouts(create="40m", update="40m")
            self.resources[key] = register_object(obj, child(extra, **kw))

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
        ref: SecretRef,
        value: pulumi.Input[str],
        settings: K8sSettings,
        plan: Plan,
        opts: pulumi.ResourceOptions,
    ) -> pulumi.CustomResource:
        return k8s.core.v1.Secret(
            f"secret-{ref.name}",
            metadata={
                "name": ref.name,
                "namespace": settings.namespace,
                "labels": labels(settings, "secret", plan),
            },
            type="Opaque",
            # A Pulumi secret in, an encrypted value in the state; never a plain string in the inputs.
            string_data={ref.key: pulumi.Output.secret(value)},
            opts=opts,
        )
