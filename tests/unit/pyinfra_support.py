"""Run a pyinfra @deploy against a fake host: facts in, commands out.

pyinfra's own engine does the work (API mode: `add_deploy` then `run_ops`, so `_if` conditions and operation
bodies run exactly as under the CLI); only the host's three I/O points are replaced: `get_fact` answers from
a dict, `run_shell_command` and `put_file` record what would have run and succeed. A fact the deploy asks
for and the test did not give fails the test with its name and arguments, so the facts each test lists are
all the deploy reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.deploy import add_deploy
from pyinfra.api.operations import run_ops
from pyinfra.connectors.util import CommandOutput

# Facts pyinfra's engine reads for itself (where temporary upload files go), not the deploy.
ENGINE_FACTS: dict[str, Any] = {"TmpDir": "/tmp"}


class ByPath(dict):
    """A path-keyed fact (File, Sha1File, Directory, ...): the value for kwargs['path'], None when absent."""


class MissingFact(AssertionError):
    pass


def file_fact(mode: int = 644, user: str = "root", group: str = "root") -> dict[str, Any]:
    """What pyinfra's File/Directory facts return for an existing path (mode as octal digits)."""
    return {"mode": mode, "user": user, "group": group, "size": 1, "mtime": None}


def sha1(text: str | bytes) -> str:
    return hashlib.sha1(text.encode() if isinstance(text, str) else text).hexdigest()


def sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


@dataclass
class Recorded:
    commands: list[str] = field(default_factory=list)  # shell commands, in order
    uploads: dict[str, bytes] = field(default_factory=dict)  # remote path -> content
    facts_asked: set[str] = field(default_factory=set)
    result: Any = None

    def ran(self, needle: str) -> list[str]:
        return [c for c in self.commands if needle in c]

    @property
    def changed_anything(self) -> bool:
        return bool(self.commands or self.uploads)


def run_deploy(
    deploy_func: Callable[..., Any],
    facts: dict[str, Any],
    data: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> Recorded:
    """Run `deploy_func(*args, **kwargs)` on one fake host with `data` as its host data."""
    inventory = Inventory(([("fakehost", {"ssh_hostname": "192.0.2.10", **(data or {})})], {}))
    state = State(inventory, Config())
    host = inventory.get_host("fakehost")
    recorded = Recorded()

    facts = {**ENGINE_FACTS, **facts}

    def get_fact(cls, *fact_args, **fact_kwargs):
        name = cls.__name__
        recorded.facts_asked.add(name)
        if name not in facts:
            raise MissingFact(
                f"the deploy asked for fact {name}({fact_args}, {fact_kwargs}); give it in `facts`"
            )
        value = facts[name]
        if isinstance(value, ByPath):
            return value.get(fact_kwargs.get("path"))
        if callable(value):
            return value(*fact_args, **fact_kwargs)
        return value

    def run_shell_command(command, **_kw):
        raw = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
        recorded.commands.append(raw)
        return True, CommandOutput([])

    def put_file(source, remote_filename, *_a, **_kw):
        if isinstance(source, StringIO):
            content = source.getvalue().encode()
        elif isinstance(source, BytesIO):
            content = source.getvalue()
        else:
            with open(source, "rb") as f:
                content = f.read()
        recorded.uploads[remote_filename] = content
        return True

    host.get_fact = get_fact
    host.run_shell_command = run_shell_command
    host.put_file = put_file
    host.connected = True
    state.activate_host(host)

    def capture():
        recorded.result = deploy_func(*args, **kwargs)

    add_deploy(state, capture)
    run_ops(state)
    return recorded
