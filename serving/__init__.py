"""The serving plan: the one place that decides how gpt-oss runs on given hardware. Pure, no I/O."""

from serving.catalog import (
    ACCELERATOR_ALIASES,
    ACCELERATORS,
    MODELS,
    VLLM_CPU_VERSION,
    VLLM_VERSION,
    AcceleratorSpec,
    Arch,
    ModelSpec,
    Support,
)
from serving.errors import ValueRefused
from serving.plan import (
    GOALS,
    Engine,
    MemoryMath,
    Plan,
    PlanError,
    PlanRequest,
    ServingPaths,
    enumerate_plans,
    plan_serving,
)
from serving.readiness import ReadinessSpec, ReadinessSpecError, readiness_for
from serving.slo import TTFT_P95_SLO_SECONDS, ttft_p95_slo_seconds

CATALOG_MODELS = MODELS

__all__ = [
    "ACCELERATORS",
    "ACCELERATOR_ALIASES",
    "CATALOG_MODELS",
    "GOALS",
    "MODELS",
    "TTFT_P95_SLO_SECONDS",
    "VLLM_CPU_VERSION",
    "VLLM_VERSION",
    "AcceleratorSpec",
    "Arch",
    "Engine",
    "MemoryMath",
    "ModelSpec",
    "Plan",
    "PlanError",
    "PlanRequest",
    "ReadinessSpec",
    "ReadinessSpecError",
    "ServingPaths",
    "Support",
    "ValueRefused",
    "enumerate_plans",
    "plan_serving",
    "readiness_for",
    "ttft_p95_slo_seconds",
]
