"""What we are testing: one OpenAI-compatible endpoint and the profile of the server behind it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx

from smoke.redact import Redactor, strip_userinfo

__all__ = ["CONFIGURED_KEY", "PROFILES", "Endpoint", "Profile", "Redactor", "check_base_url"]

# Marks "use the configured key" apart from an explicit None (no key at all).
CONFIGURED_KEY = object()


@dataclass(frozen=True)
class Profile:
    """How a server family differs where the checks care."""

    name: str
    # Liveness path relative to the server root (the base URL without `/v1`).
    health_path: str
    # Does the server check API keys itself? (Ollama does not; only a front before it can.)
    checks_api_keys: bool
    # Is the Responses API expected? A 404 is reported as not supported either way, never as a crash.
    # (Ollama's answer depends on its version: smoke/server.py asks it.)
    responses_expected: bool
    example_base_url: str
    notes: str = ""
    # Path on the server root that answers {"version": ...}, when the family's API differs by version.
    version_path: str | None = None


PROFILES: dict[str, Profile] = {
    "vllm": Profile(
        name="vllm",
        health_path="/health",
        checks_api_keys=True,
        responses_expected=True,
        example_base_url="http://127.0.0.1:8000/v1",
        notes="vLLM's OpenAI server: /health, --api-key / VLLM_API_KEY, reasoning in message.reasoning",
    ),
    "ollama": Profile(
        name="ollama",
        # Ollama answers "Ollama is running" on its root; it has no /health.
        health_path="/",
        checks_api_keys=False,
        responses_expected=False,
        example_base_url="http://127.0.0.1:11434/v1",
        notes="Ollama's OpenAI-compatible layer: no API keys of its own (an authenticating front may add one), "
        "reasoning in message.reasoning, model names like gpt-oss:20b, a stateless /v1/responses since 0.13.3",
        version_path="/api/version",
    ),
}


@dataclass(frozen=True)
class Endpoint:
    """One base URL (ending in `/v1`) serving one model name.

    The API key is read from the environment by name and kept out of `repr()` so it never reaches logs.
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    api_key: str | None = field(default=None, repr=False)
    profile: Profile = PROFILES["vllm"]
    # Per-request budget (connect + read) and the readiness deadline.
    request_timeout_s: float = 120.0
    connect_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @classmethod
    def from_env(
        cls,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        profile: str = "vllm",
        request_timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0,
        environ: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> Endpoint:
        """`api_key` wins over the environment (it comes from --api-key-file)."""
        env = os.environ if environ is None else environ
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: use one of {', '.join(sorted(PROFILES))}")
        check_base_url(base_url, PROFILES[profile].example_base_url)
        return cls(
            base_url=base_url,
            model=model,
            api_key_env=api_key_env,
            api_key=(env.get(api_key_env) or None) if api_key is None else api_key,
            profile=PROFILES[profile],
            request_timeout_s=request_timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    @property
    def display_url(self) -> str:
        """The base URL as printed: any `user:password@` is masked."""
        return strip_userinfo(self.base_url)

    @property
    def root_url(self) -> str:
        """The server root: vLLM and Ollama serve health next to, not under, `/v1`."""
        if self.base_url.endswith("/v1"):
            return self.base_url[: -len("/v1")]
        return self.base_url

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def auth_headers(self, api_key: str | object | None = CONFIGURED_KEY) -> dict[str, str]:
        """Headers for a request; pass `api_key=None` for an unauthenticated one, or another key."""
        key = self.api_key if api_key is CONFIGURED_KEY else api_key
        return {"Authorization": f"Bearer {key}"} if key else {}


def check_base_url(url: str, example: str) -> None:
    """Refuse, in one sentence, a base URL the client could not use (the message masks any password)."""
    shown = repr(strip_userinfo(url))
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"base URL {shown} must start with http:// or https:// (e.g. {example})")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"base URL {shown} contains whitespace or control characters (e.g. {example})")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        problem = str(exc).split(":")[0].lower()
        raise ValueError(f"base URL {shown} is not a valid URL ({problem}); e.g. {example}") from None
    if not parsed.host:
        raise ValueError(f"base URL {shown} names no host (e.g. {example})")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ValueError(f"base URL {shown} has port {parsed.port}; a port is 1..65535 (e.g. {example})")
    if parsed.query or parsed.fragment:
        raise ValueError(f"base URL {shown} must not carry a query or fragment (e.g. {example})")
