"""pyinfra roles: the bare-metal and cloud-VM deploy (`deploy.py` runs `roles.serve.serve_gptoss`).

Needs the `pyinfra` extra; without it importing the roles says so in one line instead of a traceback deep
in an operation module.
"""

try:
    import pyinfra  # noqa: F401
except ImportError:  # pragma: no cover - exercised by tests/e2e/test_wheel.py in a venv without the extra
    raise ImportError("the pyinfra roles need pyinfra: install gptoss-vllm[pyinfra]") from None
