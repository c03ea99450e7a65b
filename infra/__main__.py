"""`pulumi up` entry point: config -> plan -> (node pool) -> GptOssService -> exports. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import infra  # noqa: F401  # installed by `uv sync`
except ImportError:  # run from a checkout without the project installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra import node_pools
from infra.component import GptOssService
from infra.config import load_stack_config
from serving import plan_serving
from targets.kubernetes.objects import build_objects
from targets.kubernetes.settings import GKE_ACCELERATORS, accelerator_profile


def main() -> None:
    stack = load_stack_config()  # every config error is raised here, before any resource
    plan = plan_serving(stack.request)
    node_pools.check(stack.node_pool, plan.accelerator.vendor)
    build_objects(plan, stack.settings)  # settings errors surface here, before the node pool exists
    for warning in plan.warnings:
        pulumi.log.warn(warning)
    profile = accelerator_profile(plan, "nvidia-gfd")
    pool = node_pools.create_node_pool(
        f"{stack.settings.name}-gpu",
        stack.node_pool,
        product_label=profile.node_affinity[0][1][0] if profile.node_affinity else None,
        gke_accelerator=GKE_ACCELERATORS.get(plan.accelerator.key),
    )
    service = GptOssService(
        stack.settings.name,
        plan,
        stack.settings,
        api_key=stack.api_key,
        hf_token=stack.hf_token,
        depends_on=[pool] if pool is not None else [],
    )
    pulumi.export("url", service.url)
    pulumi.export("service_name", service.service_name)
    pulumi.export("namespace", stack.settings.namespace)
    pulumi.export("plan", service.plan_summary)


main()
