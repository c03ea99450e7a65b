"""`--api-key-file`: read the API key from a private file, refusing files others can read (as ssh does).

Every refusal is one sentence naming the file and the fix; none repeats a byte of what the file holds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# An API key is a line; a larger file is the wrong file (and /dev/zero must not fill memory).
MAX_KEY_FILE_BYTES = 64 * 1024


class KeyFileError(ValueError):
    pass


def read_api_key_file(path: Path | str) -> str:
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as not a file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyFileError(f"--api-key-file {path} does not exist") from None
    except IsADirectoryError:
        raise KeyFileError(f"--api-key-file {path} is a directory; name the file holding the key") from None
    except PermissionError:
        raise KeyFileError(f"--api-key-file {path} can not be read by this user") from None
    except OSError as exc:
        raise KeyFileError(f"--api-key-file {path} can not be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise KeyFileError(f"--api-key-file {path} is a directory; name the file holding the key")
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"--api-key-file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"--api-key-file {path} can be read by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` first"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(
            f"--api-key-file {path} is larger than {MAX_KEY_FILE_BYTES} bytes; it should hold one key"
        )
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise KeyFileError(
            f"--api-key-file {path} holds bytes that are not ASCII; an API key is plain text"
        ) from None
    if not key:
        raise KeyFileError(f"--api-key-file {path} is empty")
    if not key.isprintable() or any(c.isspace() for c in key):
        raise KeyFileError(
            f"--api-key-file {path} must hold the key alone on one line, without spaces or control characters"
        )
    return key
