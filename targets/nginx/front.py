"""An authenticating nginx front for a loopback HTTP server that has no API keys of its own (Ollama).

Two files per front, rendered here and installed by roles/front.py:
- the site (`/etc/nginx/conf.d/gptoss-front-<name>.conf`, 0644): a `map` that sets a variable when the
  `Authorization` header carries the key, a server that answers 401 otherwise and proxies the rest to the
  upstream on loopback, and an access log format with no request header and no query string;
- the key (`<config dir>/<name>.key.map`, 0600 root), pulled into the `map` by `include`. nginx's master
  process reads every configuration file as root when it (re)loads; the worker processes, which run as
  www-data, never open configuration files, so the key is readable by root alone.

Matching: a case-sensitive regex (`map` compares plain strings case-insensitively, and hashes them into
buckets too small for a long key), anchored, so the header must be exactly `Bearer <key>` (the scheme in
any case, RFC 9110). Keys are limited to letters, digits, `-` and `_` (hex or URL-safe base64, e.g.
`openssl rand -hex 24`), so they need no escaping in a regex or in nginx's syntax.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import jinja2

from targets.templates import template_env

HEADER = "Managed by gptoss (pyinfra role roles/front.py): local edits are overwritten."
SITE_TEMPLATE = "front.conf.j2"
NGINX_CONF_DIR = "/etc/nginx/conf.d"
NGINX_LOG_DIR = "/var/log/nginx"

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{32,512}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
_HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
_HOST_HEADER = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class FrontError(ValueError):
    """A front that cannot be rendered safely; the message says what would work."""


@dataclass(frozen=True)
class Front:
    name: str  # gptoss-front-<name>: the site file, the key file, the log and nginx identifiers
    listen_address: str  # IP the front binds (0.0.0.0: every interface)
    listen_port: int
    upstream_port: int  # the server behind it, on 127.0.0.1
    key_file: str  # absolute path of the 0600 key map on the host
    # The upstream's liveness path, served without a key like vLLM's /health: "/" for Ollama ("Ollama is
    # running"), "/health" for vLLM. Exact match, GET and HEAD only.
    health_path: str = "/"
    # Ollama refuses requests whose Host is not a loopback or local name when it listens on loopback
    # (server/routes.go allowedHostsMiddleware): the front sends this one.
    upstream_host_header: str = "localhost"
    # Hand the client's Authorization header on: only for an upstream that checks the same key itself
    # (vLLM with VLLM_API_KEY). Ollama gets none, so the key never reaches its logs.
    forward_authorization: bool = False
    tls_certificate: str | None = None  # PEM files on the host; both or neither
    tls_certificate_key: str | None = None
    max_body: str = "16m"
    # Long answers stream for minutes (120b offloaded to the CPU is slow).
    read_timeout_s: int = 900
    log_dir: str = NGINX_LOG_DIR

    @property
    def ident(self) -> str:
        """The name as an nginx identifier (variables, upstreams, log formats)."""
        return "gptoss_front_" + self.name.replace("-", "_")

    @property
    def site_file(self) -> str:
        return f"{NGINX_CONF_DIR}/gptoss-front-{self.name}.conf"

    @property
    def access_log(self) -> str:
        return f"{self.log_dir}/gptoss-front-{self.name}.access.log"

    @property
    def error_log(self) -> str:
        return f"{self.log_dir}/gptoss-front-{self.name}.error.log"

    @property
    def listen(self) -> str:
        address = ipaddress.ip_address(self.listen_address)
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{host}:{self.listen_port}" + (" ssl" if self.tls_certificate else "")


def validate(front: Front) -> None:
    if not _NAME.match(front.name):
        raise FrontError(f"front name {front.name!r}: use lowercase letters, digits and dashes, e.g. ollama")
    try:
        ipaddress.ip_address(front.listen_address)
    except ValueError:
        raise FrontError(
            f"listen address {front.listen_address!r} is not an IP address: use 0.0.0.0, :: or one interface's IP"
        ) from None
    for what, port in (("listen port", front.listen_port), ("upstream port", front.upstream_port)):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise FrontError(f"{what} {port} is not a TCP port: use 1-65535")
    if front.listen_port == front.upstream_port and front.listen_address in ("0.0.0.0", "::", "127.0.0.1"):
        raise FrontError(f"the front and its upstream cannot both use port {front.listen_port}")
    paths = [front.key_file, front.log_dir, front.tls_certificate, front.tls_certificate_key]
    for path in (p for p in paths if p is not None):
        if not _PATH.match(path) or "/../" in path:
            raise FrontError(f"path {path!r}: use an absolute path of letters, digits, '.', '_', '-' and '/'")
    if (front.tls_certificate is None) != (front.tls_certificate_key is None):
        raise FrontError("TLS needs both a certificate and its key file, or neither")
    if not _HEALTH_PATH.match(front.health_path):
        raise FrontError(f"health path {front.health_path!r}: use an absolute URL path such as / or /health")
    if not _HOST_HEADER.match(front.upstream_host_header):
        raise FrontError(
            f"upstream Host header {front.upstream_host_header!r}: use a host name such as localhost"
        )
    if not re.match(r"^[0-9]{1,4}[km]$", front.max_body):
        raise FrontError(f"max body {front.max_body!r}: use a size such as 16m")
    if not isinstance(front.read_timeout_s, int) or not 1 <= front.read_timeout_s <= 86400:
        raise FrontError(f"read timeout {front.read_timeout_s} s: use 1 to 86400")


def validate_key(key: str) -> str:
    if not _KEY.match(key):
        raise FrontError(
            "the front's API key must be 32 to 512 letters, digits, '-' or '_' "
            "(make one with `openssl rand -hex 24`)"
        )
    return key


def _env() -> jinja2.Environment:
    return template_env("targets.nginx")


def render_site(front: Front) -> str:
    """The site file: http-level blocks, for nginx's conf.d/ (Debian's nginx.conf includes it in http)."""
    validate(front)
    return _env().get_template(SITE_TEMPLATE).render(header=HEADER, front=front)


def render_key_map(key: str) -> str:
    """The 0600 key file the site's `map` includes: one anchored, case-sensitive regex entry."""
    validate_key(key)
    return (
        f"# {HEADER}\n"
        "# The API key this front accepts. 0600 root: nginx's master process reads it, nothing else does.\n"
        f'"~^(?i:bearer) {key}$" 1;\n'
    )
