"""Boot, inspect and tear down the disposable systemd test host (systemd-nspawn on a private bridge).

Layout (all outside the repo, under ``~/.cache/gptoss``):
  testbed/rootfs-<key>/   pristine rootfs (testbed/rootfs.py), the read-only lower layer of every boot
  testbed/run/            upper/ work/ merged/ of the overlay, state.json, console.log
  testbed/ssh/id_ed25519  root's key (0600); testbed/ssh_config has ``Host gptoss-testbed``
  wheelhouse/, models/    bind-mounted read-only at /srv/wheelhouse and /srv/models

Networking is a bridge with 10.231.0.1/30 on the host and 10.231.0.2/30 in the container: no gateway, no
NAT, no forwarding changes, so the test host reaches nothing but the bridge.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbed.rootfs import (
    ROOTFS_PACKAGES,
    TESTBED_ADDRESS,
    TESTBED_PREFIX,
    cache_root,
    ensure_rootfs,
)

MACHINE = "gptoss-testbed"
SSH_HOST_ALIAS = "gptoss-testbed"
BRIDGE = "gptoss-br0"
BRIDGE_ADDRESS = "10.231.0.1"
SUBNET = f"10.231.0.0/{TESTBED_PREFIX}"
REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORY = REPO_ROOT / "inventories" / "testbed.py"

SSH_WAIT_S = 60.0
SSH_ATTEMPT_S = 10.0
RUNNING_WAIT_S = 180.0
POWEROFF_WAIT_S = 30.0


class TestbedError(RuntimeError):
    pass


@dataclass(frozen=True)
class TestbedPaths:
    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def upper(self) -> Path:
        return self.run / "upper"

    @property
    def work(self) -> Path:
        return self.run / "work"

    @property
    def merged(self) -> Path:
        return self.run / "merged"

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def console_log(self) -> Path:
        return self.run / "console.log"

    @property
    def ssh_key(self) -> Path:
        return self.root / "ssh" / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def wheelhouse(self) -> Path:
        return self.root.parent / "wheelhouse"

    @property
    def models(self) -> Path:
        return self.root.parent / "models"


def testbed_paths() -> TestbedPaths:
    return TestbedPaths(cache_root() / "testbed")


@dataclass
class UpResult:
    address: str
    ssh_config: Path
    inventory: Path
    pid: int
    system_state: str  # `systemctl is-system-running --wait`: "running", or "degraded" with failed_units
    failed_units: list[str] = field(default_factory=list)
    rootfs_s: float = 0.0  # ensure_rootfs: ~0 when cached
    boot_to_ssh_s: float = 0.0
    boot_to_running_s: float = 0.0
    ssh_attempts: int = 0  # readiness probes until the first login worked
    slowest_ssh_attempt_s: float = 0.0


@dataclass
class DownResult:
    seconds: float
    was_running: bool
    forced: bool  # the container did not power off in time and was killed
    cleaned: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- small helpers


def _run(argv: list[str], check: bool = True, timeout: float | None = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise TestbedError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _require_host() -> None:
    if os.geteuid() != 0:
        raise TestbedError("the testbed needs root (bridge, overlay mount, systemd-nspawn): run it as root")
    missing = [t for t in ("systemd-nspawn", "debootstrap", "ip", "ssh", "ssh-keygen") if not shutil.which(t)]
    if missing:
        raise TestbedError(f"missing {', '.join(missing)}: run `sudo scripts/testbed-deps`")


def _pid_alive(pid: int) -> bool:
    # Reap it first if it is our own child, or a zombie would look alive forever.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def _link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def read_state(paths: TestbedPaths | None = None) -> dict:
    paths = paths or testbed_paths()
    try:
        return json.loads(paths.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def running_pid(paths: TestbedPaths | None = None) -> int | None:
    """The testbed's systemd-nspawn pid when it is up, else None."""
    pid = read_state(paths).get("pid")
    if pid and _pid_alive(pid) and any("systemd-nspawn" in arg for arg in _cmdline(pid)):
        return pid
    return None


