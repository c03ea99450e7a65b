"""Build (or reuse) the Debian bookworm root filesystem of the disposable systemd test host.

The test host has no route to the internet, so everything the pyinfra roles and vLLM CPU need from Debian
is baked in here: `debootstrap --variant=minbase --include=<ROOTFS_PACKAGES>`. The result is cached twice:
a tarball under ``~/.cache/gptoss/rootfs/`` (the durable cache, named by a hash of the package list and the
builder version) and an unpacked pristine directory under ``~/.cache/gptoss/testbed/`` that every boot
overlays and never writes to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Bump when the configuration written into the rootfs changes: it is part of the cache key.
BUILDER_VERSION = "5"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# One list, easy to extend. Grouped by who needs it.
ROOTFS_PACKAGES: tuple[str, ...] = (
    # a booting systemd host that pyinfra can drive over SSH
    "systemd",
    "systemd-sysv",
    "dbus",
    "libpam-systemd",
    "openssh-server",
    "sudo",
    "iproute2",
    "procps",
    "curl",
    "ca-certificates",
    # the roles: uv and vLLM live in venvs made from the system Python
    "python3",
    "python3-venv",
    # vLLM CPU at run time: torch's OpenMP and NUMA libraries, and a C/C++ toolchain because torch
    # inductor compiles kernels while vLLM warms up; those kernels `#include <Python.h>`
    # (torch/_inductor/codecache.py, CppPythonBindingsCodeCache), hence python3-dev.
    "libgomp1",
    "libnuma1",
    "gcc",
    "g++",
    "libc6-dev",
    "python3-dev",
    # the monitoring role (roles/monitoring.py) installs Debian's Prometheus and node exporter, and the test
    # host has no route to a mirror: they are baked in, disabled (the role enables what it uses)
    "prometheus",
    "prometheus-node-exporter",
    # the authenticating front (roles/front.py), proven in front of vLLM by tests/e2e/test_ollama_front.py;
    # the host is offline, so the role finds it installed and only enables it
    "nginx-light",
)
# Installed but off at boot, as on a host before its role runs: the front role (roles/front.py) enables
# nginx, the monitoring role (monitoring_enabled) Prometheus and the node exporter; a test host that needs
# neither must not spend memory on them.
DISABLED_UNITS: tuple[str, ...] = ("nginx.service", "prometheus.service", "prometheus-node-exporter.service")

# Units that fail or only cost time inside a container with no network and a read-only /proc/sys.
MASKED_UNITS: tuple[str, ...] = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-firstboot.service",
    "console-getty.service",
    "getty@tty1.service",
    "systemd-hwdb-update.service",
    "systemd-journal-catalog-update.service",
)

TESTBED_ADDRESS = "10.231.0.2"
TESTBED_PREFIX = 30

NETWORKD_HOST0 = f"""\
# The container end of the private test bridge. No gateway and no DNS on purpose: the test host must not
# reach anything but the bridge.
[Match]
Name=host0

[Network]
Address={TESTBED_ADDRESS}/{TESTBED_PREFIX}
LinkLocalAddressing=no
IPv6AcceptRA=no
"""

SSHD_DROPIN = """\
# gptoss testbed: root by key only.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

SOURCES_LIST = """\
# The gptoss testbed has no route out: no apt sources. Debian packages are baked in at build time
# (testbed/rootfs.py ROOTFS_PACKAGES); Python packages come from /srv/wheelhouse.
"""


def cache_root() -> Path:
    """``~/.cache/gptoss`` (``GPTOSS_CACHE`` overrides it)."""
    return Path(os.environ.get("GPTOSS_CACHE", Path.home() / ".cache" / "gptoss"))


