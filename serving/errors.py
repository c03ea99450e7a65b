"""The plan's errors: one sentence that says what would work, never a traceback and never a secret."""

from __future__ import annotations


class PlanError(ValueError):
    """A request no plan can serve. The message says what would work."""


class ValueRefused(PlanError):
    """A value that cannot safely reach a rendered artifact (unit, env file, YAML, shell, PromQL, argv).

    The message names the setting and the rule, and never repeats a value that may be secret."""
