"""Shared by the Kubernetes/Pulumi unit tests: the plans under test and a Pulumi mocks runner."""

from __future__ import annotations

import asyncio
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

from infra.config import PROJECT
from serving import plan_serving

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "infra" / "__main__.py"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker key for a secret value in inputs
FAKE_API_KEY = "sk-fake-GPTOSS-TEST-KEY-7f3a9c"
FAKE_HF_TOKEN = "hf_fakeGPTOSStestTOKEN42"

# The plans: 20b on one L4, 120b on one H100, 120b TP4 for latency, 120b on MI300X.
PLAN_CONFIGS: dict[str, dict[str, Any]] = {
    "20b-l4": {"model": "gpt-oss-20b", "accelerator": "l4", "gpusPerReplica": 1, "maxModelLen": 32768},
    "120b-h100": {"model": "gpt-oss-120b", "accelerator": "h100", "gpusPerReplica": 1, "goal": "throughput"},
    "120b-h100-tp4": {"model": "gpt-oss-120b", "accelerator": "h100", "gpusPerReplica": 4, "goal": "latency"},
    "120b-mi300x": {"model": "gpt-oss-120b", "accelerator": "mi300x", "gpusPerReplica": 1, "replicas": 2},
}


def plan_for(name: str):
    from targets.kubernetes.config import plan_request

    return plan_serving(plan_request(PLAN_CONFIGS[name]))


def unwrap(value: Any) -> Any:
    """Mock inputs: numbers arrive as floats, secrets wrapped in {SECRET_SIG: ..., "value": ...}."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def strip_secrets(value: Any) -> Any:
    """The inputs with every secret-wrapped value removed: what would be stored in plain text."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "[secret]"
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    parent: str | None


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)
    # logical name -> the logical names of the resources it waits for (filled by DependencyMonitor)
    dependencies: dict[str, list[str]] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(
            Registered(args.typ, args.name, dict(args.inputs), getattr(args, "parent", None))
        )
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, prefix: str) -> list[Registered]:
        return [r for r in self.resources if r.typ.startswith(prefix)]

    def depends_on(self, name: str) -> list[str]:
        assert name in self.dependencies, f"no resource named {name}; registered: {sorted(self.dependencies)}"
        return self.dependencies[name]


class DependencyMonitor(MockMonitor):
    """Pulumi's mock monitor, also recording each registration's dependencies (the URNs the engine orders
    it after), which MockResourceArgs does not carry. Keyed by logical name: registrations may interleave."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request):
        assert request.name not in self.recording.dependencies, f"two resources named {request.name}"
        self.recording.dependencies[request.name] = sorted(
            urn.split("::")[-1] for urn in request.dependencies
        )
        return super().RegisterResource(request)


def run_program(config: dict[str, Any], secrets: dict[str, str] | None = None) -> RecordingMocks:
    """Run infra/__main__.py under mocks with this stack config; returns what it registered."""
    import json

    # Pulumi's mocks run on the thread's current event loop; an earlier asyncio.run (any test) unsets it.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack="test", preview=False, monitor=DependencyMonitor(mocks)
    )
    all_config = {
        f"{PROJECT}:{k}": json.dumps(v) if isinstance(v, (list, bool, int)) else str(v)
        for k, v in config.items()
    }
    secret_keys = []
    for key, value in (secrets or {}).items():
        all_config[f"{PROJECT}:{key}"] = value
        secret_keys.append(f"{PROJECT}:{key}")
    pulumi.runtime.set_all_config(all_config, secret_keys)

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(MAIN), run_name="__main__")

    program()
    return mocks


def k8s_objects(mocks: RecordingMocks) -> list[dict[str, Any]]:
    """Registered Kubernetes objects (Secrets excluded: the builder never makes them), unwrapped."""
    return [
        unwrap(r.inputs)
        for r in mocks.resources
        if r.typ.startswith("kubernetes:") and r.typ != "kubernetes:core/v1:Secret"
    ]
