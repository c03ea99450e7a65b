"""Which server the smoke suite talks to, where the API differs by version.

Ollama: GET /api/version on the server root answers {"version": "0.32.7"}. Since 0.13.3 Ollama serves a
stateless /v1/responses (no stored responses, no previous_response_id); before, no /v1/responses at all (the
guide's workarounds, Hugging Face's responses.js proxy or the gpt-oss reference server with its Ollama
backend, were for those versions). The version is asked once per endpoint, with the key (an authenticating
front in front of Ollama wants it), and kept in the check context.
"""

from __future__ import annotations

import re

import httpx

from serving.catalog import OLLAMA_RESPONSES_SINCE
from smoke.context import CheckContext
from smoke.http import get

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_FACT = "server_version"


def parse_version(text: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) from "0.32.7" or "0.13.3-rc1"; None for anything else and for source builds,
    which report 0.0.0."""
    match = _VERSION.match(str(text)) if text is not None else None
    if match is None:
        return None
    version = (int(match[1]), int(match[2]), int(match[3]))
    return None if version == (0, 0, 0) else version


def show(version: tuple[int, int, int] | None) -> str:
    return ".".join(map(str, version)) if version else "unknown"


def server_version(ctx: CheckContext) -> tuple[int, int, int] | None:
    """The Ollama version behind the endpoint, when it says (None for other profiles or no answer)."""
    if _FACT not in ctx.facts:
        version = None
        if ctx.endpoint.profile.version_path:
            try:
                ex = get(ctx, ctx.endpoint.root_url + ctx.endpoint.profile.version_path, timeout_s=10)
                if ex.ok and isinstance(ex.data, dict):
                    version = parse_version(ex.data.get("version"))
            except httpx.HTTPError:
                version = None
        ctx.facts[_FACT] = version
    return ctx.facts[_FACT]


def responses_expected(ctx: CheckContext) -> bool | None:
    """Whether the server should serve /v1/responses: True, False, or None when it cannot be told."""
    profile = ctx.endpoint.profile
    if profile.name != "ollama":
        return profile.responses_expected
    version = server_version(ctx)
    return None if version is None else version >= OLLAMA_RESPONSES_SINCE


def responses_missing_hint(ctx: CheckContext) -> str:
    """Why a server answered 404 on /v1/responses, in words that point at a fix."""
    if ctx.endpoint.profile.name != "ollama":
        return " (vLLM serves it since 0.10: an old vLLM or a proxy in front?)"
    version = server_version(ctx)
    since = show(OLLAMA_RESPONSES_SINCE)
    if version is None:
        return f" (Ollama serves a stateless /v1/responses since {since}; its version is unknown here)"
    if version < OLLAMA_RESPONSES_SINCE:
        return (
            f" (Ollama {show(version)} predates it: upgrade to {since} or later, or put Hugging Face's "
            "responses.js proxy in front as the gpt-oss guide describes for older versions)"
        )
    return f" (Ollama {show(version)} serves it since {since}: a proxy in front without the route?)"
