"""Run a pyinfra @deploy against fake hosts: facts in, commands out.

pyinfra's own engine does the work (API mode: `add_deploy` then `run_ops`, so `_if` conditions and operation
bodies run exactly as under the CLI); only each host's three I/O points are replaced: `get_fact` answers from
a dict, `run_shell_command` and `put_file` record what would have run and succeed. A fact the deploy asks
for and the test did not give fails the test with its name and arguments, so the facts each test lists are
all the deploy reads.

    run = run_deploy(serve_ollama, facts, data)             # one host: commands, uploads
    runs = run_fleet(watch_gptoss, hosts, facts, group)     # several: per host, per operation (ops)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.deploy import add_deploy
from pyinfra.api.operations import run_ops
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host

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


@dataclass(frozen=True)
class Op:
    """One operation as it ran on one host: its name (without the @deploy's) and what it did."""

    name: str
    commands: tuple[str, ...]
    uploads: tuple[tuple[str, str], ...]  # (remote path, content as text)

    @property
    def changes(self) -> bool:
        return bool(self.commands or self.uploads)


@dataclass
class Recorded:
    commands: list[str] = field(default_factory=list)  # shell commands, in order
    uploads: dict[str, bytes] = field(default_factory=dict)  # remote path -> content
    facts_asked: set[str] = field(default_factory=set)
    result: Any = None
    ops: list[Op] = field(default_factory=list)  # every operation of the deploy for this host, in order
    by_op: dict[str, list[str | tuple[str, bytes]]] = field(default_factory=dict, repr=False)

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
    hosts = [("fakehost", {"ssh_hostname": "192.0.2.10", **(data or {})})]
    return run_fleet(deploy_func, hosts, {"fakehost": facts}, None, *args, **kwargs)["fakehost"]


def run_fleet(
    deploy_func: Callable[..., Any],
    hosts: Sequence[tuple[str, dict[str, Any]]],
    facts: Mapping[str, dict[str, Any]],
    group_data: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> dict[str, Recorded]:
    """Run `deploy_func(*args, **kwargs)` on every host of an inventory (`facts` by host name)."""
    inventory = Inventory(([(name, dict(data)) for name, data in hosts], dict(group_data or {})))
    state = State(inventory, Config())
    recorded = {host.name: Recorded() for host in inventory}
    for host in inventory:
        _fake_io(host, {**ENGINE_FACTS, **facts.get(host.name, {})}, recorded[host.name])
        state.activate_host(host)

    def capture():
        result = deploy_func(*args, **kwargs)
        recorded[ctx_host.get().name].result = result

    add_deploy(state, capture)
    run_ops(state)
    for host in inventory:
        record = recorded[host.name]
        for op_hash in state.get_op_order():
            if op_hash not in state.ops[host]:
                continue
            done = record.by_op.get(op_hash, [])
            # names carry the @deploy's name first ("Deploy | operation"): keep the operation's
            (name,) = {n.rsplit(" | ", 1)[-1] for n in state.get_op_meta(op_hash).names}
            commands = tuple(c for c in done if isinstance(c, str))
            uploads = tuple((d, content.decode()) for d, content in (u for u in done if isinstance(u, tuple)))
            record.ops.append(Op(name, commands, uploads))
    return recorded


def _fake_io(host: Any, facts: dict[str, Any], recorded: Recorded) -> None:
    """Replace the host's connection: facts from `facts`, commands and uploads into `recorded`."""

    def get_fact(cls, *fact_args, **fact_kwargs):
        name = cls.__name__
        recorded.facts_asked.add(name)
        if name not in facts:
            raise MissingFact(
                f"{host.name}: the deploy asked for fact {name}({fact_args}, {fact_kwargs}); give it in `facts`"
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
        recorded.by_op.setdefault(host.executing_op_hash, []).append(raw)
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
        recorded.by_op.setdefault(host.executing_op_hash, []).append((remote_filename, content))
        return True

    host.get_fact = get_fact
    host.run_shell_command = run_shell_command
    host.put_file = put_file
    host.connected = True


def changed(ops: Sequence[Op]) -> list[str]:
    """Names of the operations that would change something."""
    return [op.name for op in ops if op.changes]


def upload(ops: Sequence[Op], dest: str) -> str:
    """The one content uploaded to `dest` by these operations."""
    found = [content for op in ops for d, content in op.uploads if d == dest]
    assert len(found) == 1, f"{dest} uploaded {len(found)} times"
    return found[0]
