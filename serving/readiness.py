"""What "serving" means for a plan: `/health` answers 200, then the model list names the served model.

One spec, read by every check: the Python wait (`smoke/readiness.py`), the host probe the pyinfra roles run
(`targets/systemd/probe.py`) and the Kubernetes readiness probe (`targets/kubernetes/scripts.py`). It says
*what* to ask; *where* to ask (a loopback port on the host, the container's port, a remote URL) is the
caller's, so the same spec serves every engine of a plan and a client outside the host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.plan import Plan

HEALTH_PATH = "/health"  # vLLM: open (no key), 200 once the API server and engine are up
MODELS_PATH = "/v1/models"  # vLLM: needs the key when one is set; lists --served-model-name

# Paths are spliced into URLs and probe scripts: plain URL path characters only.
_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_MAX_NAME = 256


class ReadinessSpecError(ValueError):
    """A spec that no probe could use safely; the message says what would work."""


@dataclass(frozen=True)
class ReadinessSpec:
    served_name: str
    health_path: str = HEALTH_PATH
    models_path: str = MODELS_PATH

    def __post_init__(self) -> None:
        name = self.served_name
        if not name or len(name) > _MAX_NAME or not name.isprintable():
            raise ReadinessSpecError(
                f"served model name {name[:40]!r} must be 1-{_MAX_NAME} printable characters "
                "(no newlines or control characters), e.g. openai/gpt-oss-120b"
            )
        for what, path in (("health path", self.health_path), ("models path", self.models_path)):
            if not _PATH.match(path) or "//" in path or "/../" in f"{path}/":
                raise ReadinessSpecError(
                    f"{what} {path[:40]!r} must be an absolute URL path of letters, digits and ._~/- "
                    "(e.g. /health, /v1/models)"
                )


def readiness_for(plan: Plan) -> ReadinessSpec:
    """The plan's readiness: vLLM's paths and the name the plan serves under (same for every engine)."""
    return ReadinessSpec(served_name=plan.served_model_name)
