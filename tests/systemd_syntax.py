"""Readers of the systemd files we render, for tests: Python models of systemd's parsers, and systemd's own
parsers called from its shared library.

Models (pure Python, always available; tests/unit/test_systemd_syntax.py proves them against systemd):
- `parse_exec_start(line)`: what argv systemd runs for an ExecStart= value: specifiers (`%%` -> `%`),
  word splitting with quotes and C escapes (extract_first_word with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE,
  as config_parse_exec uses it), then the spawn-time `$` pass (`$$` -> `$`). Anything our renderer never
  writes (another specifier, a `$VAR` expansion, a bare `;` separator) raises instead of guessing.
- `parse_env_file(text)`: systemd's EnvironmentFile= parser (env-file.c): comments, KEY=VALUE, single
  and double quotes, backslash escapes.

systemd itself (`Libsystemd`, ctypes over libsystemd-shared-<version>.so, which systemd's own binaries
link): `split_exec` (extract_first_word + replace_env_argv) and `load_env_file`. These are systemd's
internal functions; the flag values are those of systemd 252 (Debian 12), checked by `Libsystemd.find`.
"""

from __future__ import annotations

import ctypes
import glob
import re

_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "s": " "}
_C_ESCAPES |= {"\\": "\\", '"': '"', "'": "'"}
_WHITESPACE = " \t\n\r"


class SyntaxModelError(ValueError):
    """Input outside what the model reads (and what our renderer writes)."""


def _specifiers(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            if text[i + 1 : i + 2] != "%":
                raise SyntaxModelError(f"specifier %{text[i + 1 : i + 2]} at {i}")
            out.append("%")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _unescape(text: str, i: int) -> tuple[str, int]:
    """One C escape starting after the backslash at text[i]; returns (char, next index)."""
    ch = text[i : i + 1]
    if not ch:
        raise SyntaxModelError("backslash at the end")
    if ch in _C_ESCAPES:
        return _C_ESCAPES[ch], i + 1
    if ch == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 1 : i + 3]):
        return chr(int(text[i + 1 : i + 3], 16)), i + 3
    if ch == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 1 : i + 5]):
        return chr(int(text[i + 1 : i + 5], 16)), i + 5
    raise SyntaxModelError(f"escape \\{ch}")


def split_words(text: str) -> list[str]:
    """extract_first_word(EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE) until the line is used up."""
    words: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        if i >= len(text):
            return words
        if text[i] == ";" and (i + 1 == len(text) or text[i + 1] in _WHITESPACE):
            raise SyntaxModelError("a bare ; separates commands")
        word: list[str] = []
        quote = ""
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                    i += 1
                elif ch == "\\":
                    char, i = _unescape(text, i + 1)
                    word.append(char)
                else:
                    word.append(ch)
                    i += 1
            elif ch in _WHITESPACE:
                break
            elif ch in "'\"":
                quote = ch
                i += 1
            elif ch == "\\":
                char, i = _unescape(text, i + 1)
                word.append(char)
            else:
                word.append(ch)
                i += 1
        if quote:
            raise SyntaxModelError("unterminated quote")
        words.append("".join(word))


