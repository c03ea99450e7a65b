"""Secret files on the machine that renders or deploys: read with a sentence when they are wrong.

Like ssh with a private key, a secret file that its group or others may read, or that belongs to someone
else, is refused: the key would already be exposed, and a deploy would spread it further. Errors name
the file and the fix, never its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from serving import PlanError

MAX_SECRET_BYTES = 64 * 1024


class SecretFileError(PlanError):
    """A secret file that is missing, empty, too open or not a file. The message says the fix."""


def read_secret_file(path: str | os.PathLike[str], what: str) -> str:
    """The first line of a secret file, stripped. Refuses a missing, empty, group/world-readable or
    foreign-owned file and says how to make a good one."""
    p = Path(path).expanduser()
    make = f"`install -m 600 /dev/null {p} && openssl rand -hex 24 > {p}` (or your own secret)"
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SecretFileError(f"{what} file {p} does not exist: create it with {make}") from None
    except OSError as err:
        raise SecretFileError(f"{what} file {p} cannot be read ({err.strerror}): {make}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretFileError(f"{what} file {p} is not a regular file: create one with {make}")
        if info.st_uid not in (os.geteuid(), 0):
            raise SecretFileError(
                f"{what} file {p} belongs to uid {info.st_uid}, not to you: whoever owns it can change the "
                f"secret; make your own with {make}"
            )
        if info.st_mode & 0o077:
            raise SecretFileError(
                f"{what} file {p} has mode {stat.S_IMODE(info.st_mode):04o}, readable by others: "
                f"`chmod 600 {p}` (like ssh, a secret others can read is refused)"
            )
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretFileError(
            f"{what} file {p} is larger than {MAX_SECRET_BYTES} bytes: is it the right file?"
        )
    try:
        lines = data.decode().splitlines()
    except UnicodeDecodeError:
        raise SecretFileError(
            f"{what} file {p} is not UTF-8 text: put the secret on its first line"
        ) from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise SecretFileError(f"{what} file {p} is empty: put the secret on its first line")
    return value
