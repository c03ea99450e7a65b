"""Ollama serving gpt-oss on a Linux workstation, behind an authenticating front. `deploy_ollama.py` calls
`serve_ollama`, the role's one public deploy.

What a host gets, in order (each step a no-op when the host has it already):
1. the plan (serving/ollama.py) and the release pin are resolved and the host is checked before the first
   change: Linux with systemd on x86_64 or aarch64, no `ollama.service` of Ollama's install script running;
2. zstd and curl; the `ollama` system user (video and render groups for AMD GPUs) and its directories;
3. the release archive, downloaded from its release URL (or staged on the host) and checked against its
   sha256, unpacked into /opt/ollama/<version>/, and `ollama` linked onto PATH;
4. the hardened unit `gptoss-ollama.service` and its env file, rendered from the plan (targets/systemd);
   Ollama restarts only when one of them or the installed release changed;
5. the authenticating nginx front (roles/front.py) on front_port;
6. `ollama pull` of the tag when Ollama does not list it, then a wait until the front serves it.

Written against Ollama's own Linux install (scripts/install.sh and docs/linux.mdx of v0.32.7); not run
here, where no Ollama release can be downloaded (see the README).
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Link
from pyinfra.facts.server import Arch, Which
from pyinfra.facts.systemd import SystemdStatus
from pyinfra.operations import apt, files, python, server, systemd
from pyinfra.operations.util import any_changed

from roles.front import DEFAULTS as FRONT_DEFAULTS
from roles.front import authenticating_front, front_for, front_settings, read_front_key
from roles.ollama_ops import front_serves, model_pulled
from roles.ollama_settings import DEFAULTS, OllamaSettings, Release, plan_for, release_for, settings_from_data
from roles.ops import install_once
from roles.service import run_smoke
from serving import PlanError
from serving.ollama import OllamaPlan
from targets.nginx import FrontError
from targets.systemd.ollama import UNIT_NAME, render_env, render_unit, unit_options

UNIT_DIR = "/etc/systemd/system"
# The unit Ollama's install script (and docs/linux.mdx) makes: it listens on 127.0.0.1:11434 too.
FOREIGN_UNIT = "ollama.service"
PACKAGES = (
    "zstd",
    "curl",
    "python3",
)  # python3: the front probe matches the model id (targets/systemd/probe.py)
MARKER = ".gptoss-installed"
FRONT_NAME = "ollama"


def _resolve(data) -> tuple[OllamaSettings, OllamaPlan]:
    try:
        settings = settings_from_data(data)
        plan = plan_for(settings)
    except (ValueError, PlanError) as err:
        raise DeployError(f"no Ollama plan for {host.name}: {err}") from err
    if plan.accelerator.vendor == "apple":
        raise DeployError(
            f"{plan.accelerator.name} is a Mac: this role deploys Linux hosts; on macOS install Ollama with "
            "Homebrew and run it under launchd (docs/ollama.md)"
        )
    return settings, plan


def _check_host(settings: OllamaSettings, plan: OllamaPlan) -> Release:
    """Everything that would stop the deploy half-way, checked before the first change."""
    if not host.get_fact(Which, command="systemctl"):
        raise DeployError(f"{host.name} has no systemctl: the Ollama role needs a systemd host")
    try:
        release = release_for(settings, host.get_fact(Arch) or "unknown", plan.accelerator.vendor)
    except PlanError as err:
        raise DeployError(f"{host.name}: {err}") from err
    if settings.cli_link and host.get_fact(Link, path=settings.cli_link) is False:
        raise DeployError(
            f"{settings.cli_link} on {host.name} is a file, not a link (Ollama's install script puts its binary "
            "there): remove it, or set ollama_cli_link to another path or None"
        )
    if (host.get_fact(SystemdStatus) or {}).get(FOREIGN_UNIT):
        raise DeployError(
            f"{host.name} runs {FOREIGN_UNIT} (Ollama's install script) on 127.0.0.1:11434: stop and disable it "
            f"(`systemctl disable --now {FOREIGN_UNIT}`), or set ollama_port to another port"
        )
    return release


def extract_script(release: Release, install_dir: str) -> str:
    """Check the archives' sha256, unpack them into a fresh directory, then move it into place."""
    q = shlex.quote
    staging = f"{install_dir}.partial"
    lines = [f"printf '%s  %s\\n' {q(release.sha256)} {q(release.archive)} | sha256sum -c --status -"]
    if release.rocm_archive and release.rocm_sha256:
        lines.append(
            f"printf '%s  %s\\n' {q(release.rocm_sha256)} {q(release.rocm_archive)} | sha256sum -c --status -"
        )
    lines += [
        f"rm -rf {q(staging)} {q(install_dir)}",
        f"install -d -m 755 {q(staging)}",
        f"tar --zstd -xf {q(release.archive)} -C {q(staging)} --no-same-owner",
    ]
    if release.rocm_archive:
        lines.append(f"tar --zstd -xf {q(release.rocm_archive)} -C {q(staging)} --no-same-owner")
    lines += [
        f"test -x {q(staging + '/bin/ollama')}",
        f"chmod -R go-w {q(staging)}",
        f"mv {q(staging)} {q(install_dir)}",
    ]
    return "\n".join(lines)


