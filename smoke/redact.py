"""Keeping secrets out of everything the smoke client prints or writes.

A hostile or merely chatty server may echo the API key back (in an error, in an answer, split across
streamed deltas, JSON- or URL-escaped). The rule: server text is redacted as it arrives and again before
it is cut to size, never the other way round, so truncation can not leave a prefix of the key behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
# Any run of this many characters of a secret is treated as the secret: a server that echoes a piece of
# the key ("invalid key sk-abc123...") leaks it just the same.
MIN_FRAGMENT = 10


def _spellings(secret: str) -> set[str]:
    """The ways a secret shows up in text a server sends back: raw, JSON-escaped, URL-encoded."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }


class Redactor:
    """Replaces every secret it knows, and every run of `MIN_FRAGMENT`+ characters of one, with `***`."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        known = {s for s in secrets if s}
        # Longest first, so a secret that contains another is replaced whole.
        self._whole = sorted({v for s in known for v in _spellings(s)}, key=len, reverse=True)
        self._fragments = sorted(
            {
                v[i : i + MIN_FRAGMENT]
                for s in known
                for v in _spellings(s)
                for i in range(len(v) - MIN_FRAGMENT + 1)
            }
        )
        # Shorter text can hold neither a whole secret nor a fragment (fragments exist only for secrets
        # of MIN_FRAGMENT or more), so most lines of a stream skip the work.
        self._shortest = min((len(w) for w in self._whole), default=0) if self._whole else 1 << 62

    def __call__(self, text: str) -> str:
        for secret in self._whole:
            if secret in text:
                text = text.replace(secret, MASK)
        hits = [f for f in self._fragments if f in text]
        return _mask_spans(text, hits) if hits else text

    def clip(self, text: str, limit: int, marker: str = "...") -> str:
        """Redact, then cut to `limit` characters (the order matters: see the module docstring)."""
        text = self(text)
        return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker

    @classmethod
    def for_endpoints(cls, endpoints: Iterable[Any]) -> Redactor:
        """Every endpoint's API key and the passwords in their base URLs."""
        return cls([s for e in endpoints for s in (e.api_key, *url_secrets(e.base_url)) if s])


def _mask_spans(text: str, fragments: list[str]) -> str:
    """Mask every occurrence of every fragment; overlapping or touching hits merge into one `***`."""
    spans: list[tuple[int, int]] = []
    for fragment in fragments:
        start = text.find(fragment)
        while start != -1:
            spans.append((start, start + len(fragment)))
            start = text.find(fragment, start + 1)
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[str] = []
    pos = 0
    for a, b in merged:
        out += [text[pos:a], MASK]
        pos = b
    out.append(text[pos:])
    return "".join(out)


def url_secrets(url: str) -> list[str]:
    """The password (and `user:password`) a URL carries in its userinfo, raw and percent-decoded."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        # An unparsable URL (a bad port, a stray bracket): treat everything before the last `@` as secret.
        netloc = url.split("://", 1)[-1].split("/", 1)[0]
        return [netloc.rsplit("@", 1)[0]] if "@" in netloc else []
    if password is None:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    return [s for s in {password, unquote(password), userinfo, unquote(userinfo)} if s]


def strip_userinfo(url: str) -> str:
    """`http://user:pass@host/v1` -> `http://***@host/v1`, for every URL that is printed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and "@" not in parts.netloc:
        return url
    if parts is None:
        scheme, sep, rest = url.partition("://")
        netloc, slash, tail = rest.partition("/")
        if "@" not in netloc:
            return url
        return f"{scheme}{sep}{MASK}@{netloc.rsplit('@', 1)[1]}{slash}{tail}"
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{MASK}@{host}", parts.path, parts.query, parts.fragment))
