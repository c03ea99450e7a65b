"""Optional GPU capacity for an existing cluster: an EKS managed node group or a GKE node pool.

Only what it takes to add GPU nodes the server pods will land on: the GPU taint the pods tolerate and the
`nvidia.com/gpu.product` label the default node affinity selects (GPU feature discovery would set the same
value). Behind config (`nodePool`) and the `aws`/`gcp` extras: the cloud SDKs are imported only here, only
when a pool is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

NODE_POOL_KINDS = ("none", "eks", "gke")

# EKS AMI type with the NVIDIA driver and container toolkit (Amazon Linux 2023).
EKS_NVIDIA_AMI_TYPE = "AL2023_x86_64_NVIDIA"


@dataclass(frozen=True)
class NodePoolSettings:
    kind: str
    machine_type: str
    nodes: int
    gpus_per_node: int
    disk_gib: int
    eks_cluster_name: str = ""
    eks_node_role_arn: str = ""
    eks_subnet_ids: tuple[str, ...] = ()
    gke_cluster: str = ""
    gke_location: str = ""


class NodePoolError(ValueError):
    """Node pool settings that cannot work; the message names the config key to set."""


def check(settings: NodePoolSettings, vendor: str) -> None:
    if settings.kind == "none":
        return
    if vendor != "nvidia":
        raise NodePoolError(
            f"nodePool {settings.kind} adds NVIDIA GPU nodes; this plan's accelerator is {vendor}: "
            "use nodePool none and add the nodes yourself"
        )
    missing = ["nodePoolMachineType"] if not settings.machine_type else []
    if settings.kind == "eks":
        missing += [
            key
            for key, value in (
                ("eksClusterName", settings.eks_cluster_name),
                ("eksNodeRoleArn", settings.eks_node_role_arn),
                ("eksSubnetIds", settings.eks_subnet_ids),
            )
            if not value
        ]
    if settings.kind == "gke":
        missing += [
            key
            for key, value in (("gkeCluster", settings.gke_cluster), ("gkeLocation", settings.gke_location))
            if not value
        ]
    if missing:
        raise NodePoolError(f"nodePool {settings.kind} needs {', '.join(missing)} set")
    if settings.nodes < 1:
        raise NodePoolError(f"nodePoolNodes must be 1 or more, not {settings.nodes}")


def node_labels(product_label: str | None) -> dict[str, str]:
    return {"nvidia.com/gpu.product": product_label} if product_label else {}


def create_node_pool(
    name: str,
    settings: NodePoolSettings,
    *,
    product_label: str | None,
    gke_accelerator: str | None,
    opts=None,
):
    """Register the pool; returns the resource (for depends_on) or None for `none`."""
    if settings.kind == "eks":
        try:
            import pulumi_aws as aws
        except ImportError as err:
            raise NodePoolError("nodePool eks needs the aws extra: uv sync --extra aws") from err
        return aws.eks.NodeGroup(
            name,
            cluster_name=settings.eks_cluster_name,
            node_role_arn=settings.eks_node_role_arn,
            subnet_ids=list(settings.eks_subnet_ids),
            instance_types=[settings.machine_type],
            ami_type=EKS_NVIDIA_AMI_TYPE,
            disk_size=settings.disk_gib,
            scaling_config={
                "desired_size": settings.nodes,
                "min_size": settings.nodes,
                "max_size": settings.nodes,
            },
            labels=node_labels(product_label),
            # Keeps everything but GPU workloads off the expensive nodes; the server pods tolerate it.
            taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}],
            opts=opts,
        )
    if settings.kind == "gke":
        try:
            import pulumi_gcp as gcp
        except ImportError as err:
            raise NodePoolError("nodePool gke needs the gcp extra: uv sync --extra gcp") from err
        if not gke_accelerator:
            raise NodePoolError("this GPU has no GKE accelerator type: use nodePool none")
        return gcp.container.NodePool(
            name,
            cluster=settings.gke_cluster,
            location=settings.gke_location,
            node_count=settings.nodes,
            node_config={
                "machine_type": settings.machine_type,
                "disk_size_gb": settings.disk_gib,
                "labels": node_labels(product_label),
                "guest_accelerators": [
                    {
                        "type": gke_accelerator,
                        "count": settings.gpus_per_node,
                        # GKE installs the driver; without this the nodes need the driver DaemonSet.
                        "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
                    }
                ],
                "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            },
            opts=opts,
        )
    return None
