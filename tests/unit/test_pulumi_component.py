"""The Pulumi program under mocks: what it registers equals the builder's objects and the rendered YAML,
no secret value is stored in plain text, and bad config fails before any resource is registered."""

from __future__ import annotations

import asyncio
import json

import pytest

from gptoss.cli import main as gptoss_main
from infra.config import PROJECT
from serving import PlanError, plan_serving
from targets.kubernetes.config import ConfigError, plan_request, settings_from_values
from targets.kubernetes.objects import build_objects, object_key
from targets.kubernetes.settings import SettingsError
from targets.kubernetes.yaml import read_objects
from tests.unit.k8s_support import (
    FAKE_API_KEY,
    FAKE_HF_TOKEN,
    PLAN_CONFIGS,
    k8s_objects,
    run_program,
    strip_secrets,
    unwrap,
)

SECRETS = {"apiKey": FAKE_API_KEY, "hfToken": FAKE_HF_TOKEN}


def keyed(objects):
    return {object_key(o): o for o in objects}


@pytest.mark.parametrize("name", sorted(PLAN_CONFIGS))
def test_registers_exactly_the_builders_objects(name):
    config = {**PLAN_CONFIGS[name], "monitoring": True}
    mocks = run_program(config, SECRETS)
    registered = keyed(k8s_objects(mocks))
    values = {**config, "hfTokenSecretName": "gptoss-hf-token"}
    expected = keyed(build_objects(plan_serving(plan_request(values)), settings_from_values(values)))
    assert registered.keys() == expected.keys()
    for key in expected:
        assert registered[key] == expected[key], f"{name}: {key} differs from the builder's"
    (component,) = mocks.of_type("gptoss:index:GptOssService")
    assert component.name == "gptoss"


def test_no_secret_value_in_plain_text_anywhere(tmp_path):
    mocks = run_program({**PLAN_CONFIGS["120b-h100-tp4"], "monitoring": True, "autoscaling": True}, SECRETS)
    secrets = {r.name: r for r in mocks.of_type("kubernetes:core/v1:Secret")}
    # The values did arrive (so a leak would be visible) ...
    assert unwrap(secrets["secret-gptoss-api-key"].inputs)["stringData"] == {"api-key": FAKE_API_KEY}
    assert unwrap(secrets["secret-gptoss-hf-token"].inputs)["stringData"] == {"token": FAKE_HF_TOKEN}
    # ... but only inside Pulumi's secret wrapper: nothing registered holds them in plain text.
    for r in mocks.resources:
        plain = json.dumps(strip_secrets(r.inputs))
        assert FAKE_API_KEY not in plain and FAKE_HF_TOKEN not in plain, f"{r.typ} {r.name} leaks a secret"
    # The YAML path never sees a key at all.
    gptoss_main(["render", "k8s", "--out", str(tmp_path), "--model", "gpt-oss-120b", "--gpu", "h100"])
    for path in tmp_path.iterdir():
        assert FAKE_API_KEY not in path.read_text()


@pytest.mark.parametrize(
    ("argv", "config"),
    [
        (["--model", "gpt-oss-120b", "--gpu", "h100", "--gpus", "4", "--goal", "latency"], "120b-h100-tp4"),
        (["--model", "gpt-oss-20b", "--gpu", "l4", "--max-model-len", "32768"], "20b-l4"),
        (["--model", "gpt-oss-120b", "--gpu", "mi300x", "--hosts", "2"], "120b-mi300x"),
    ],
)
def test_render_k8s_equals_what_pulumi_registers(tmp_path, argv, config):
    assert gptoss_main(["render", "k8s", "--out", str(tmp_path), *argv]) == 0
    rendered = keyed(read_objects(tmp_path))
    registered = keyed(k8s_objects(run_program(PLAN_CONFIGS[config], {"apiKey": FAKE_API_KEY})))
    assert rendered.keys() == registered.keys()
    for key in rendered:
        assert rendered[key] == registered[key], f"{config}: {key} differs between YAML and Pulumi"


