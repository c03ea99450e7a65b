"""An authenticating nginx front (targets/nginx) for a loopback server without API keys, on Debian/Ubuntu.

nginx-light from the distribution, the key in a 0600 root file the site's `map` includes, the site in
conf.d/, `nginx -t` on every change before nginx reloads (a site that fails it is removed again, so a
later nginx restart is not broken by it). The Ollama role puts it in front of Ollama; the e2e test puts
the same front in front of vLLM on the test host.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from io import StringIO

from pyinfra import host
from pyinfra.api import DeployError, deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.data import HostKey, HostKeys, maybe
from roles.ops import Secret, secret_file
from serving.options import INT, STR
from targets.nginx import Front, FrontError, render_key_map, render_site, validate, validate_key
from targets.secrets import read_secret_file

PACKAGES = ("nginx-light", "curl")
NGINX_UNIT = "nginx.service"

PREFIX = "front_"
KEYS = HostKeys(
    PREFIX,
    (
        HostKey(
            "bind", STR, "0.0.0.0", "address the front listens on; the server behind it stays on 127.0.0.1"
        ),
        HostKey(
            "port", INT, 11435, "clients' port (Ollama keeps 11434 on loopback for the local `ollama` CLI)"
        ),
        maybe(
            "api_key_file",
            STR,
            "~/.config/gptoss/api-key",
            "control machine: file holding the key clients send",
        ),
        HostKey("config_dir", STR, "/etc/gptoss-front", "the key files (0600), root only"),
        maybe("tls_certificate", STR, None, "PEM certificate on the host: the front speaks HTTPS"),
        maybe("tls_certificate_key", STR, None, "its private key on the host"),
    ),
    "roles/front.py",
)
DEFAULTS = KEYS.defaults()


@dataclass(frozen=True)
class FrontSettings:
    bind: str
    port: int
    api_key_file: str | None
    config_dir: str
    tls_certificate: str | None
    tls_certificate_key: str | None

    @property
    def upload_dir(self) -> str:
        return f"{self.config_dir}/.upload"


def front_settings(data) -> FrontSettings:
    return FrontSettings(**KEYS.values(data))


def front_for(
    settings: FrontSettings,
    name: str,
    upstream_port: int,
    health_path: str = "/",
    forward_authorization: bool = False,
) -> Front:
    """The front these settings describe, validated; FrontError says what would work."""
    front = Front(
        name=name,
        listen_address=settings.bind,
        listen_port=settings.port,
        upstream_port=upstream_port,
        key_file=f"{settings.config_dir}/{name}.key.map",
        health_path=health_path,
        forward_authorization=forward_authorization,
        tls_certificate=settings.tls_certificate,
        tls_certificate_key=settings.tls_certificate_key,
    )
    validate(front)
    return front


def read_front_key(settings: FrontSettings) -> Secret:
    """The key from the control machine's file; a front without a key would be an open endpoint."""
    if not settings.api_key_file:
        raise DeployError(
            "front_api_key_file is not set: the front needs a key (the server behind it has none); "
            "make one with `openssl rand -hex 24 > ~/.config/gptoss/api-key`"
        )
    try:
        return Secret(validate_key(read_secret_file(settings.api_key_file, "API key")))
    except (OSError, ValueError) as err:
        raise DeployError(f"{err} (front_api_key_file)") from err


def validate_command(front: Front) -> str:
    """`nginx -t` over the whole configuration; a site that fails it is taken out again."""
    site = shlex.quote(front.site_file)
    return f"nginx -t -q || {{ rm -f {site}; echo 'nginx -t refused {front.site_file}: removed it' >&2; exit 1; }}"


@deploy("Authenticating nginx front", data_defaults=DEFAULTS)
def authenticating_front(
    name: str, upstream_port: int, health_path: str = "/", forward_authorization: bool = False
) -> list[OperationMeta]:
    """Put the front `name` on front_bind:front_port before 127.0.0.1:`upstream_port`; return the
    operations that change what it serves (its site and its key)."""
    try:
        settings = front_settings(host.data)
        front = front_for(settings, name, upstream_port, health_path, forward_authorization)
    except (ValueError, FrontError) as err:
        raise DeployError(f"front {name}: {err}") from err
    key = read_front_key(settings)

    installed = host.get_fact(DebPackages) or {}
    missing = [p for p in PACKAGES if p not in installed]
    if missing:
        # Only when something is missing: an offline host with everything installed needs no index.
        apt.packages(name=f"{', '.join(missing)} installed", packages=missing, update=True)
    for path in (settings.config_dir, settings.upload_dir):
        files.directory(
            name=f"Directory {path} exists (root, 700)", path=path, user="root", group="root", mode="700"
        )
    key_file = secret_file(
        name=f"Key of front {name} is in {front.key_file} (0600 root)",
        path=front.key_file,
        content=Secret(render_key_map(key.reveal())),
        upload_dir=settings.upload_dir,
    )
    site = files.put(
        name=f"Site {front.site_file} fronts 127.0.0.1:{upstream_port} on {front.listen}",
        src=StringIO(render_site(front)),
        dest=front.site_file,
        user="root",
        group="root",
        mode="644",
    )
    changed = any_changed(key_file, site)
    server.shell(
        name="nginx accepts the configuration (nginx -t)", commands=[validate_command(front)], _if=changed
    )
    systemd.service(name="nginx is enabled and running", service=NGINX_UNIT, running=True, enabled=True)
    # A reload, not a restart: streams in flight finish on the old workers. (Right after a first start it
    # reloads what was just loaded, which is harmless; the package may have started nginx before the site
    # was written.)
    server.shell(
        name="nginx reloads its changed configuration",
        commands=[f"systemctl reload {NGINX_UNIT}"],
        _if=changed,
    )
    return [key_file, site]