def _dollars(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        if word[i] == "$":
            nxt = word[i + 1 : i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{" or (i == 0 and re.match(r"[A-Za-z_]", nxt)):
                raise SyntaxModelError(f"variable expansion in {word!r}")
        out.append(word[i])
        i += 1
    return "".join(out)


def parse_exec_start(line: str) -> list[str]:
    """The argv systemd spawns for `ExecStart=<line>` (no environment variables referenced)."""
    return [_dollars(w) for w in split_words(_specifiers(line))]


def parse_env_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile= reading of `text` (env-file.c, parse_env_file_internal, v252).

    Before a value and after each closing quote whitespace is skipped and a quote opens; once an unquoted
    character was read, quotes are literal; a backslash outside quotes takes the next character as is; in
    double quotes it escapes only " \\ ` $; trailing whitespace is cut. Line continuations (a backslash
    at the end of a line) are outside the model."""
    env: dict[str, str] = {}
    for raw in text.split("\n"):
        line = raw.lstrip(_WHITESPACE)
        if not line or line[0] in "#;":
            continue
        key, eq, rest = line.partition("=")
        key = key.rstrip(_WHITESPACE)
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SyntaxModelError(f"not an assignment: {raw!r}")
        value: list[str] = []
        trailing: list[str] = []  # whitespace kept only when more of an unquoted value follows
        state = "pre"  # pre (skip blanks, quotes open), value (quotes literal)
        i = 0
        while i < len(rest):
            ch = rest[i]
            if state == "pre" and ch in _WHITESPACE:
                i += 1
            elif state == "pre" and ch in "'\"":
                end = i + 1
                while True:
                    if end >= len(rest):
                        raise SyntaxModelError("unterminated quote (or a continuation line)")
                    c = rest[end]
                    if c == ch:
                        break
                    if ch == '"' and c == "\\":
                        nxt = rest[end + 1 : end + 2]
                        if not nxt:
                            raise SyntaxModelError("line continuation")
                        value += [nxt] if nxt in ('"', "\\", "`", "$") else ["\\", nxt]
                        end += 2
                        continue
                    value.append(c)
                    end += 1
                i = end + 1
            elif ch == "\\":
                if i + 1 >= len(rest):
                    raise SyntaxModelError("line continuation")
                value += [*trailing, rest[i + 1]]
                trailing = []
                state = "value"
                i += 2
            elif ch in _WHITESPACE:
                trailing.append(ch)
                i += 1
            else:
                value += [*trailing, ch]
                trailing = []
                state = "value"
                i += 1
        env[key] = "".join(value)
    return env


class Libsystemd:
    """systemd's own parsers, from the libsystemd-shared library its binaries use."""

    VERSION = "252"
    # ExtractFlags in systemd 252 (src/basic/extract-word.h).
    EXTRACT_CUNESCAPE = 1 << 1
    EXTRACT_UNQUOTE = 1 << 5

    def __init__(self, path: str):
        self.lib = ctypes.CDLL(path)
        self.lib.extract_first_word.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib.replace_env_argv.restype = ctypes.POINTER(ctypes.c_char_p)
        self.lib.replace_env_argv.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.load_env_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]

    @classmethod
    def find(cls) -> Libsystemd | None:
        """The library of systemd 252, or None (another version's flag values may differ)."""
        pattern = f"/usr/lib/*/systemd/libsystemd-shared-{cls.VERSION}.so"
        paths = sorted(glob.glob(pattern) + glob.glob(f"/lib/systemd/libsystemd-shared-{cls.VERSION}.so"))
        return cls(paths[0]) if paths else None

    def split_exec(self, line_after_specifiers: str) -> list[str]:
        """extract_first_word the way config_parse_exec calls it, then replace_env_argv at spawn time."""
        data = line_after_specifiers.encode()
        cursor = ctypes.c_char_p(data)
        word = ctypes.c_char_p()
        words: list[bytes] = []
        for _ in range(10_000):  # bounded: a line has far fewer words
            rc = self.lib.extract_first_word(
                ctypes.byref(cursor), ctypes.byref(word), None, self.EXTRACT_UNQUOTE | self.EXTRACT_CUNESCAPE
            )
            if rc < 0:
                raise SyntaxModelError(f"systemd refused the line (errno {-rc})")
            if rc == 0:
                break
            words.append(word.value or b"")
        argv = (ctypes.c_char_p * (len(words) + 1))(*words, None)
        env = (ctypes.c_char_p * 1)(None)
        out = self.lib.replace_env_argv(argv, env)
        result = []
        for i in range(len(words) * 4 + 1):
            if out[i] is None:
                break
            result.append(out[i].decode())
        return result

    def load_env_file(self, path: str) -> dict[str, str]:
        ret = ctypes.POINTER(ctypes.c_char_p)()
        rc = self.lib.load_env_file(None, path.encode(), ctypes.byref(ret))
        if rc < 0:
            raise SyntaxModelError(f"systemd refused the env file (errno {-rc})")
        env: dict[str, str] = {}
        for i in range(100_000):
            if not ret[i]:
                break
            key, _, value = ret[i].decode().partition("=")
            env[key] = value
        return env
