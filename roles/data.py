"""Every role's prefixed host data keys (`vllm_*`, `monitoring_*`, `ollama_*`, `front_*`), one mechanism: a
role lists its keys once, with type, default and help, as a `HostKeys`; its pyinfra `data_defaults` and the
README table come from that list, its values are read with the plan's strict converters (serving/options.py),
so a bad value is refused by name and a misspelt key is refused with the nearest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from serving.options import Kind, OptionError, parse


@dataclass(frozen=True)
class HostKey:
    """One host data key: the role's prefix + `name`; `name` is also its Settings field."""

    name: str
    kind: Kind
    default: Any
    help: str
    unset: str = ""  # what None means, for a key that may be None (the README says it)
    nullable: bool = False  # None (or empty text) means unset


def maybe(name: str, kind: Kind, default: Any, help: str, unset: str = "") -> HostKey:
    """A key that may be None."""
    return HostKey(name, kind, default, help, unset=unset, nullable=True)


def present_keys(data: Mapping[str, Any] | Any) -> Iterable[str]:
    """The keys set in pyinfra's `host.data` (anything with `.dict()`) or a plain mapping."""
    return data.keys() if isinstance(data, Mapping) else data.dict().keys()


def refuse_unknown_keys(keys: Iterable[str], known: Mapping[str, Any], prefix: str, where: str) -> None:
    """A misspelt key with a role's prefix would silently leave its default in place: refuse it."""
    for key in sorted(k for k in keys if k.startswith(prefix) and k not in known):
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f": did you mean {close[0]}?" if close else f" (known keys: {where}, {len(known)})"
        raise ValueError(f"unknown host data {key}{hint}")


@dataclass(frozen=True)
class HostKeys:
    """One role's keys: `prefix` + each key's name, listed in `where` (named when a key is unknown)."""

    prefix: str
    keys: tuple[HostKey, ...]
    where: str

    def __iter__(self) -> Iterator[HostKey]:
        return iter(self.keys)

    def key(self, k: HostKey) -> str:
        return self.prefix + k.name

    def defaults(self) -> dict[str, Any]:
        """The keys' defaults by full key name: the role's pyinfra `data_defaults`."""
        return {self.key(k): k.default for k in self.keys}

    def values(self, data: Mapping[str, Any] | Any, known: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Each key's value by field name, from `host.data` (or a mapping) with the defaults filling gaps.
        ValueError names a bad key, or an unknown one with this prefix (`known`: all the prefix's keys,
        when the role reads more of them than these)."""
        refuse_unknown_keys(
            present_keys(data), self.defaults() if known is None else known, self.prefix, self.where
        )
        try:
            return {
                k.name: parse(k.kind, self.key(k), data.get(self.key(k), k.default), k.nullable)
                for k in self.keys
            }
        except OptionError as err:
            raise ValueError(f"host data {err}") from None
