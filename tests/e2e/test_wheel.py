"""The wheel is the product alone, and its base install works without pyinfra or Pulumi.

Builds the wheel from this checkout, installs it with no extras into a fresh venv (packages from the
registry, through uv's cache), and runs the CLI from there exactly as a user would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_INSTALL_LIMIT_MB = 60
PRODUCT = {"serving", "targets", "gptoss", "gptoss_sampler", "smoke", "roles", "infra"}

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip('uv is not on PATH: export PATH="$(scripts/bootstrap-uv):$PATH"')
    return uv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(REPO)], check=True, capture_output=True
    )
    (path,) = out.glob("gptoss_vllm-*.whl")
    return path


@pytest.fixture(scope="module")
def base_venv(wheel, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "base"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return venv


def test_the_wheel_holds_the_product_and_no_harness(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == PRODUCT, f"unexpected top-level entries in the wheel: {sorted(tops ^ PRODUCT)}"
    assert "targets/systemd/templates/gptoss-vllm.service.j2" in names
    assert "smoke/cases/tool_calls.jsonl" in names
    assert not [n for n in names if "testbed" in n or "devtools" in n or n.startswith("tests/")]


def _run(venv: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "gptoss"), *argv], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_base_install_runs_plan_render_and_smoke_without_pyinfra_or_pulumi(base_venv, tmp_path):
    python = str(base_venv / "bin" / "python")
    for missing in ("pyinfra", "pulumi", "pulumi_kubernetes", "grpc", "gevent"):
        probe = subprocess.run([python, "-c", f"import {missing}"], capture_output=True)
        assert probe.returncode != 0, f"the base install pulled {missing}"

    plan = _run(
        base_venv, "plan", "--model", "gpt-oss-120b", "--gpu", "h100", "--format", "json", cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["tensor_parallel_size"] == 1

    systemd = _run(
        base_venv,
        "render",
        "systemd",
        "--out",
        "units",
        "--model",
        "gpt-oss-20b",
        "--gpu",
        "h100",
        cwd=tmp_path,
    )
    assert systemd.returncode == 0, systemd.stderr
    unit = (tmp_path / "units" / "gptoss-vllm-0.service").read_text()
    assert "ExecStart=/opt/gptoss/vllm-" in unit

    k8s = _run(
        base_venv, "render", "k8s", "--out", "k8s", "--model", "gpt-oss-20b", "--gpu", "h100", cwd=tmp_path
    )
    assert k8s.returncode == 0, k8s.stderr
    assert (tmp_path / "k8s" / "kustomization.yaml").exists()

    checks = _run(base_venv, "smoke", "--list-checks", cwd=tmp_path)
    assert checks.returncode == 0, checks.stderr
    assert "tool_call" in checks.stdout


def test_a_missing_extra_says_which_to_install(base_venv, tmp_path):
    python = str(base_venv / "bin" / "python")
    for module, extra in (("roles", "pyinfra"), ("infra", "pulumi")):
        proc = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, text=True, cwd=tmp_path
        )
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert f"install gptoss-vllm[{extra}]" in last, proc.stderr


def test_base_install_is_small(base_venv):
    site = next((base_venv / "lib").glob("python3*/site-packages"))
    size_mb = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6
    print(f"base install site-packages: {size_mb:.1f} MB")
    assert size_mb < BASE_INSTALL_LIMIT_MB, (
        f"base install is {size_mb:.1f} MB, over {BASE_INSTALL_LIMIT_MB} MB"
    )
