"""Fixtures that boot the disposable systemd-nspawn test host.

`testbed_host` (session scope) boots a clean host (fresh overlay over the cached rootfs) once per test session
and powers it off at the end. Tests marked ``testbed_last`` (the reboot and teardown checks of
tests/e2e/test_testbed.py) run after every other test, so they never pull the host away from a deploy test.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra
from testbed import nspawn


@dataclass(frozen=True)
class TestbedHost:
    __test__ = False  # a dataclass, not a test class

    address: str  # 10.231.0.2
    ssh_config: Path  # Host gptoss-testbed, for ssh -F, testinfra and scripts
    inventory: Path  # inventories/testbed.py, for `pyinfra <inventory> deploy.py`
    host: testinfra.host.Host  # testinfra over ssh://gptoss-testbed
    boot: nspawn.UpResult  # the session's first boot, with its timings
    ip_forward_before: str  # the host's net.ipv4.ip_forward before the testbed existed


def testbed_missing() -> str | None:
    """Why this machine cannot run the testbed, or None when it can."""
    if os.geteuid() != 0:
        return "not root: the testbed needs root for the bridge, the overlay mount and systemd-nspawn"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap")):
        if shutil.which(tool) is None:
            return f"{tool} not found: install {package} (sudo scripts/testbed-deps)"
    if shutil.which("ssh") is None:
        return "ssh not found: install openssh-client (sudo scripts/testbed-deps)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlayfs (modprobe overlay)"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "testbed_last: runs after all other tests (it reboots or tears down the session testbed)"
    )


def pytest_collection_modifyitems(session, config, items):
    # Stable: the order among the moved tests and among the others stays as collected.
    items.sort(key=lambda item: item.get_closest_marker("testbed_last") is not None)


@pytest.fixture(scope="session")
def testbed_host():
    missing = testbed_missing()
    if missing:
        pytest.skip(missing)
    ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    running = nspawn.running_pid()
    if running:
        # Someone else's testbed (or a run killed with -9): refuse rather than pull it from under them.
        pytest.fail(f"a testbed is already up (systemd-nspawn pid {running}): `python -m testbed down` first")
    nspawn.down()  # leftovers of a crash (mount, bridge): every session starts from a clean host
    boot = nspawn.up(fresh=True)
    try:
        yield TestbedHost(
            address=boot.address,
            ssh_config=boot.ssh_config,
            inventory=boot.inventory,
            host=testinfra.get_host(f"ssh://{nspawn.SSH_HOST_ALIAS}", ssh_config=str(boot.ssh_config)),
            boot=boot,
            ip_forward_before=ip_forward,
        )
    finally:
        nspawn.down()