def _user_and_directories(settings: OllamaSettings, plan: OllamaPlan) -> None:
    layout = settings.layout
    server.group(name=f"Group {layout.user} exists", group=layout.user, system=True)
    # AMD GPUs are opened through /dev/kfd and /dev/dri/renderD*, owned by the render and video groups
    # (Ollama's install script adds its user to both as well).
    groups = ["video", "render"] if plan.accelerator.vendor == "amd" else None
    server.user(
        name=f"System user {layout.user} exists, home {layout.state_dir}, no login shell",
        user=layout.user,
        group=layout.user,
        groups=groups,
        system=True,
        home=layout.state_dir,
        create_home=False,
        ensure_home=False,  # the directory layout below owns it
        shell="/usr/sbin/nologin",
    )
    # (path, owner, mode): code and config belong to root; the service writes its home and the models.
    for path, owner, mode in (
        (layout.root, "root", "755"),
        (layout.state_dir, layout.user, "750"),
        (layout.models_dir, layout.user, "750"),
        (layout.cache_dir, "root", "700"),
        (layout.config_dir, "root", "700"),
    ):
        files.directory(
            name=f"Directory {path} exists ({owner}, {mode})", path=path, user=owner, group=owner, mode=mode
        )


def _install(settings: OllamaSettings, release: Release):
    """The release archive(s) on the host, checked and unpacked; returns the operations that change it."""
    downloads = []
    for url, archive, sha in (
        (release.url, release.archive, release.sha256),
        (release.rocm_url, release.rocm_archive, release.rocm_sha256),
    ):
        if url and archive and sha:
            downloads.append(
                files.download(
                    name=f"{archive} is the release asset (sha256 {sha[:12]}...)",
                    src=url,
                    dest=archive,
                    sha256sum=sha,
                    user="root",
                    group="root",
                    mode="600",
                )
            )
    install_dir = settings.layout.install_dir(release.version)
    unpacked = install_once(
        name=f"Ollama {release.version} is unpacked in {install_dir}",
        marker=f"{install_dir}/{MARKER}",
        marker_text=release.marker_text,
        script=extract_script(release, install_dir),
    )
    changes = [*downloads, unpacked]
    if settings.cli_link:
        changes.append(
            files.link(
                name=f"{settings.cli_link} is Ollama {release.version}",
                path=settings.cli_link,
                target=f"{install_dir}/bin/ollama",
            )
        )
    return changes


@deploy("Serve gpt-oss with Ollama", data_defaults={**DEFAULTS, **FRONT_DEFAULTS})
def serve_ollama() -> OllamaPlan:
    settings, plan = _resolve(host.data)
    try:
        front_data = front_settings(host.data)
        front = front_for(front_data, FRONT_NAME, settings.port)
    except (ValueError, FrontError) as err:
        raise DeployError(f"front: {err}") from err
    key = read_front_key(front_data)
    release = _check_host(settings, plan)

    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in PACKAGES if p not in installed]
    if missing:
        apt.packages(name=f"{', '.join(missing)} installed", packages=missing, update=True)
    _user_and_directories(settings, plan)
    install_changes = _install(settings, release)

    layout = settings.layout
    options = unit_options(plan, layout, settings.unit_kernel_protection, version=release.version)
    unit = files.put(
        name=f"Unit {UNIT_NAME} runs Ollama {release.version} on {plan.listen}",
        src=StringIO(render_unit(plan, options)),
        dest=f"{UNIT_DIR}/{UNIT_NAME}",
        user="root",
        group="root",
        mode="644",
    )
    env = files.put(
        name=f"Env file {options.env_file} holds the plan's environment",
        src=StringIO(render_env(plan)),
        dest=options.env_file,
        user="root",
        group="root",
        mode="644",
    )
    systemd.daemon_reload(name="systemd has loaded the changed unit", _if=any_changed(unit))
    started = []
    if (host.get_fact(SystemdStatus) or {}).get(UNIT_NAME):
        started.append(
            systemd.service(
                name=f"{UNIT_NAME} is restarted because its unit, env file or Ollama changed",
                service=UNIT_NAME,
                restarted=True,
                _if=any_changed(unit, env, *install_changes),
            )
        )
    started.append(
        systemd.service(
            name=f"{UNIT_NAME} is enabled and running", service=UNIT_NAME, running=True, enabled=True
        )
    )
    front_changes = authenticating_front(
        FRONT_NAME, settings.port, health_path="/", forward_authorization=False
    )

    if settings.wait:
        model_pulled(
            name=f"Ollama lists {plan.tag} (pulled when missing)",
            binary=f"{options.install_dir}/bin/ollama",
            port=settings.port,
            tag=plan.tag,
            unit=UNIT_NAME,
            log=f"{layout.cache_dir}/pull.log",
            timeout_s=settings.pull_timeout_s,
        )
        front_serves(
            name=f"The front on port {front.listen_port} serves {plan.tag} with the key only",
            front=front,
            tag=plan.tag,
        )
    if settings.smoke:
        address = settings.endpoint_host or host.data.get("ssh_hostname") or host.name
        scheme = "https" if front.tls_certificate else "http"
        python.call(
            name=f"Smoke checks pass through the front at {scheme}://{address}:{front.listen_port}/v1",
            function=run_smoke,
            base_url=f"{scheme}://{address}:{front.listen_port}/v1",
            model=plan.tag,
            api_key=key,
            checks=settings.smoke_checks,
            profile="ollama",
            _if=any_changed(*started, *front_changes),
        )
    return plan
