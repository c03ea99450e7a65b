"""systemd's syntax, escaped: ExecStart words, other unit values, and env-file assignments.

- ExecStart= (systemd.service(5), "Command lines"): words split at whitespace; double quotes group and
  take C escapes (`\\\\`, `\\"`); `%` starts a specifier (`%%` is a literal %) and `$` a variable (`$$` is a
  literal $). `exec_word` writes any printable word so systemd hands it to vLLM unchanged.
- Other unit values (Description=, the header comments): specifiers expand there too, so `%` is doubled;
  no control character (a newline would start a new directive) and no trailing backslash (a line
  continuation) get through.
- Env files: one line `KEY="value"` with `\\`, `"`, `$` and backquote escaped by a backslash. systemd's
  EnvironmentFile= parser and POSIX `sh` (the deploy's readiness probe sources the file) both read that
  as the same value: neither expands `$VAR` or runs a backquoted command, and no other character is
  special inside double quotes for either.

Values reaching these functions were validated first (serving/validate.py); the functions still refuse
control characters themselves, so no caller can forget.
"""

from __future__ import annotations

import re

from serving import ValueRefused
from serving.validate import control_character

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words that need no quotes (still with % and $ doubled).
_BARE_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./$-]+")
# Env values that mean the same to systemd and sh without quotes.
_BARE_ENV_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")
# Inside double quotes, the characters both systemd's env-file parser and sh treat as escapable.
_ENV_ESCAPED = re.compile(r'([\\"$`])')


def _refuse_controls(value: str, what: str) -> None:
    bad = control_character(value)
    if bad:
        raise ValueRefused(f"{what} contains the control character {bad}: it cannot go into a systemd file")


def exec_word(word: str) -> str:
    """One ExecStart= word that systemd passes to the program exactly as given."""
    _refuse_controls(word, "a command-line word")
    escaped = word.replace("%", "%%").replace("$", "$$")
    if word and _BARE_WORD.fullmatch(word):
        return escaped
    escaped = escaped.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def exec_line(words: list[str] | tuple[str, ...]) -> str:
    if not words or not words[0].startswith("/"):
        raise ValueRefused("ExecStart= needs an absolute program path as its first word")
    return " ".join(exec_word(w) for w in words)


def unit_text(value: str, what: str) -> str:
    """A value for Description= or a comment line: specifiers escaped, nothing that ends the line."""
    _refuse_controls(value, what)
    if value.endswith("\\"):
        raise ValueRefused(f"{what} ends with a backslash, which systemd reads as a line continuation")
    return value.replace("%", "%%")


def env_value(value: str, what: str = "an environment value") -> str:
    """The right-hand side of KEY=... as systemd's EnvironmentFile= and POSIX sh both read it."""
    _refuse_controls(value, what)
    if _BARE_ENV_VALUE.fullmatch(value):
        return value
    return '"' + _ENV_ESCAPED.sub(r"\\\1", value) + '"'


def env_assignment(key: str, value: str) -> str:
    """`KEY=value` for an env file; the name rules (no secret-like extra names) are the plan's."""
    if not _ENV_NAME.fullmatch(key):
        raise ValueRefused("an environment variable name has characters other than letters, digits and _")
    return f"{key}={env_value(value, f'the value of {key}')}"


__all__ = ["env_assignment", "env_value", "exec_line", "exec_word", "unit_text"]
