"""Writing rendered files safely: never through a link planted in the output directory, never readable by
others for even a moment, never left with a previous owner.

Each file is written to a fresh temporary file in the same directory (O_CREAT|O_EXCL|O_NOFOLLOW: a name
nobody else could have prepared), whose mode and owner are set before its first byte, then renamed over
the destination. rename(2) replaces a symlink at the destination instead of writing through it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from serving import PlanError


class OutputError(PlanError):
    """An output path that cannot be written. The message says what would work."""


def prepare_out_dir(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """`path` as a directory (created when missing); a sentence when it is a file or cannot be made."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} is a file, not a directory: give a directory to write into")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"{flag} {out} cannot be created ({err.strerror}): give a writable directory"
        ) from None
    return out


def write_file(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> Path:
    """Write `text` to `path` atomically with `mode`, owned by this process's user, following no link."""
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        raise OutputError(f"{target} is a directory: remove it or choose another output directory")
    dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    temp = f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
        )
        try:
            # Mode and owner before the first byte: the umask cannot widen it, a reader cannot race it.
            os.fchmod(fd, mode)
            os.fchown(fd, os.geteuid(), os.getegid())
            data = text.encode()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)
        raise
    finally:
        os.close(dir_fd)
    return target


def write_private_file(path: str | os.PathLike[str], text: str) -> Path:
    """A secret-bearing file: 0600, this process's user."""
    return write_file(path, text, mode=0o600)


__all__ = ["OutputError", "prepare_out_dir", "write_file", "write_private_file"]