def test_existing_secret_reference_creates_no_secret():
    mocks = run_program({**PLAN_CONFIGS["120b-h100"], "apiKeySecretName": "team-llm", "apiKeySecretKey": "k"})
    assert mocks.of_type("kubernetes:core/v1:Secret") == []
    (deployment,) = mocks.of_type("kubernetes:apps/v1:Deployment")
    env = unwrap(deployment.inputs)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {e["name"]: e for e in env}["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "team-llm",
        "key": "k",
    }


@pytest.mark.parametrize(
    ("config", "secrets", "error", "fragment"),
    [
        ({"model": "gpt-oss-120b"}, {}, ConfigError, "pulumi config set --secret apiKey"),
        ({"modle": "gpt-oss-20b"}, SECRETS, ConfigError, "did you mean model"),
        ({"replicas": "two"}, SECRETS, ConfigError, "replicas must be an integer"),
        ({"accelerator": "t4", "gpusPerReplica": 1}, SECRETS, PlanError, "compute capability"),
        ({"gpusPerReplica": 3}, SECRETS, PlanError, "does not divide"),
        (
            {"model": "gpt-oss-120b", "accelerator": "l4", "gpusPerReplica": 1},
            SECRETS,
            PlanError,
            "GPUs per host",
        ),
        ({"replicas": 2, "cacheAccessMode": "ReadWriteOnce"}, SECRETS, SettingsError, "ReadWriteMany"),
        ({"image": "vllm/vllm-openai:latest"}, SECRETS, SettingsError, "not pinned"),
        ({"tolerations": ["gpu"]}, SECRETS, ConfigError, "key\\[=value\\]:Effect"),
        ({"extraArgs": ["--api-key=x"]}, SECRETS, PlanError, "VLLM_API_KEY"),
        ({"nodePool": "eks", "nodePoolMachineType": "p5.48xlarge"}, SECRETS, ValueError, "eksClusterName"),
        ({"nodePool": "aks"}, SECRETS, ConfigError, "none, eks, gke"),
        ({"apiKey": FAKE_API_KEY}, {}, ConfigError, "set --secret apiKey"),
        ({"createNamespace": "ture"}, SECRETS, ConfigError, "createNamespace must be true or false"),
        ({"namespace": "kube-system"}, SECRETS, ConfigError, "belongs to Kubernetes"),
        ({"servedModelName": 'x"} or vector(1)'}, SECRETS, PlanError, "not a model name"),
        ({"prometheusUrl": f"http://u:{FAKE_API_KEY}@p:9090"}, SECRETS, PlanError, "plain http"),
        ({"extraEnv": [f"OPENAI_API_KEY={FAKE_API_KEY}"]}, SECRETS, PlanError, "looks like a secret"),
        ({"smokeJob": True}, SECRETS, SettingsError, "smokeJob needs smokeImage"),
    ],
)
def test_bad_config_fails_before_any_resource(config, secrets, error, fragment):
    from tests.unit.k8s_support import RecordingMocks

    seen: list[RecordingMocks] = []
    original = RecordingMocks.new_resource

    def spy(self, args):
        seen.append(self)
        return original(self, args)

    RecordingMocks.new_resource = spy
    try:
        with pytest.raises(error, match=fragment) as raised:
            run_program(config, secrets)
    finally:
        RecordingMocks.new_resource = original
    assert seen == [], "a resource was registered before the config error"
    assert FAKE_API_KEY[:10] not in str(raised.value) and "\n" not in str(raised.value)