def rootfs_key(packages: tuple[str, ...] = ROOTFS_PACKAGES) -> str:
    """Cache key: what changes the rootfs content (suite, packages, builder version, masked and disabled
    units)."""
    spec = json.dumps(
        {
            "suite": SUITE,
            "builder": BUILDER_VERSION,
            "packages": sorted(packages),
            "masked": MASKED_UNITS,
            "disabled": DISABLED_UNITS,
        },
        sort_keys=True,
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RootfsPaths:
    key: str
    tarball: Path  # the durable cache
    pristine: Path  # unpacked, read-only lower layer of every boot

    @property
    def complete_marker(self) -> Path:
        return self.pristine / ".gptoss-rootfs-complete"


def rootfs_paths(packages: tuple[str, ...] = ROOTFS_PACKAGES) -> RootfsPaths:
    key = rootfs_key(packages)
    root = cache_root()
    return RootfsPaths(
        key=key,
        tarball=root / "rootfs" / f"{SUITE}-{key}.tar.zst",
        pristine=root / "testbed" / f"rootfs-{key}",
    )


@dataclass(frozen=True)
class RootfsResult:
    paths: RootfsPaths
    built: bool  # debootstrap ran
    unpacked: bool  # the tarball was unpacked into the pristine dir
    seconds: float
    tarball_bytes: int


class RootfsError(RuntimeError):
    pass


def _run(argv: list[str], **kwargs) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RootfsError(f"{' '.join(argv[:3])} ... failed with exit code {proc.returncode}:\n{tail}")


def _require_tools() -> None:
    missing = [tool for tool in ("debootstrap", "tar", "zstd") if shutil.which(tool) is None]
    if missing:
        raise RootfsError(f"missing {', '.join(missing)}: run `sudo scripts/testbed-deps` to install them")
    if os.geteuid() != 0:
        raise RootfsError("building the testbed rootfs needs root (debootstrap, chroot): run it as root")


def configure_rootfs(root: Path) -> None:
    """Everything after debootstrap: network, sshd, masked units, an empty machine-id."""
    (root / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
    # Sorted before systemd's own 80-container-host0.network (DHCP + link-local), so this one wins.
    (root / "etc/systemd/network/10-gptoss-host0.network").write_text(NETWORKD_HOST0)
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/gptoss-testbed.conf").write_text(SSHD_DROPIN)
    (root / "etc/apt/sources.list").write_text(SOURCES_LIST)
    (root / "etc/hostname").write_text("gptoss-testbed\n")
    # A UTF-8 locale that needs no `locales` package (built into glibc); pam_env reads this file per login.
    (root / "etc/default").mkdir(parents=True, exist_ok=True)
    (root / "etc/default/locale").write_text("LANG=C.UTF-8\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tgptoss-testbed\n")
    # Empty (not missing) machine-id: each boot gets a fresh transient id and no first-boot prompts.
    (root / "etc/machine-id").write_text("")
    # A persistent journal: it lands in the overlay's upper layer, so `down --keep` leaves the last boot's
    # log readable from the host (journalctl -D ~/.cache/gptoss/testbed/run/upper/var/log/journal).
    (root / "var/log/journal").mkdir(parents=True, exist_ok=True)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    _run(["chroot", str(root), "systemctl", "enable", "systemd-networkd.service", "ssh.service"])
    _run(["chroot", str(root), "systemctl", "mask", *MASKED_UNITS])
    _run(["chroot", str(root), "systemctl", "disable", *DISABLED_UNITS])
    # Smaller tarball: package lists and downloaded .debs are useless offline.
    for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for entry in (root / sub).glob("*"):
            if entry.is_file() and entry.name != "lock":
                entry.unlink()


def _debootstrap(target: Path, packages: tuple[str, ...]) -> None:
    mirror = os.environ.get("GPTOSS_DEBIAN_MIRROR", DEFAULT_MIRROR)
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(target),
            mirror,
        ]
    )


def _pack(root: Path, tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_name(tarball.name + ".partial")
    _run(
        [
            "tar",
            "--create",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-I",
            "zstd -T0 -6",
            "-f",
            str(partial),
            "-C",
            str(root),
            ".",
        ]
    )
    partial.rename(tarball)


def _unpack(tarball: Path, target: Path) -> None:
    target.mkdir(parents=True)
    _run(
        [
            "tar",
            "--extract",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-I",
            "zstd",
            "-f",
            str(tarball),
            "-C",
            str(target),
        ]
    )


def ensure_rootfs(packages: tuple[str, ...] = ROOTFS_PACKAGES, rebuild: bool = False) -> RootfsResult:
    """Return the pristine rootfs, building the tarball (debootstrap) and unpacking it only when missing."""
    paths = rootfs_paths(packages)
    started = time.monotonic()
    if not rebuild and paths.complete_marker.exists():
        _prune_stale_pristine(paths)
        return RootfsResult(paths, False, False, time.monotonic() - started, _size(paths.tarball))
    _require_tools()
    if paths.pristine.exists():
        shutil.rmtree(paths.pristine)  # a half-unpacked or half-built leftover
    built = unpacked = False
    if rebuild or not paths.tarball.exists():
        staging = paths.pristine.with_name(paths.pristine.name + ".building")
        if staging.exists():
            shutil.rmtree(staging)
        staging.parent.mkdir(parents=True, exist_ok=True)
        _debootstrap(staging, packages)
        configure_rootfs(staging)
        _pack(staging, paths.tarball)
        staging.rename(paths.pristine)
        built = True
    else:
        _unpack(paths.tarball, paths.pristine)
        unpacked = True
    paths.complete_marker.write_text(json.dumps({"key": paths.key, "packages": list(packages)}) + "\n")
    _prune_stale_pristine(paths)
    return RootfsResult(paths, built, unpacked, time.monotonic() - started, _size(paths.tarball))


def _prune_stale_pristine(current: RootfsPaths) -> None:
    """Unpacked rootfs dirs of older keys cost ~0.5 GB each; their tarballs stay, so going back is cheap."""
    mounts = Path("/proc/self/mounts").read_text()
    for old in current.pristine.parent.glob("rootfs-*"):
        if old != current.pristine and old.is_dir() and str(old) not in mounts:
            shutil.rmtree(old)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0
