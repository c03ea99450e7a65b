"""Secret files on the machine that renders or deploys: read with a sentence when they are wrong."""

from __future__ import annotations

import os
from pathlib import Path


def read_secret_file(path: str | os.PathLike[str], what: str) -> str:
    """The first line of a secret file, stripped. Refuses an empty file and says how to make one."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"{what} file {p} does not exist: create it with "
            f"`install -m 600 /dev/null {p} && openssl rand -hex 24 > {p}` (or your own secret)"
        )
    lines = p.read_text().splitlines()
    value = lines[0].strip() if lines else ""
    if not value:
        raise ValueError(f"{what} file {p} is empty: put the secret on its first line")
    return value
