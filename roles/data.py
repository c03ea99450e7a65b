"""Host data of the roles beside the vLLM one (`ollama_*`, `front_*`): each role lists its keys once, with
type, default and help, and reads them with the plan's strict converters (serving/options.py), so a bad
value is refused by name and a misspelt key is refused with the nearest known one.

(roles/settings.py does the same for the `vllm_*` keys with its own HOST_KEYS; both read through
`serving.options.parse`.)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from serving.options import Kind, OptionError, parse

T = TypeVar("T")


@dataclass(frozen=True)
class DataKey:
    """One host data key: `prefix` + `name`, the Settings field `name`."""

    name: str
    kind: Kind
    default: Any
    help: str
    nullable: bool = False  # None (or empty text) means unset


def maybe(name: str, kind: Kind, default: Any, help: str) -> DataKey:
    return DataKey(name, kind, default, help, nullable=True)


def defaults(prefix: str, keys: tuple[DataKey, ...]) -> dict[str, Any]:
    """The keys' defaults by full key name: the role's pyinfra `data_defaults`."""
    return {prefix + k.name: k.default for k in keys}


def read(cls: type[T], prefix: str, keys: tuple[DataKey, ...], data: Mapping[str, Any] | Any) -> T:
    """`cls(**values)` from pyinfra's `host.data` (or a mapping). ValueError names a bad or unknown key."""
    present = data.keys() if isinstance(data, Mapping) else data.dict().keys()
    known = defaults(prefix, keys)
    for key in sorted(k for k in present if k.startswith(prefix) and k not in known):
        close = difflib.get_close_matches(key, list(known), n=1)
        raise ValueError(f"unknown host data {key}" + (f": did you mean {close[0]}?" if close else ""))
    try:
        values = {
            k.name: parse(k.kind, prefix + k.name, data.get(prefix + k.name, k.default), k.nullable)
            for k in keys
        }
    except OptionError as err:
        raise ValueError(f"host data {err}") from None
    return cls(**values)