@contextlib.contextmanager
def _exclusive(paths: TestbedPaths):
    """One `up` or `down` at a time on this machine (two would fight over the bridge and the mount)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_state(paths: TestbedPaths, state: dict) -> None:
    paths.state_file.write_text(json.dumps(state, indent=2) + "\n")


# ---------------------------------------------------------------- ssh


def ensure_ssh(paths: TestbedPaths | None = None) -> Path:
    """Root's keypair (0600) and the ssh config that pyinfra, testinfra and `python -m testbed ssh` use."""
    paths = paths or testbed_paths()
    paths.ssh_key.parent.mkdir(parents=True, exist_ok=True)
    paths.ssh_key.parent.chmod(0o700)
    if not paths.ssh_key.exists():
        _run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gptoss-testbed", "-f", str(paths.ssh_key)]
        )
    paths.ssh_key.chmod(0o600)
    paths.ssh_config.write_text(
        f"Host {SSH_HOST_ALIAS}\n"
        f"    HostName {TESTBED_ADDRESS}\n"
        "    User root\n"
        f"    IdentityFile {paths.ssh_key}\n"
        "    IdentitiesOnly yes\n"
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        "    ConnectTimeout 5\n"
    )
    return paths.ssh_config


def ssh_argv(
    command: list[str] | None = None,
    paths: TestbedPaths | None = None,
    connect_timeout: int = 5,
    batch: bool = True,
) -> list[str]:
    """ssh with the generated config; batch mode (no prompts) except for an interactive shell."""
    paths = paths or testbed_paths()
    argv = ["ssh", "-F", str(paths.ssh_config), "-o", f"ConnectTimeout={connect_timeout}"]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv.append(SSH_HOST_ALIAS)
    if command:
        argv += ["--", *command]
    return argv


def ssh_run(
    command: list[str] | str, timeout: float = 60, check: bool = False
) -> subprocess.CompletedProcess:
    """Run a command in the test host over SSH (a string is run by the remote shell)."""
    argv = ssh_argv([command] if isinstance(command, str) else command)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise TestbedError(f"ssh {command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


# ---------------------------------------------------------------- network


def ensure_bridge() -> None:
    """The bridge with the host end of the test subnet; no forwarding and no NAT are ever configured."""
    if not _link_exists(BRIDGE):
        _run(["ip", "link", "add", "name", BRIDGE, "type", "bridge"])
    addrs = _run(["ip", "-o", "-4", "addr", "show", "to", SUBNET]).stdout
    for line in addrs.splitlines():
        dev = line.split()[1]
        if dev != BRIDGE:
            raise TestbedError(f"{SUBNET} is already on {dev}; the testbed needs it on {BRIDGE} alone")
    if f"{BRIDGE_ADDRESS}/{TESTBED_PREFIX}" not in addrs:
        _run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/{TESTBED_PREFIX}", "dev", BRIDGE])
    _run(["ip", "link", "set", "dev", BRIDGE, "up"])


def delete_bridge() -> bool:
    """Delete the bridge and any veth still enslaved to it (nspawn hashes long veth names: vb-gptoss-tQuEp)."""
    if not _link_exists(BRIDGE):
        return False
    ports = _run(["ip", "-o", "link", "show", "master", BRIDGE], check=False).stdout
    for line in ports.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        _run(["ip", "link", "del", "dev", name], check=False)
    _run(["ip", "link", "del", "dev", BRIDGE])
    return True


# ---------------------------------------------------------------- overlay


def mount_overlay(lower: Path, paths: TestbedPaths, fresh: bool) -> None:
    if _is_mounted(paths.merged):
        raise TestbedError(f"{paths.merged} is still mounted: run `python -m testbed down` first")
    if fresh:
        for d in (paths.upper, paths.work):
            if d.exists():
                shutil.rmtree(d)
    for d in (paths.upper, paths.work, paths.merged):
        d.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={paths.upper},workdir={paths.work}",
            str(paths.merged),
        ]
    )


