"""The Pulumi program (`Pulumi.yaml` points here): the Kubernetes component, stack config and node pools.

Needs the `pulumi` extra (and `aws`/`gcp` for node pools); without it importing says so in one line.
"""

try:
    import pulumi  # noqa: F401
    import pulumi_kubernetes  # noqa: F401
except ImportError:  # pragma: no cover - exercised by tests/e2e/test_wheel.py in a venv without the extra
    raise ImportError("the Pulumi program needs pulumi: install gptoss-vllm[pulumi]") from None
