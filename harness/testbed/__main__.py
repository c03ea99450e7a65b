"""`python -m testbed up|down|status|ssh|build-rootfs`: the disposable systemd test host."""

from __future__ import annotations

import argparse
import json
import os
import sys

from testbed import nspawn
from testbed.rootfs import RootfsError, ensure_rootfs


def _print(data: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        for key, value in data.items():
            print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="boot the test host (fresh overlay unless --keep) and wait for systemd")
    p_up.add_argument("--keep", action="store_true", help="keep the state of the last boot (overlay upper)")
    p_up.add_argument("--json", action="store_true")
    p_down = sub.add_parser("down", help="power off and clean up (idempotent, also after a crash)")
    p_down.add_argument("--keep", action="store_true", help="keep the overlay upper layer for `up --keep`")
    p_down.add_argument("--json", action="store_true")
    p_status = sub.add_parser(
        "status", help="what is up: nspawn, overlay, bridge, ssh, systemd state, memory"
    )
    p_status.add_argument("--json", action="store_true")
    p_ssh = sub.add_parser("ssh", help="ssh into the test host, or run a command there")
    p_ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    p_build = sub.add_parser("build-rootfs", help="build (or reuse) the cached Debian rootfs")
    p_build.add_argument("--rebuild", action="store_true")
    p_build.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            result = nspawn.up(fresh=not args.keep)
            _print(nspawn.as_dict(result), args.json)
            if result.system_state != "running":
                print(
                    f"system state {result.system_state}; failed units: {result.failed_units}",
                    file=sys.stderr,
                )
                return 1
        elif args.command == "down":
            _print(nspawn.as_dict(nspawn.down(keep_state=args.keep)), args.json)
        elif args.command == "status":
            _print(nspawn.status(), args.json)
        elif args.command == "ssh":
            nspawn.ensure_ssh()
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            argv_ssh = nspawn.ssh_argv(cmd or None, batch=bool(cmd))
            os.execvp(argv_ssh[0], argv_ssh)
        elif args.command == "build-rootfs":
            r = ensure_rootfs(rebuild=args.rebuild)
            _print(
                {
                    "tarball": r.paths.tarball,
                    "pristine": r.paths.pristine,
                    "built": r.built,
                    "unpacked": r.unpacked,
                    "seconds": round(r.seconds, 1),
                    "tarball_mb": round(r.tarball_bytes / 1e6, 1),
                },
                args.json,
            )
    except (nspawn.TestbedError, RootfsError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