def test_eks_node_group_under_mocks():
    pytest.importorskip("pulumi_aws", reason="pulumi-aws (the aws extra) is not installed")
    config = {
        **PLAN_CONFIGS["120b-h100-tp4"],
        "nodePool": "eks",
        "nodePoolMachineType": "p5.48xlarge",
        "eksClusterName": "prod",
        "eksNodeRoleArn": "arn:aws:iam::123456789012:role/gpu-nodes",
        "eksSubnetIds": ["subnet-a", "subnet-b"],
    }
    mocks = run_program(config, SECRETS)
    (group,) = mocks.of_type("aws:eks/nodeGroup:NodeGroup")
    inputs = unwrap(group.inputs)
    assert inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert inputs["instanceTypes"] == ["p5.48xlarge"]
    assert inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    # The label the server pods' node affinity selects.
    assert inputs["labels"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert inputs["scalingConfig"]["desiredSize"] == 1
    assert inputs["subnetIds"] == ["subnet-a", "subnet-b"]


def test_gke_node_pool_under_mocks():
    pytest.importorskip("pulumi_gcp", reason="pulumi-gcp (the gcp extra) is not installed")
    config = {
        **PLAN_CONFIGS["120b-h100-tp4"],
        "replicas": 2,
        "nodePool": "gke",
        "nodePoolMachineType": "a3-highgpu-4g",
        "gkeCluster": "prod",
        "gkeLocation": "us-central1",
    }
    mocks = run_program(config, SECRETS)
    (pool,) = mocks.of_type("gcp:container/nodePool:NodePool")
    inputs = unwrap(pool.inputs)
    (accel,) = inputs["nodeConfig"]["guestAccelerators"]
    assert accel["type"] == "nvidia-h100-80gb" and accel["count"] == 4
    assert inputs["nodeCount"] == 2
    assert inputs["nodeConfig"]["labels"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def test_node_pool_refuses_amd():
    with pytest.raises(ValueError, match="NVIDIA GPU nodes"):
        run_program(
            {
                **PLAN_CONFIGS["120b-mi300x"],
                "nodePool": "gke",
                "nodePoolMachineType": "x",
                "gkeCluster": "c",
                "gkeLocation": "l",
            },
            SECRETS,
        )


# ---- the component's children and their dependency edges, by resource name -------------------------------

# Every optional child: monitoring, autoscaling and the smoke Job (off by default: it needs an image with the
# package, built from docker/smoke.Dockerfile).
FULL = {
    **PLAN_CONFIGS["120b-h100-tp4"],
    "monitoring": True,
    "autoscaling": True,
    "smokeJob": True,
    "smokeImage": "registry.example/gptoss-smoke:0.1.0",
}
NS = "namespace-gptoss"
PVC = "persistentvolumeclaim-gptoss-models"
API_KEY = "secret-gptoss-api-key"
HF_TOKEN = "secret-gptoss-hf-token"
SERVER = "deployment-gptoss"
SERVICE = "service-gptoss"
POLICY = "networkpolicy-gptoss"

# Each child and what it must wait for: its namespace, plus what it reads or reaches.
FULL_EDGES = {
    NS: set(),
    API_KEY: {NS},
    HF_TOKEN: {NS},
    "serviceaccount-gptoss": {NS},
    PVC: {NS},
    "networkpolicy-gptoss-download": {NS},
    "job-gptoss-download": {NS, PVC, HF_TOKEN, "networkpolicy-gptoss-download"},
    SERVER: {NS, PVC, "serviceaccount-gptoss", API_KEY},
    SERVICE: {NS},
    "poddisruptionbudget-gptoss": {NS},
    POLICY: {NS},
    "servicemonitor-gptoss": {NS, SERVICE},
    "prometheusrule-gptoss": {NS},
    "configmap-gptoss-dashboard": {NS},
    "scaledobject-gptoss": {NS, SERVER},
    "networkpolicy-gptoss-smoke": {NS},
    "job-gptoss-smoke": {NS, SERVER, SERVICE, POLICY, "networkpolicy-gptoss-smoke", API_KEY},
}


def assert_edges(mocks, edges):
    for name, wanted in edges.items():
        got = set(mocks.depends_on(name))
        assert got == wanted, f"{name} depends on {sorted(got)}, want {sorted(wanted)}"


def test_every_child_names_what_it_waits_for():
    mocks = run_program(FULL, SECRETS)
    assert_edges(mocks, FULL_EDGES)
    children = {r.name for r in mocks.resources if r.typ.startswith("kubernetes:")}
    assert children == set(FULL_EDGES), "a child was registered without its edges being asserted"


def test_without_namespace_secrets_or_download_the_edges_shrink_to_what_exists():
    config = {
        **PLAN_CONFIGS["20b-l4"],
        "createNamespace": False,
        "apiKeySecretName": "team-llm",  # an existing Secret: nothing to wait for
        "modelSource": "/models/gpt-oss-20b",  # on the cache volume already: no download Job
        "smokeJob": False,
    }
    mocks = run_program(config)
    assert_edges(
        mocks,
        {
            SERVER: {PVC, "serviceaccount-gptoss"},
            PVC: set(),
            SERVICE: set(),
            POLICY: set(),
        },
    )
    names = set(mocks.dependencies)
    for absent in (NS, API_KEY, HF_TOKEN, "job-gptoss-download", "job-gptoss-smoke"):
        assert absent not in names, f"{absent} was registered though these settings do not make it"


def test_the_callers_depends_on_reaches_every_child():
    pytest.importorskip("pulumi_gcp", reason="pulumi-gcp (the gcp extra) is not installed")
    config = {
        **FULL,
        "nodePool": "gke",
        "nodePoolMachineType": "a3-highgpu-4g",
        "gkeCluster": "prod",
        "gkeLocation": "us-central1",
    }
    mocks = run_program(config, SECRETS)
    (pool,) = mocks.of_type("gcp:container/nodePool:NodePool")
    for name in FULL_EDGES:
        assert pool.name in mocks.depends_on(name), f"{name} does not wait for the node pool {pool.name}"


def test_children_are_named_attributes_of_the_component():
    import pulumi
    import pulumi_kubernetes as k8s

    from infra.component import GptOssService
    from tests.unit.k8s_support import RecordingMocks

    asyncio.set_event_loop(asyncio.new_event_loop())  # as run_program: mocks need a current loop
    pulumi.runtime.set_mocks(RecordingMocks(), project=PROJECT, stack="attrs", preview=False)
    values = {**FULL, "hfTokenSecretName": "gptoss-hf-token"}
    plan, settings = plan_serving(plan_request(values)), settings_from_values(values)

    @pulumi.runtime.test
    def program():
        service = GptOssService("gptoss", plan, settings, api_key=FAKE_API_KEY, hf_token=FAKE_HF_TOKEN)
        kinds = {
            "namespace": k8s.core.v1.Namespace,
            "api_key_secret": k8s.core.v1.Secret,
            "hf_token_secret": k8s.core.v1.Secret,
            "service_account": k8s.core.v1.ServiceAccount,
            "cache_pvc": k8s.core.v1.PersistentVolumeClaim,
            "download_network_policy": k8s.networking.v1.NetworkPolicy,
            "download_job": k8s.batch.v1.Job,
            "deployment": k8s.apps.v1.Deployment,
            "service": k8s.core.v1.Service,
            "disruption_budget": k8s.policy.v1.PodDisruptionBudget,
            "network_policy": k8s.networking.v1.NetworkPolicy,
            "smoke_network_policy": k8s.networking.v1.NetworkPolicy,
            "service_monitor": k8s.apiextensions.CustomResource,
            "prometheus_rule": k8s.apiextensions.CustomResource,
            "dashboard_config_map": k8s.core.v1.ConfigMap,
            "scaled_object": k8s.apiextensions.CustomResource,
            "smoke_job": k8s.batch.v1.Job,
        }
        for attribute, kind in kinds.items():
            child = getattr(service, attribute)
            assert isinstance(child, kind), (
                f"GptOssService.{attribute} is {type(child).__name__}, want {kind.__name__}"
            )
        assert service.download_job is not service.smoke_job

    program()
