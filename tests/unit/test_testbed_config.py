"""Testbed pieces that need no root: cache keys, the nspawn command line, the ssh config, rootfs config."""

from __future__ import annotations

import shutil
import stat

import pytest
from testbed import nspawn, rootfs


def test_rootfs_key_follows_the_package_set_not_its_order():
    base = rootfs.rootfs_key(rootfs.ROOTFS_PACKAGES)
    assert rootfs.rootfs_key(tuple(reversed(rootfs.ROOTFS_PACKAGES))) == base
    assert rootfs.rootfs_key((*rootfs.ROOTFS_PACKAGES, "htop")) != base


def test_rootfs_key_follows_the_builder_version(monkeypatch):
    base = rootfs.rootfs_key()
    monkeypatch.setattr(rootfs, "BUILDER_VERSION", rootfs.BUILDER_VERSION + "-next")
    assert rootfs.rootfs_key() != base


def test_cache_paths_live_under_gptoss_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTOSS_CACHE", str(tmp_path))
    paths = rootfs.rootfs_paths()
    assert paths.tarball.parent == tmp_path / "rootfs"
    assert paths.tarball.name == f"bookworm-{paths.key}.tar.zst"
    assert paths.pristine.parent == tmp_path / "testbed"
    tb = nspawn.testbed_paths()
    assert tb.wheelhouse == tmp_path / "wheelhouse"
    assert tb.models == tmp_path / "models"


def test_nspawn_argv_is_isolated_and_binds_read_only(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTOSS_CACHE", str(tmp_path))
    argv = nspawn.nspawn_argv(nspawn.testbed_paths())
    assert argv[0] == "systemd-nspawn"
    for flag in ("--boot", "--register=no", "--keep-unit", "--console=passive", "--resolv-conf=off"):
        assert flag in argv
    assert f"--network-bridge={nspawn.BRIDGE}" in argv
    assert f"--bind-ro={tmp_path}/wheelhouse:/srv/wheelhouse" in argv
    assert f"--bind-ro={tmp_path}/models:/srv/models" in argv
    assert not any(a.startswith("--bind=") for a in argv), "only read-only binds into the test host"
    assert nspawn.nspawn_env()["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] in ("0", "1")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) not installed")
def test_ssh_key_is_private_and_config_points_at_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTOSS_CACHE", str(tmp_path))
    config = nspawn.ensure_ssh()
    paths = nspawn.testbed_paths()
    assert stat.S_IMODE(paths.ssh_key.stat().st_mode) == 0o600
    text = config.read_text()
    assert f"Host {nspawn.SSH_HOST_ALIAS}\n" in text
    assert f"HostName {rootfs.TESTBED_ADDRESS}" in text
    assert f"IdentityFile {paths.ssh_key}" in text
    assert "UserKnownHostsFile /dev/null" in text
    first_key = paths.ssh_key.read_bytes()
    nspawn.ensure_ssh()
    assert paths.ssh_key.read_bytes() == first_key, "a second call must reuse the key"


def test_configure_rootfs_writes_static_network_and_key_only_sshd(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rootfs, "_run", lambda argv, **kw: calls.append(argv))
    for sub in ("etc/apt", "var/lib/apt/lists", "var/cache/apt/archives"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "var/lib/apt/lists/deb.debian.org_Packages").write_text("x")
    rootfs.configure_rootfs(tmp_path)
    network = (tmp_path / "etc/systemd/network/10-gptoss-host0.network").read_text()
    assert "Name=host0" in network
    assert f"Address={rootfs.TESTBED_ADDRESS}/30" in network
    assert "Gateway" not in network
    sshd = (tmp_path / "etc/ssh/sshd_config.d/gptoss-testbed.conf").read_text()
    assert "PasswordAuthentication no" in sshd
    assert "PermitRootLogin prohibit-password" in sshd
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert not (tmp_path / "var/lib/apt/lists/deb.debian.org_Packages").exists()
    assert [
        "chroot",
        str(tmp_path),
        "systemctl",
        "enable",
        "systemd-networkd.service",
        "ssh.service",
    ] in calls
    assert ["chroot", str(tmp_path), "systemctl", "mask", *rootfs.MASKED_UNITS] in calls


def test_fixture_skip_reason_names_the_missing_thing(monkeypatch):
    from tests.e2e import fixtures_testbed

    monkeypatch.setattr(fixtures_testbed.os, "geteuid", lambda: 1000)
    assert "not root" in fixtures_testbed.testbed_missing()
    monkeypatch.setattr(fixtures_testbed.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        fixtures_testbed.shutil, "which", lambda tool: None if tool == "systemd-nspawn" else tool
    )
    reason = fixtures_testbed.testbed_missing()
    assert "systemd-nspawn" in reason
    assert "systemd-container" in reason
