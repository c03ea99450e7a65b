"""Run a pyinfra @deploy against facts given by the test and read the commands it would run, per host.

    ops = run_deploy(watch_gptoss, [("prom", {...}), ("gpu-1", {...})], facts={"prom": {...}})

No host is contacted: `Host.get_fact` answers from `facts[host][FactClassName]` (a value, or a callable
taking the fact's keyword arguments); a fact the table lacks fails the test and names it, so every fact a
role reads is one the test chose. Operations are then "executed" in order without a connection: each op's
commands are generated and the op is marked complete with them, so `_if=any_changed(...)` sees the same
changes a real run would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.command import FileUploadCommand, StringCommand
from pyinfra.api.deploy import add_deploy
from pyinfra.api.host import Host
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

Facts = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Op:
    name: str
    commands: tuple[str, ...]
    uploads: tuple[tuple[str, str], ...]  # (dest, content)

    @property
    def changes(self) -> bool:
        return bool(self.commands or self.uploads)


def _render(command) -> tuple[str | None, tuple[str, str] | None]:
    if isinstance(command, FileUploadCommand):
        src = command.src
        content = src.getvalue() if hasattr(src, "getvalue") else str(src)
        return None, (command.dest, content)
    if isinstance(command, StringCommand):
        return command.get_raw_value(), None
    return repr(command), None


def run_deploy(
    deploy: Callable[[], Any],
    hosts: Sequence[tuple[str, dict[str, Any]]],
    facts: Facts,
    group_data: dict[str, Any] | None = None,
) -> dict[str, list[Op]]:
    inventory = Inventory(([(name, data) for name, data in hosts], dict(group_data or {})))
    state = State(inventory, Config())

    def get_fact(self: Host, cls, *args, **kwargs):
        table = facts.get(self.name, {})
        if cls.__name__ not in table:
            pytest.fail(f"{self.name}: the deploy read fact {cls.__name__}({kwargs}) the test did not give")
        value = table[cls.__name__]
        return value(**kwargs) if callable(value) else value

    original = Host.get_fact
    Host.get_fact = get_fact
    try:
        add_deploy(state, deploy, host=list(inventory))  # no connection: every host counts as active
        state.is_executing = True
        result: dict[str, list[Op]] = {}
        for host in inventory:
            ops = []
            for op_hash in state.get_op_order():
                if op_hash not in state.ops[host]:
                    continue
                data = state.get_op_data_for_host(host, op_hash)
                with ctx_state.use(state), ctx_host.use(host):
                    rendered = [_render(c) for c in data.command_generator()]
                commands = tuple(c for c, _ in rendered if c is not None)
                uploads = tuple(u for _, u in rendered if u is not None)
                data.operation_meta.set_complete(True, [*commands, *uploads], CommandOutput([]))
                # names carry the @deploy's name first ("Deploy | operation"): keep the operation's
                (name,) = {n.rsplit(" | ", 1)[-1] for n in state.get_op_meta(op_hash).names}
                ops.append(Op(name, commands, uploads))
            result[host.name] = ops
        return result
    finally:
        Host.get_fact = original


def changed(ops: Sequence[Op]) -> list[str]:
    """Names of the operations that would change something."""
    return [op.name for op in ops if op.changes]


def upload(ops: Sequence[Op], dest: str) -> str:
    found = [content for op in ops for d, content in op.uploads if d == dest]
    assert len(found) == 1, f"{dest} uploaded {len(found)} times"
    return found[0]