def _authorize_key(paths: TestbedPaths) -> None:
    # Written on every boot into the overlay, so the cached rootfs never depends on this machine's key.
    ssh_dir = paths.merged / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(paths.ssh_key.with_suffix(".pub").read_text())
    auth.chmod(0o600)


# ---------------------------------------------------------------- nspawn


def nspawn_argv(paths: TestbedPaths) -> list[str]:
    return [
        "systemd-nspawn",
        "--boot",
        f"--directory={paths.merged}",
        f"--machine={MACHINE}",
        f"--network-bridge={BRIDGE}",
        "--register=no",
        "--keep-unit",
        "--console=passive",
        "--resolv-conf=off",
        "--link-journal=no",
        # nspawn forwards its SIGTERM to the container's init as this signal: SIGRTMIN+4 is a clean poweroff.
        "--kill-signal=SIGRTMIN+4",
        f"--bind-ro={paths.wheelhouse}:/srv/wheelhouse",
        f"--bind-ro={paths.models}:/srv/models",
    ]


def nspawn_env() -> dict[str, str]:
    """Environment of systemd-nspawn.

    The build machines have a hybrid cgroup layout (v1 controllers, /sys/fs/cgroup/unified) and no systemd as
    PID 1. Measured with systemd 252: left alone (or =0) nspawn gives the container the legacy v1 layout, it
    boots to `running`, but a poweroff hangs (SIGTERM to nspawn, still up after 30 s, and three container
    processes outlived a SIGKILL of nspawn). With SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 the container gets a
    cgroup2 /sys/fs/cgroup like the real hosts (Debian 12, Ubuntu 22.04+), boots in ~2 s and powers off in
    ~0.4 s. --private-users stays off (the default): the roles need a real root. Controllers stay bound to
    v1 on the host, so MemoryMax= and friends are accepted inside but not enforced.
    """
    env = dict(os.environ)
    env.setdefault("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
    return env


def _container_init(nspawn_pid: int) -> int | None:
    """The container's PID 1 as seen from the host: a child of nspawn in another PID namespace."""
    host_ns = _pid_ns(os.getpid())
    for pid in _all_pids():
        if _ppid(pid) == nspawn_pid and _pid_ns(pid) not in (None, host_ns):
            return pid
    return None


def _fail_boot(paths: TestbedPaths, why: str) -> TestbedError:
    tail = ""
    with contextlib.suppress(OSError):
        tail = paths.console_log.read_text(errors="replace")[-3000:]
    journal = paths.upper / "var" / "log" / "journal"
    return TestbedError(
        f"{why}. The testbed was torn down; its journal is kept: `journalctl -D {journal}`. "
        f"Console log {paths.console_log} ends with:\n{tail}"
    )


def _wait_for_container_init(nspawn_pid: int, paths: TestbedPaths, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    while True:
        init_pid = _container_init(nspawn_pid)
        if init_pid:
            return init_pid
        if not _pid_alive(nspawn_pid):
            raise _fail_boot(paths, "systemd-nspawn exited before the container's init started")
        if time.monotonic() > deadline:
            raise _fail_boot(
                paths, f"no container init under systemd-nspawn (pid {nspawn_pid}) after {seconds} s"
            )
        time.sleep(0.05)


def _wait_for_ssh(pid: int, paths: TestbedPaths, deadline: float) -> tuple[int, float]:
    """Retry `ssh true` until it works; returns (attempts, slowest attempt in seconds).

    ConnectTimeout only bounds the TCP connect. A login that connects while logind is still starting can
    sit in pam_systemd for up to 25 s, so each attempt also gets a wall-clock cap and is retried.
    """
    attempts, slowest = 0, 0.0
    while True:
        if not _pid_alive(pid):
            raise _fail_boot(paths, "systemd-nspawn exited before SSH answered")
        attempts += 1
        started = time.monotonic()
        try:
            proc = subprocess.run(
                ssh_argv(["true"], paths, connect_timeout=1),
                capture_output=True,
                text=True,
                timeout=SSH_ATTEMPT_S,
            )
            ok, why = proc.returncode == 0, proc.stderr.strip()
        except subprocess.TimeoutExpired:
            ok, why = False, f"an ssh login took longer than {SSH_ATTEMPT_S:.0f} s"
        slowest = max(slowest, time.monotonic() - started)
        if ok:
            return attempts, slowest
        if time.monotonic() > deadline:
            raise _fail_boot(paths, f"SSH to {TESTBED_ADDRESS} did not answer: {why}")
        time.sleep(0.2)


def system_state(timeout: float = RUNNING_WAIT_S) -> tuple[str, list[str]]:
    """`systemctl is-system-running --wait` inside, and the failed units when it is not `running`."""
    proc = ssh_run(["systemctl", "is-system-running", "--wait"], timeout=timeout)
    state = proc.stdout.strip() or proc.stderr.strip()
    failed: list[str] = []
    if state != "running":
        listed = ssh_run(["systemctl", "--failed", "--no-legend", "--plain"], timeout=30).stdout
        failed = [line.split()[0] for line in listed.splitlines() if line.strip()]
    return state, failed


def up(fresh: bool = True, packages: tuple[str, ...] = ROOTFS_PACKAGES) -> UpResult:
    """Boot the test host: rootfs (cached), bridge, overlay (fresh unless asked), nspawn, wait for SSH + systemd.

    With fresh=False the overlay's upper layer from the last boot is kept, so state survives `down`/`up`.
    """
    _require_host()
    paths = testbed_paths()
    with _exclusive(paths):
        return _up(paths, fresh, packages)


def _up(paths: TestbedPaths, fresh: bool, packages: tuple[str, ...]) -> UpResult:
    state = read_state(paths)
    running = running_pid(paths)
    if running:
        raise TestbedError(f"the testbed is already up (nspawn pid {running}): `python -m testbed down`")
    started = time.monotonic()
    rootfs = ensure_rootfs(packages)
    rootfs_s = time.monotonic() - started
    # An upper layer made over another rootfs would be inconsistent: start fresh then.
    if state.get("rootfs_key") not in (None, rootfs.paths.key):
        fresh = True
    _down(paths, keep_state=not fresh)  # leftovers of a crash: stale mount, veth, bridge
    ensure_ssh(paths)
    ensure_bridge()
    paths.wheelhouse.mkdir(parents=True, exist_ok=True)
    paths.models.mkdir(parents=True, exist_ok=True)
    mount_overlay(rootfs.paths.pristine, paths, fresh=fresh)
    _authorize_key(paths)

    boot_started = time.monotonic()
    with open(paths.console_log, "wb") as log:
        proc = subprocess.Popen(
            nspawn_argv(paths),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=nspawn_env(),
            start_new_session=True,  # its own session: it outlives `python -m testbed up`
        )
    state = {"pid": proc.pid, "rootfs_key": rootfs.paths.key, "merged": str(paths.merged)}
    _write_state(paths, state)
    try:
        # The container's PID namespace, recorded at once: `down` uses it to find processes that outlive
        # a crashed nspawn.
        init_pid = _wait_for_container_init(proc.pid, paths)
        state.update(init_pid=init_pid, init_pid_ns=_pid_ns(init_pid), started=time.time())
        _write_state(paths, state)
        ssh_attempts, slowest_attempt = _wait_for_ssh(proc.pid, paths, boot_started + SSH_WAIT_S)
        boot_to_ssh = time.monotonic() - boot_started
        state_now, failed = system_state()
        boot_to_running = time.monotonic() - boot_started
    except BaseException:
        # No half-up testbed; the upper layer stays for a look at the journal (see the error message).
        _down(paths, keep_state=True)
        raise
    return UpResult(
        address=TESTBED_ADDRESS,
        ssh_config=paths.ssh_config,
        inventory=INVENTORY,
        pid=proc.pid,
        system_state=state_now,
        failed_units=failed,
        rootfs_s=rootfs_s,
        boot_to_ssh_s=boot_to_ssh,
        boot_to_running_s=boot_to_running,
        ssh_attempts=ssh_attempts,
        slowest_ssh_attempt_s=slowest_attempt,
    )


def container_pids(state: dict) -> list[int]:
    """Processes in the container's PID namespace (recorded at boot), whether or not nspawn still lives."""
    ns = state.get("init_pid_ns")
    if not ns:
        return []
    # Zombies are dead already (their parent, often this machine's init, just has not reaped them yet).
    return [pid for pid in _all_pids() if _pid_ns(pid) == ns and _pid_alive(pid)]


def _wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def down(keep_state: bool = False) -> DownResult:
    """Power off and clean up; safe to run any number of times, and after a crash.

    Order: SIGTERM to nspawn (forwarded as SIGRTMIN+4, a clean poweroff), wait, SIGKILL what is left, unmount
    the overlay, drop its upper layer (unless keep_state), delete the veth and the bridge.
    """
    paths = testbed_paths()
    with _exclusive(paths):
        return _down(paths, keep_state)


def _down(paths: TestbedPaths, keep_state: bool) -> DownResult:
    started = time.monotonic()
    state = read_state(paths)
    cleaned: list[str] = []
    pid = running_pid(paths)
    was_running = pid is not None
    forced = False
    if was_running:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone([pid], POWEROFF_WAIT_S):
            forced = True
            os.kill(pid, signal.SIGKILL)
            _wait_gone([pid], 5)
        cleaned.append("container")
    # Killing PID 1 of the container's namespace kills everything in it.
    leftovers = container_pids(state)
    if leftovers:
        forced = True
        for p in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        _wait_gone(leftovers, 5)
        cleaned.append(f"{len(leftovers)} leftover processes")
    if _is_mounted(paths.merged):
        for _ in range(50):
            if _run(["umount", str(paths.merged)], check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise TestbedError(f"{paths.merged} stays busy; `fuser -vm {paths.merged}` shows who holds it")
        cleaned.append("overlay mount")
    if not keep_state:
        for d in (paths.upper, paths.work):
            if d.exists():
                shutil.rmtree(d)
                cleaned.append(str(d))
    if delete_bridge():
        cleaned.append(BRIDGE)
    with contextlib.suppress(FileNotFoundError):
        paths.state_file.unlink()
    return DownResult(time.monotonic() - started, was_running, forced, cleaned)


def status() -> dict:
    paths = testbed_paths()
    state = read_state(paths)
    pid = state.get("pid")
    alive = bool(pid and _pid_alive(pid))
    info = {
        "nspawn_pid": pid if alive else None,
        "overlay_mounted": _is_mounted(paths.merged),
        "bridge": _link_exists(BRIDGE),
        "address": TESTBED_ADDRESS,
        "ssh_config": str(paths.ssh_config),
        "inventory": str(INVENTORY),
        "ssh": False,
        "system_state": None,
        "memory_bytes": None,
    }
    if alive:
        info["ssh"] = ssh_run(["true"], timeout=10).returncode == 0
        if info["ssh"]:
            info["system_state"] = ssh_run(["systemctl", "is-system-running"], timeout=10).stdout.strip()
        info["memory_bytes"] = memory_bytes(state)
    return info


def memory_bytes(state: dict | None = None) -> int:
    """Proportional set size (PSS) summed over the container's processes and nspawn itself."""
    state = state if state is not None else read_state()
    pids = container_pids(state)
    if state.get("pid"):
        pids.append(state["pid"])
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def as_dict(result: UpResult | DownResult) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
