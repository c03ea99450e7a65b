"""The disposable systemd test host: it boots clean, answers SSH by key only, reaches nothing but its bridge,
and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from testbed import nspawn

pytestmark = pytest.mark.e2e


def _host_addresses() -> list[str]:
    """IPv4 addresses of this machine outside loopback and the test subnet."""
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    addrs = [line.split()[3].split("/")[0] for line in out.splitlines()]
    return [a for a in addrs if not a.startswith("127.") and not a.startswith("10.231.0.")]


def _leftovers() -> list[str]:
    """What a finished testbed must not leave: a live nspawn, the overlay mount, the bridge, its veth."""
    paths = nspawn.testbed_paths()
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmd and cmd[0].endswith(b"systemd-nspawn") and f"--machine={nspawn.MACHINE}".encode() in cmd:
                found.append(f"systemd-nspawn pid {pid}")
    if str(paths.merged) in Path("/proc/self/mounts").read_text():
        found.append(f"mount {paths.merged}")
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [f"link {name}" for name in (nspawn.BRIDGE, "vb-gptoss") if name in links]
    if paths.state_file.exists():
        found.append(f"state file {paths.state_file}")
    return found


def test_boots_to_running_with_no_failed_units(testbed_host):
    assert testbed_host.boot.system_state == "running", testbed_host.boot.failed_units
    assert testbed_host.host.run("systemctl is-system-running").stdout.strip() == "running"
    assert testbed_host.host.run("systemctl --failed --no-legend --plain").stdout.strip() == ""


def test_ssh_is_root_by_key_and_refuses_passwords(testbed_host):
    host = testbed_host.host
    assert host.user().name == "root"
    assert host.system_info.distribution == "debian"
    assert host.system_info.codename == "bookworm"
    sshd = host.run("sshd -T").stdout
    assert "passwordauthentication no" in sshd
    assert "permitrootlogin without-password" in sshd
    denied = subprocess.run(
        [
            "ssh",
            "-F",
            str(testbed_host.ssh_config),
            "-o",
            "BatchMode=yes",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
            nspawn.SSH_HOST_ALIAS,
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert denied.returncode == 255
    assert "Permission denied" in denied.stderr


def test_no_default_route_and_only_the_test_subnet(testbed_host):
    host = testbed_host.host
    assert host.run("ip -4 route show default").stdout.strip() == ""
    assert host.run("ip -6 route show default").stdout.strip() == ""
    routes = host.run("ip -4 route show").stdout.strip().splitlines()
    assert [r.split()[0] for r in routes] == ["10.231.0.0/30"]
    # `ip route get` asks the routing table only: nothing is sent, and every outside address is unroutable.
    for outside in ["1.1.1.1", "8.8.8.8", *_host_addresses()]:
        result = host.run(f"ip route get {outside}")
        assert result.rc != 0, f"{outside} is routable from the test host: {result.stdout}"
        assert "unreachable" in result.stderr.lower()
    assert host.run("getent hosts deb.debian.org").rc != 0  # no DNS either


def test_reaches_the_bridge_address(testbed_host):
    # A listener on the host end of the bridge: the one place the test host may talk to.
    server = socket.create_server((nspawn.BRIDGE_ADDRESS, 0))
    port = server.getsockname()[1]
    server.settimeout(20)
    accepted: list[bytes] = []

    def serve():
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                accepted.append(conn.recv(64))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        sent = testbed_host.host.run(
            "python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 5);"
            ' s.sendall(b"hello-from-testbed")\' %s %s',
            nspawn.BRIDGE_ADDRESS,
            str(port),
        )
        thread.join(20)
    finally:
        server.close()
    assert sent.rc == 0, sent.stderr
    assert accepted == [b"hello-from-testbed"]


def test_host_forwarding_untouched(testbed_host):
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == testbed_host.ip_forward_before


def test_shared_dirs_are_read_only_binds(testbed_host):
    host = testbed_host.host
    for path in ("/srv/wheelhouse", "/srv/models"):
        assert host.file(path).is_directory
        attempt = host.run(f"touch {path}/.write-test")
        assert attempt.rc != 0
        assert "Read-only file system" in attempt.stderr


def test_writes_land_in_the_overlay_not_the_pristine_rootfs(testbed_host):
    testbed_host.host.run_test("echo written > /root/overlay-probe")
    paths = nspawn.testbed_paths()
    assert (paths.upper / "root" / "overlay-probe").read_text() == "written\n"
    lower = next(d for d in paths.root.glob("rootfs-*") if (d / ".gptoss-rootfs-complete").exists())
    assert not (lower / "root" / "overlay-probe").exists()


@pytest.mark.testbed_last
def test_keep_preserves_state_and_fresh_boot_wipes_it(testbed_host):
    testbed_host.host.run_test("echo kept > /root/keep-probe")

    nspawn.down(keep_state=True)
    assert _leftovers() == []
    kept = nspawn.up(fresh=False)
    assert kept.system_state == "running", kept.failed_units
    assert testbed_host.host.run("cat /root/keep-probe").stdout == "kept\n"

    nspawn.down()
    fresh = nspawn.up(fresh=True)
    assert fresh.system_state == "running", fresh.failed_units
    assert not testbed_host.host.file("/root/keep-probe").exists


@pytest.mark.testbed_last
def test_down_after_a_crash_leaves_nothing(testbed_host):
    state = nspawn.read_state()
    assert state.get("pid"), "the testbed should be up here"
    os.kill(state["pid"], signal.SIGKILL)  # nspawn dies without any cleanup of its own

    result = nspawn.down()
    assert _leftovers() == []
    assert nspawn.container_pids(state) == [], "processes of the container's PID namespace survived"
    assert not nspawn.testbed_paths().upper.exists()
    assert "overlay mount" in result.cleaned
    # Idempotent: a second down finds nothing to do.
    again = nspawn.down()
    assert again.cleaned == []
    assert not again.was_running
