"""The Kubernetes object builder: schema-valid for 1.30-1.34 and the serving rules hold, per plan."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import kubernetes_validate
import pytest

from serving import PlanError, PlanRequest, plan_serving
from targets.kubernetes.config import settings_from_values
from targets.kubernetes.objects import build_objects
from targets.kubernetes.settings import K8S_PATHS, Autoscaling, SettingsError, for_kubernetes
from tests.unit.k8s_support import PLAN_CONFIGS, plan_for

SMOKE_IMAGE = "registry.example/gptoss-smoke:0.1.0"
K8S_VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
CRD_GROUPS = ("monitoring.coreos.com/", "keda.sh/")
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)


def full_settings(**overrides):
    """Every optional object on: monitoring, autoscaling, smoke Job, an HF token reference."""
    values = {
        "monitoring": True,
        "autoscaling": True,
        "autoscalingMaxReplicas": 6,
        "hfTokenSecretName": "hf",
        "allowedNamespaces": ["apps"],
        "smokeJob": True,
        "smokeImage": SMOKE_IMAGE,
    }
    return settings_from_values({**values, **overrides})


@pytest.fixture(scope="module", params=sorted(PLAN_CONFIGS))
def case(request):
    plan = plan_for(request.param)
    objects = build_objects(plan, full_settings())
    return request.param, plan, objects


def by_kind(objects, kind, component=None):
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and (component is None or o["metadata"]["labels"]["app.kubernetes.io/component"] == component)
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def pod_specs(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def server(objects):
    return by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_builtin_object_passes_strict_schema(case, version):
    name, _, objects = case
    checked = 0
    for obj in objects:
        if obj["apiVersion"].startswith(CRD_GROUPS):
            continue  # no schema offline: checked by rule below
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(
                f"{name}: {obj['kind']}/{obj['metadata']['name']} invalid for {version}: {err.message}"
            )
        checked += 1
    assert checked >= 8


def test_gpu_request_equals_tensor_parallel_size(case):
    name, plan, objects = case
    resources = server(objects)["resources"]
    key = plan.accelerator.k8s_resource
    assert key in ("nvidia.com/gpu", "amd.com/gpu")
    assert resources["limits"][key] == resources["requests"][key] == str(plan.tensor_parallel_size), name
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == plan.total_engines


def test_shared_memory_only_with_tensor_parallelism(case):
    name, plan, objects = case
    spec = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    shm = [v for v in spec["volumes"] if v["name"] == "dshm"]
    mounts = [m for m in server(objects)["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    if plan.tensor_parallel_size > 1:
        assert shm == [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{plan.shm_size_gib}Gi"}}
        ]
        assert mounts == [{"name": "dshm", "mountPath": "/dev/shm"}]
        # The memory-backed volume counts against the pod: the request covers it.
        requested = int(server(objects)["resources"]["requests"]["memory"].removesuffix("Gi"))
        assert requested >= plan.shm_size_gib + 16, name
    else:
        assert shm == [] and mounts == [], f"{name}: TP 1 needs no /dev/shm volume"


def test_probes_split_startup_budget_from_readiness_and_liveness(case):
    name, plan, objects = case
    c = server(objects)
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/health"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= plan.startup_timeout_s, name
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert (
        c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"] < plan.startup_timeout_s
    )
    ready = c["readinessProbe"]["exec"]["command"]
    assert ready[:2] == ["python3", "-c"]
    # The generated probe (run for real in test_probes.py): key from the container env, values as argv.
    assert "os.environ.get('VLLM_API_KEY')" in ready[2]
    assert ready[3:] == [str(plan.request.port), "/health", "/v1/models", plan.served_model_name]
    deployment = by_kind(objects, "Deployment")["spec"]
    assert deployment["progressDeadlineSeconds"] > plan.startup_timeout_s
    assert deployment["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_container_runs_exactly_the_plans_argv_and_env(case):
    name, plan, objects = case
    c = server(objects)
    k8s_plan = for_kubernetes(plan)
    assert c["command"] == list(k8s_plan.engines[0].argv), name
    # argv never depends on paths: the host-path plan the CLI makes has the same command line.
    host_plan = plan_serving(replace(plan.request, paths=PlanRequest(model="x", accelerator="y").paths))
    assert c["command"] == list(host_plan.engines[0].argv)
    assert "args" not in c
    literal = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    for key, value in k8s_plan.env.items():
        assert literal[key] == value, f"{name}: env {key}"
    assert literal["HF_HUB_OFFLINE"] == "1"
    assert literal["HF_HOME"] == K8S_PATHS.hf_home and literal["VLLM_CACHE_ROOT"] == K8S_PATHS.vllm_cache_root
    assert not any(k.endswith("VISIBLE_DEVICES") for k in literal), "the device plugin assigns the GPUs"


def test_api_key_only_by_secret_reference(case):
    _, _, objects = case
    for pod_name, spec in pod_specs(objects):
        for c in spec.get("initContainers", []) + spec["containers"]:
            argv = " ".join(c.get("command", []) + c.get("args", []))
            assert not re.search(r"--api-key(\s|=)", argv), f"{pod_name}/{c['name']} passes a key in argv"
            for e in c.get("env", []):
                if e["name"] in ("VLLM_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
                    assert set(e) == {"name", "valueFrom"}, f"{pod_name}: {e['name']} must come from a Secret"
                    assert "secretKeyRef" in e["valueFrom"]
    env = {e["name"]: e for e in server(objects)["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "gptoss-api-key", "key": "api-key"}
    smoke = by_kind(objects, "Job", "smoke")["spec"]["template"]["spec"]["containers"][0]
    smoke_env = {e["name"]: e for e in smoke["env"]}
    assert smoke_env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "gptoss-api-key"
    download = by_kind(objects, "Job", "model-download")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e for e in download["env"]}["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "hf"


def test_images_are_pinned(case):
    _, plan, objects = case
    for pod_name, spec in pod_specs(objects):
        for c in spec.get("initContainers", []) + spec["containers"]:
            image = c["image"]
            tag = image.rsplit("/", 1)[-1]
            assert ":" in tag and not tag.endswith(":latest"), f"{pod_name}/{c['name']}: {image}"
    assert server(objects)["image"] == plan.image


def test_security_context_everywhere(case):
    name, plan, objects = case
    for pod_name, spec in pod_specs(objects):
        pod_ctx = spec["securityContext"]
        assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, pod_name
        assert spec["automountServiceAccountToken"] is False
        for c in spec.get("initContainers", []) + spec["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, f"{pod_name}/{c['name']}"
            assert ctx["capabilities"] == {"drop": ["ALL"]}, f"{pod_name}/{c['name']}"
    server_ctx = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    if plan.accelerator.vendor == "nvidia":
        assert server_ctx["runAsNonRoot"] is True and server_ctx["runAsUser"] != 0, name
        assert by_kind(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "restricted"
        )
    else:  # ROCm device access: documented as root, and the namespace admits exactly that
        assert "runAsNonRoot" not in server_ctx, name
        assert by_kind(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
            "baseline"
        )


def test_recommended_labels_and_matching_selectors(case):
    name, _, objects = case
    for obj in objects:
        labels = obj["metadata"]["labels"]
        missing = [k for k in RECOMMENDED_LABELS if k not in labels]
        assert not missing, f"{name}: {obj['kind']}/{obj['metadata']['name']} lacks {missing}"
    pod_labels = by_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selectors = [
        by_kind(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        by_kind(objects, "Service")["spec"]["selector"],
        by_kind(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        by_kind(objects, "NetworkPolicy", "server")["spec"]["podSelector"]["matchLabels"],
        by_kind(objects, "ServiceMonitor")["spec"]["selector"]["matchLabels"],
    ]
    for sel in selectors:
        assert sel.items() <= pod_labels.items(), f"{name}: selector {sel} misses the server pods"
    service_labels = by_kind(objects, "Service")["metadata"]["labels"]
    assert selectors[-1].items() <= service_labels.items(), "the ServiceMonitor must select the Service"


def test_crds_by_rule(case):
    name, plan, objects = case
    monitor = by_kind(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    port_names = {p["name"] for p in by_kind(objects, "Service")["spec"]["ports"]}
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]
    assert monitor["spec"]["endpoints"][0]["port"] in port_names
    scaled = by_kind(objects, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == by_kind(objects, "Deployment")["metadata"]["name"]
    assert spec["minReplicaCount"] == plan.total_engines and spec["maxReplicaCount"] == 6
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert "vllm:num_requests_waiting" in trigger["metadata"]["query"]
    assert f'model_name="{plan.served_model_name}"' in trigger["metadata"]["query"]
    assert isinstance(trigger["metadata"]["threshold"], str)  # KEDA metadata values are strings
    assert spec["cooldownPeriod"] >= plan.startup_timeout_s, f"{name}: scaling down before a load pays off"


def test_servers_wait_for_the_download_and_share_one_cache(case):
    _, plan, objects = case
    pvc = by_kind(objects, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    size = int(pvc["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
    assert size > plan.model.weights_gib
    job = by_kind(objects, "Job", "model-download")["spec"]["template"]["spec"]
    job_env = {e["name"]: e.get("value") for e in job["containers"][0]["env"]}
    assert job_env["GPTOSS_MODEL_SOURCES"].splitlines() == list(plan.weights_sources)
    assert "HF_HUB_OFFLINE" not in job_env, "the download Job is the one pod that goes online"
    init = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert {e["name"]: e["value"] for e in init["env"]}["GPTOSS_STAGED_MARKERS"] == job_env[
        "GPTOSS_STAGED_MARKER"
    ]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for _, s in pod_specs(objects)
        for v in s.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    assert claims == {pvc["metadata"]["name"]}


def test_placement_follows_the_accelerator_profile():
    h100 = build_objects(plan_for("120b-h100"), full_settings())
    spec = by_kind(h100, "Deployment")["spec"]["template"]["spec"]
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchExpressions"] == [
        {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-H100-80GB-HBM3"]}
    ]
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

    gke = build_objects(plan_for("20b-l4"), full_settings(gpuLabels="gke"))
    gke_spec = by_kind(gke, "Deployment")["spec"]["template"]["spec"]
    expr = gke_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert expr["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["nvidia-l4"]

    custom = build_objects(
        plan_for("120b-h100"),
        full_settings(nodeSelector=["pool=gpu"], tolerations=["dedicated=llm:NoSchedule"]),
    )
    custom_spec = by_kind(custom, "Deployment")["spec"]["template"]["spec"]
    assert custom_spec["nodeSelector"] == {"pool": "gpu"} and "affinity" not in custom_spec
    assert custom_spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}
    ]

    amd = build_objects(plan_for("120b-mi300x"), full_settings())
    amd_spec = by_kind(amd, "Deployment")["spec"]["template"]["spec"]
    assert "affinity" not in amd_spec
    assert amd_spec["tolerations"][0]["key"] == "amd.com/gpu"


def test_local_model_source_skips_the_download():
    plan = plan_serving(
        PlanRequest(model="gpt-oss-tiny", accelerator="cpu", model_source="/models/tiny", paths=K8S_PATHS)
    )
    objects = build_objects(plan, settings_from_values({}))
    assert not [
        o for o in objects if o["metadata"]["labels"]["app.kubernetes.io/component"] == "model-download"
    ]
    init = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    assert init["env"][0]["value"] == "/models/tiny/config.json"
    limits = server(objects)["resources"]["limits"]
    assert set(limits) == {"memory"}, "the cpu profile asks for no GPU, only its memory limit"
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_the_speculative_draft_is_staged_with_the_weights():
    """The latency goal's EAGLE3 draft (vLLM recipe) is one more checkpoint: the Job downloads it after the
    model, the servers wait for it, and the cache volume has room for it."""
    plan = plan_serving(
        PlanRequest(
            model="gpt-oss-120b", accelerator="h100", gpus_per_host=8, goal="latency", paths=K8S_PATHS
        )
    )
    assert plan.draft_model == "nvidia/gpt-oss-120b-Eagle3-v3"
    objects = build_objects(plan, settings_from_values({}))
    job = by_kind(objects, "Job", "model-download")["spec"]["template"]["spec"]["containers"][0]
    job_env = {e["name"]: e.get("value") for e in job["env"]}
    assert job_env["GPTOSS_MODEL_SOURCES"].splitlines() == [
        "openai/gpt-oss-120b",
        "nvidia/gpt-oss-120b-Eagle3-v3",
    ]
    marker = job_env["GPTOSS_STAGED_MARKER"]
    assert marker.endswith("openai--gpt-oss-120b+nvidia--gpt-oss-120b-Eagle3-v3")
    no_draft = plan_serving(replace(plan.request, speculative=False))
    other = by_kind(build_objects(no_draft, settings_from_values({})), "Job", "model-download")
    other_env = {e["name"]: e.get("value") for e in other["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert other_env["GPTOSS_STAGED_MARKER"] != marker, "turning the draft on must wait for its download"
    pvc = by_kind(objects, "PersistentVolumeClaim")
    assert int(pvc["spec"]["resources"]["requests"]["storage"].removesuffix("Gi")) >= math.ceil(
        plan.weights_gib * 1.2
    )


def test_a_local_model_with_a_draft_downloads_only_the_draft_and_waits_for_both():
    plan = plan_serving(
        PlanRequest(
            model="gpt-oss-120b",
            accelerator="h200",
            gpus_per_host=8,
            goal="latency",
            model_source="/models/gpt-oss-120b",
            paths=K8S_PATHS,
        )
    )
    objects = build_objects(plan, settings_from_values({}))
    job = by_kind(objects, "Job", "model-download")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in job["env"]}["GPTOSS_MODEL_SOURCES"] == (
        "nvidia/gpt-oss-120b-Eagle3-v3"
    )
    init = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    markers = {e["name"]: e["value"] for e in init["env"]}["GPTOSS_STAGED_MARKERS"].splitlines()
    assert markers[0] == "/models/gpt-oss-120b/config.json"
    assert markers[1].endswith("/nvidia--gpt-oss-120b-Eagle3-v3")


@pytest.mark.parametrize(
    ("overrides", "plan_name", "fragment"),
    [
        ({"cacheAccessMode": "ReadWriteOnce"}, "120b-mi300x", "ReadWriteMany storage class"),
        ({"image": "vllm/vllm-openai:latest"}, "120b-h100", "not pinned"),
        ({"image": "registry:5000/vllm-openai"}, "120b-h100", "not pinned"),
        ({"smokeJob": True, "smokeImage": "python"}, "120b-h100", "smokeImage 'python' is not pinned"),
        ({"smokeJob": True}, "120b-h100", "smokeJob needs smokeImage"),
        ({"smokePackage": "gptoss-vllm==0.1.0"}, "120b-h100", "opt in with smokeInstallFromIndex"),
        ({"smokeInstallFromIndex": True}, "120b-h100", "needs smokePackage"),
        (
            {"image": "vllm/vllm-openai@sha256:" + "a" * 64, "imageDigest": "sha256:" + "b" * 64},
            "120b-h100",
            "already carries a digest",
        ),
        ({"autoscaling": True}, "120b-h100", "set monitoring true"),
        ({"gpuLabels": "gke"}, "120b-mi300x", None),  # AMD ignores the NVIDIA label schemes
        ({"serviceType": "Ingress"}, "120b-h100", "ClusterIP, NodePort, LoadBalancer"),
    ],
)
def test_settings_that_cannot_work_are_refused(overrides, plan_name, fragment):
    plan = plan_for(plan_name)
    settings = settings_from_values(overrides)
    if fragment is None:
        assert build_objects(plan, settings)
        return
    with pytest.raises(SettingsError, match=fragment):
        build_objects(plan, settings)


def test_gke_labels_for_a_gpu_gke_does_not_offer():
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="l40s", paths=K8S_PATHS))
    with pytest.raises(SettingsError, match="GKE offers no L40S"):
        build_objects(plan, settings_from_values({"gpuLabels": "gke"}))


def test_autoscaling_bounds():
    plan = plan_for("120b-mi300x")  # 2 replicas
    settings = replace(full_settings(), autoscaling=Autoscaling(1, 8, "http://p:9090"))
    with pytest.raises(SettingsError, match="below replicas 2"):
        build_objects(plan, settings)


def test_host_that_a_service_cannot_reach():
    plan = plan_serving(PlanRequest(model="gpt-oss-20b", accelerator="h100", host="127.0.0.1"))
    with pytest.raises(SettingsError, match=r"use host 0\.0\.0\.0"):
        build_objects(plan, settings_from_values({}))


def test_startup_failure_threshold_tracks_the_plan():
    small, big = plan_for("20b-l4"), plan_for("120b-h100")
    s = settings_from_values({})
    thresholds = [server(build_objects(p, s))["startupProbe"]["failureThreshold"] for p in (small, big)]
    assert thresholds == [math.ceil(p.startup_timeout_s / 10) for p in (small, big)]
    assert thresholds[0] < thresholds[1]


def test_plan_errors_pass_through():
    from targets.kubernetes.config import plan_request

    with pytest.raises(PlanError, match="compute capability"):
        plan_serving(plan_request({"accelerator": "t4", "gpusPerReplica": 1}))
