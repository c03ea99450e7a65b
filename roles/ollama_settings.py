"""Host data of the Ollama role (`ollama_*` keys), their defaults in one place, and the plan built from them.

Set any key in an inventory, `group_data/<group>.py` or on the command line
(`pyinfra inventories/workstation.py deploy_ollama.py --data ollama_context_length=32768`). The front
before it has its own keys (`front_*`, roles/front.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from roles.data import HostKey, HostKeys, maybe
from serving import PlanError
from serving.catalog import OLLAMA_LINUX_SHA256
from serving.ollama import DEFAULT_PORT, OllamaPlan, OllamaRequest, plan_ollama
from serving.options import BOOL, FLOAT, INT, MAPPING, STR
from serving.pins import OLLAMA_VERSION
from targets.systemd.ollama import OLLAMA_LAYOUT, OllamaLayout

PREFIX = "ollama_"
# Every key with its one default (the host layout's from targets/systemd/ollama.py OllamaLayout).
KEYS = HostKeys(
    PREFIX,
    (
        # The Ollama plan (serving.ollama.OllamaRequest).
        HostKey("model", STR, "gpt-oss-20b", "model to serve: gpt-oss-20b or gpt-oss-120b"),
        HostKey(
            "accelerator", STR, "rtx4090", "the machine, a catalog key (`gptoss plan --help` lists them)"
        ),
        HostKey("gpus", INT, 1, "discrete GPUs in the machine"),
        maybe("host_memory_gib", FLOAT, None, "RAM, for the offload check on machines with discrete GPUs"),
        maybe("context_length", INT, None, "OLLAMA_CONTEXT_LENGTH; unset: the longest the memory holds"),
        maybe("num_parallel", INT, None, "OLLAMA_NUM_PARALLEL; unset: as many as the memory holds (up to 4)"),
        maybe(
            "keep_alive", STR, None, "OLLAMA_KEEP_ALIVE; unset: the plan's (-1 on a discrete GPU, else 30m)"
        ),
        HostKey(
            "port", INT, DEFAULT_PORT, "Ollama's port on 127.0.0.1; clients use the front's (front_port)"
        ),
        HostKey("extra_env", MAPPING, {}, "more OLLAMA_* environment; keys the plan sets are refused"),
        # The release, pinned by version and sha256.
        HostKey("version", STR, OLLAMA_VERSION, "Ollama release (serving/pins.py pins it with its digests)"),
        maybe(
            "sha256",
            STR,
            None,
            "archive digest; unset: the pinned one for ollama_version and the host's arch",
        ),
        maybe("archive_url", STR, None, "where the archive comes from; unset: the GitHub release asset"),
        maybe(
            "archive_file",
            STR,
            None,
            "air-gapped: the archive already on the host (checked against the sha256)",
        ),
        maybe(
            "rocm_sha256",
            STR,
            None,
            "AMD: sha256 of ollama-linux-amd64-rocm.tar.zst (the release's sha256sum.txt)",
        ),
        maybe("rocm_archive_file", STR, None, "air-gapped AMD hosts: that archive on the host"),
        # The host layout.
        HostKey("user", STR, OLLAMA_LAYOUT.user, "system user the service runs as"),
        HostKey("root", STR, OLLAMA_LAYOUT.root, "one directory per Ollama version"),
        HostKey("state_dir", STR, OLLAMA_LAYOUT.state_dir, "the user's home (~/.ollama) and the models"),
        HostKey("cache_dir", STR, OLLAMA_LAYOUT.cache_dir, "downloaded archives, root only"),
        HostKey("config_dir", STR, OLLAMA_LAYOUT.config_dir, "the env file, root only"),
        maybe(
            "cli_link",
            STR,
            "/usr/local/bin/ollama",
            "the `ollama` command for people on the host; unset: none",
        ),
        # The systemd unit and after the start.
        HostKey(
            "unit_kernel_protection", BOOL, True, "kernel protections in the unit; false on container hosts"
        ),
        HostKey(
            "wait", BOOL, True, "pull the model when missing, then wait until Ollama and the front list it"
        ),
        HostKey(
            "pull_timeout_s", INT, 7200, "the pull's budget (65 GB for 120b); a pull resumes where it stopped"
        ),
        HostKey(
            "smoke", BOOL, False, "run `gptoss smoke --profile ollama` through the front after a (re)start"
        ),
        maybe("smoke_checks", STR, None, "`gptoss smoke --checks` value; unset: every check"),
        maybe(
            "endpoint_host",
            STR,
            None,
            "address the control machine reaches the front on; unset: the SSH host",
        ),
    ),
    "roles/ollama_settings.py",
)
DEFAULTS: dict[str, Any] = KEYS.defaults()
# `uname -m` -> the architecture in Ollama's asset names.
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-rc[0-9]+)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^https?://[A-Za-z0-9._~:/?#@!&'()*+,;=%-]+$")


@dataclass(frozen=True)
class OllamaSettings:
    """Typed host data. No defaults here: DEFAULTS above is the one place for them."""

    model: str
    accelerator: str
    gpus: int
    host_memory_gib: float | None
    context_length: int | None
    num_parallel: int | None
    keep_alive: str | None
    port: int
    extra_env: dict[str, str]
    version: str
    sha256: str | None
    archive_url: str | None
    archive_file: str | None
    rocm_sha256: str | None
    rocm_archive_file: str | None
    user: str
    root: str
    state_dir: str
    cache_dir: str
    config_dir: str
    cli_link: str | None
    unit_kernel_protection: bool
    wait: bool
    pull_timeout_s: int
    smoke: bool
    smoke_checks: str | None
    endpoint_host: str | None

    @property
    def layout(self) -> OllamaLayout:
        return OllamaLayout(
            user=self.user,
            root=self.root,
            state_dir=self.state_dir,
            cache_dir=self.cache_dir,
            config_dir=self.config_dir,
        )


def settings_from_data(data) -> OllamaSettings:
    return OllamaSettings(**KEYS.values(data))


def plan_for(settings: OllamaSettings) -> OllamaPlan:
    """The Ollama plan for these settings; PlanError says what would work."""
    return plan_ollama(
        OllamaRequest(
            model=settings.model,
            accelerator=settings.accelerator,
            gpus=settings.gpus,
            host_memory_gib=settings.host_memory_gib,
            context_length=settings.context_length,
            num_parallel=settings.num_parallel,
            keep_alive=settings.keep_alive,
            port=settings.port,
            models_dir=settings.layout.models_dir,
            extra_env=settings.extra_env,
        )
    )


@dataclass(frozen=True)
class Release:
    """The Ollama release a host gets: where the archives come from and what they must hash to."""

    version: str
    arch: str
    sha256: str
    url: str | None  # None: the archive is staged on the host (archive_file)
    archive: str  # path of the archive on the host
    rocm_sha256: str | None = None
    rocm_url: str | None = None
    rocm_archive: str | None = None

    @property
    def marker_text(self) -> str:
        rocm = f" rocm={self.rocm_sha256}" if self.rocm_sha256 else ""
        return f"ollama {self.version} linux-{self.arch} sha256={self.sha256}{rocm}"


def github_asset(version: str, name: str) -> str:
    return f"https://github.com/ollama/ollama/releases/download/v{version}/{name}"


def _check_path(what: str, path: str) -> str:
    if not path.startswith("/") or any(c in path for c in "\n\r\0"):
        raise PlanError(f"{what} {path!r} must be an absolute path on the host")
    return path


def release_for(settings: OllamaSettings, machine: str, vendor: str) -> Release:
    """The pinned release for a host whose `uname -m` is `machine`; PlanError when it cannot be pinned."""
    if not _VERSION.match(settings.version):
        raise PlanError(
            f"ollama_version {settings.version!r} is not a release version such as {OLLAMA_VERSION}"
        )
    arch = ARCHES.get(machine)
    if arch is None:
        raise PlanError(f"Ollama publishes Linux builds for x86_64 and aarch64, not {machine}")
    sha = settings.sha256 or (OLLAMA_LINUX_SHA256.get(arch) if settings.version == OLLAMA_VERSION else None)
    if sha is None:
        raise PlanError(
            f"no sha256 pinned for Ollama {settings.version} linux-{arch}: set ollama_sha256 to the line for "
            f"ollama-linux-{arch}.tar.zst in {github_asset(settings.version, 'sha256sum.txt')}"
        )
    if not _SHA256.match(sha):
        raise PlanError(f"ollama_sha256 {sha!r} is not a sha256 (64 lowercase hex digits)")
    name = f"ollama-linux-{arch}.tar.zst"
    url = None if settings.archive_file else (settings.archive_url or github_asset(settings.version, name))
    if url is not None and not _URL.match(url):
        raise PlanError(f"ollama_archive_url {url!r} is not an http(s) URL")
    archive = settings.archive_file or f"{settings.cache_dir}/ollama-{settings.version}-linux-{arch}.tar.zst"
    release = Release(settings.version, arch, sha, url, _check_path("ollama_archive_file", archive))
    if vendor != "amd":
        return release
    if arch != "amd64":
        raise PlanError("Ollama's ROCm build is for x86_64 hosts only")
    rocm_sha = settings.rocm_sha256
    if rocm_sha is None or not _SHA256.match(rocm_sha):
        raise PlanError(
            "AMD GPUs need Ollama's ROCm add-on, whose digest is not pinned here: set ollama_rocm_sha256 to the "
            f"line for ollama-linux-amd64-rocm.tar.zst in {github_asset(settings.version, 'sha256sum.txt')}"
        )
    rocm_name = "ollama-linux-amd64-rocm.tar.zst"
    rocm_url = None if settings.rocm_archive_file else github_asset(settings.version, rocm_name)
    rocm_archive = settings.rocm_archive_file or f"{settings.cache_dir}/ollama-{settings.version}-{rocm_name}"
    return Release(
        settings.version,
        arch,
        sha,
        url,
        release.archive,
        rocm_sha,
        rocm_url,
        _check_path("ollama_rocm_archive_file", rocm_archive),
    )
