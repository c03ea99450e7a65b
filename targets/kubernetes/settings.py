"""Cluster settings of the Kubernetes target and their validation: everything about the cluster side that
the serving plan does not decide, checked before any object exists.

Defaults for every setting live in `targets/kubernetes/config.py` (CONFIG_KEYS, the one place); build
`K8sSettings` through `targets.kubernetes.config.settings_from_values`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from serving import Plan, ServingPaths, plan_serving
from targets.monitoring.promql import QueryValueError, label_value

# Where pods mount what vLLM reads and writes; the plan's env points at these.
MODELS_MOUNT = "/models"
HOME_MOUNT = "/home/gptoss"
# The compile cache lives on the same PVC as the weights, as a plain directory vLLM creates itself: a
# subPath mount would be created by the kubelet as root, unwritable for the non-root server.
K8S_PATHS = ServingPaths(
    hf_home=f"{MODELS_MOUNT}/hf",
    vllm_cache_root=f"{MODELS_MOUNT}/vllm-cache",
    tiktoken_dir=f"{MODELS_MOUNT}/tiktoken",
)
STAGED_MARKER_DIR = f"{MODELS_MOUNT}/hf/.gptoss-staged"
GPU_LABEL_SCHEMES = ("nvidia-gfd", "gke", "none")
ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")

# GKE's `cloud.google.com/gke-accelerator` values (GKE GPU docs) for the catalog keys GKE offers.
GKE_ACCELERATORS: dict[str, str] = {
    "l4": "nvidia-l4",
    "a100-40gb": "nvidia-tesla-a100",
    "a100-80gb": "nvidia-a100-80gb",
    "h100": "nvidia-h100-80gb",
    "h200": "nvidia-h200-141gb",
    "b200": "nvidia-b200",
}


@dataclass(frozen=True)
class SecretRef:
    """A key in a Kubernetes Secret. The builder never sees the value."""

    name: str
    key: str


@dataclass(frozen=True)
class Autoscaling:
    max_replicas: int
    queue_threshold: int  # waiting requests per replica before KEDA adds one
    prometheus_url: str


@dataclass(frozen=True)
class K8sSettings:
    """Everything about the cluster side that the serving plan does not decide. Defaults live in
    `targets/kubernetes/config.py` (CONFIG_KEYS); construct through `config.settings_from_values`."""

    name: str
    namespace: str
    create_namespace: bool
    image: str | None  # None: the plan's pinned image
    image_digest: str | None  # sha256:... appended to the server image
    cache_storage_class: str | None  # None: the cluster's default StorageClass
    cache_size_gib: int | None  # None: from the model's weights
    cache_access_mode: str
    service_type: str
    api_key_secret: SecretRef
    hf_token_secret: SecretRef | None
    gpu_labels: str
    node_selector: Mapping[str, str] | None  # None: from the accelerator profile
    tolerations: tuple[Mapping[str, str], ...] | None  # None: from the accelerator profile
    run_as_non_root: bool | None  # None: from the accelerator profile
    monitoring: bool
    autoscaling: Autoscaling | None
    smoke_job: bool
    smoke_image: str  # an image with this project installed (docker/smoke.Dockerfile)
    smoke_image_digest: str | None
    smoke_package: str  # name==version pip-installed at run time: only with smoke_install_from_index
    smoke_install_from_index: bool
    allowed_namespaces: tuple[str, ...] = ()
    extra_labels: Mapping[str, str] = field(default_factory=dict)


class SettingsError(ValueError):
    """Cluster settings that cannot work together. The message says what would."""


@dataclass(frozen=True)
class AcceleratorProfile:
    """How pods find and use one accelerator family on Kubernetes (separate from the model presets)."""

    resource: str | None
    node_affinity: tuple[tuple[str, tuple[str, ...]], ...]  # (label, allowed values)
    tolerations: tuple[dict[str, str], ...]
    run_as_non_root: bool


def accelerator_profile(plan: Plan, gpu_labels: str) -> AcceleratorProfile:
    acc = plan.accelerator
    if acc.vendor == "nvidia":
        # GKE and EKS taint GPU nodes with nvidia.com/gpu; the GPU Operator docs use the same key.
        tolerations = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
        if gpu_labels == "nvidia-gfd":
            # GPU feature discovery labels nodes with the nvidia-smi product name, spaces as dashes.
            products = tuple(name.replace(" ", "-") for name in acc.smi_names)
            affinity = (("nvidia.com/gpu.product", products),) if products else ()
        elif gpu_labels == "gke":
            if acc.key not in GKE_ACCELERATORS:
                raise SettingsError(
                    f"GKE offers no {acc.name} node pools this bundle knows: use gpuLabels none with your own "
                    f"nodeSelector, or one of {', '.join(GKE_ACCELERATORS)}"
                )
            affinity = (("cloud.google.com/gke-accelerator", (GKE_ACCELERATORS[acc.key],)),)
        else:
            affinity = ()
        return AcceleratorProfile(acc.k8s_resource, affinity, tolerations, run_as_non_root=True)
    if acc.vendor == "amd":
        # The AMD device plugin hands out /dev/kfd and /dev/dri, whose group ids (video, render) differ
        # between host images; the ROCm vLLM image expects root. The resource request alone keeps the
        # pod on AMD GPU nodes; pin the exact product with nodeSelector when a cluster mixes them.
        tolerations = ({"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
        return AcceleratorProfile(acc.k8s_resource, (), tolerations, run_as_non_root=False)
    return AcceleratorProfile(None, (), (), run_as_non_root=True)


def for_kubernetes(plan: Plan) -> Plan:
    """The same plan with the pod mount points and staged weights. Re-planning keeps argv and env coming
    from the planner alone; the CLI hands in plans made with the host paths."""
    request = plan.request
    if request.paths == K8S_PATHS and request.weights_staged:
        return plan
    return plan_serving(replace(request, paths=K8S_PATHS, weights_staged=True))


def server_image(plan: Plan, settings: K8sSettings) -> str:
    """The vLLM image every vLLM container runs: the override, else the plan's pinned one; with a digest
    when one is set (the registry then serves exactly those bytes or nothing)."""
    return with_digest(settings.image or plan.image, settings.image_digest)


def smoke_image(settings: K8sSettings) -> str:
    return with_digest(settings.smoke_image, settings.smoke_image_digest)


def with_digest(image: str, digest: str | None) -> str:
    return f"{image}@{digest}" if digest else image


def _pinned(image: str) -> bool:
    """A digest or a tag other than `latest` (the last path part carries the tag; a registry port doesn't)."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def _validate_smoke(settings: K8sSettings) -> None:
    """The smoke Job runs code that holds the API key: by default only code in an image you built."""
    if settings.smoke_package and not settings.smoke_install_from_index:
        raise SettingsError(
            "smokePackage makes the smoke Job pip-install code at run time, next to the API key: build "
            "docker/smoke.Dockerfile into smokeImage instead, or opt in with smokeInstallFromIndex true"
        )
    if settings.smoke_install_from_index and not settings.smoke_package:
        raise SettingsError("smokeInstallFromIndex needs smokePackage (name==version) to install")
    if not settings.smoke_job:
        return
    if not settings.smoke_image:
        raise SettingsError(
            "smokeJob needs smokeImage: an image with this project installed (build docker/smoke.Dockerfile "
            "from the wheel and push it to your registry), or set smokeJob false"
        )
    image = smoke_image(settings)
    if not _pinned(image):
        raise SettingsError(f"smokeImage {image!r} is not pinned: use a version tag or a digest")


def validate(plan: Plan, settings: K8sSettings) -> None:
    """Refuse settings that cannot work, before any object exists."""
    if plan.request.host not in ("0.0.0.0", "::"):
        raise SettingsError(
            f"vLLM binds {plan.request.host}, which the Service cannot reach: use host 0.0.0.0 on Kubernetes"
        )
    if settings.image_digest and "@" in (settings.image or ""):
        raise SettingsError("image already carries a digest: drop imageDigest or the digest in image")
    image = server_image(plan, settings)
    if not _pinned(image):
        raise SettingsError(f"image {image!r} is not pinned: use a version tag such as {plan.image!r}")
    if settings.cache_access_mode not in ACCESS_MODES:
        raise SettingsError(
            f"cacheAccessMode {settings.cache_access_mode!r}: use {' or '.join(ACCESS_MODES)}"
        )
    max_replicas = settings.autoscaling.max_replicas if settings.autoscaling else plan.total_engines
    if settings.cache_access_mode == "ReadWriteOnce" and max(max_replicas, plan.total_engines) > 1:
        raise SettingsError(
            f"a ReadWriteOnce model cache cannot be mounted by {max(max_replicas, plan.total_engines)} "
            "replicas on different nodes: use a ReadWriteMany storage class (EFS, Filestore, Azure Files, "
            "CephFS, NFS) or 1 replica"
        )
    if settings.service_type not in SERVICE_TYPES:
        raise SettingsError(f"serviceType {settings.service_type!r}: use one of {', '.join(SERVICE_TYPES)}")
    if settings.gpu_labels not in GPU_LABEL_SCHEMES:
        raise SettingsError(f"gpuLabels {settings.gpu_labels!r}: use one of {', '.join(GPU_LABEL_SCHEMES)}")
    if settings.monitoring or settings.autoscaling:
        # The served model name reaches PromQL (the PrometheusRule, the dashboard, KEDA's query).
        try:
            label_value(plan.served_model_name, "servedModelName")
        except QueryValueError as err:
            raise SettingsError(str(err)) from None
    if settings.autoscaling:
        if not settings.monitoring:
            raise SettingsError(
                "autoscaling reads vllm:num_requests_waiting from Prometheus: set monitoring true as well"
            )
        if settings.autoscaling.max_replicas < plan.total_engines:
            raise SettingsError(
                f"autoscalingMaxReplicas {settings.autoscaling.max_replicas} is below replicas "
                f"{plan.total_engines}: raise it or lower replicas"
            )
    _validate_smoke(settings)
    accelerator_profile(plan, settings.gpu_labels)  # raises when the GPU labels cannot select this GPU
