"""testbed.deploy_runner reads pyinfra's real results table (a throwaway deploy on @local, inside tmp_path)."""

from __future__ import annotations

import subprocess

from testbed.deploy_runner import DeployRun, pyinfra_executable


def run_local(deploy, cwd) -> DeployRun:
    proc = subprocess.run(
        [pyinfra_executable(), "-y", "@local", str(deploy)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return DeployRun([], proc.returncode, 0.0, proc.stdout + proc.stderr)


def test_changes_are_counted_from_pyinfra_output(tmp_path):
    target = tmp_path / "made-by-pyinfra"
    deploy = tmp_path / "deploy_dir.py"
    deploy.write_text(
        "from pyinfra.operations import files\n"
        f"files.directory(name='a directory exists', path={str(target)!r})\n"
        f"files.directory(name='another exists', path={str(target / 'sub')!r})\n"
    )
    first = run_local(deploy, tmp_path)
    assert first.returncode == 0, first.output
    assert target.is_dir()
    assert first.totals == {"hosts": 2, "changed": 2, "error": 0, "no_change": 0}
    second = run_local(deploy, tmp_path)
    assert second.changed == 0 and second.totals["no_change"] == 2


def test_missing_table_reads_as_none():
    assert DeployRun([], 1, 0.0, "--> pyinfra error: boom").changed is None
