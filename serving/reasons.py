"""Why the plan sets each flag and variable: the rules it follows, and the reason it gives per item.

Pure data. A `Rule` is one decision with its source (a recipe section, a known limitation, the memory math,
a user option, the target platform, or this bundle's own decision with its why); a `Reason` ties one argv
flag or environment variable of a plan to the rule that put it there. `gptoss plan --explain` prints them,
the JSON plan carries them as `reasons`, and the README links each recipe flag to its rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    RECIPE = "recipe"  # vLLM's gpt-oss recipe says so
    KNOWN_LIMITATION = "known limitation"  # the recipe's "Known Limitations": what breaks otherwise
    MEMORY_MATH = "memory math"  # the plan's per-GPU memory budget decided it
    USER_OPTION = "user option"  # the request asked for it
    PLATFORM = "platform"  # where the target (systemd host, Kubernetes pod) keeps files
    VLLM = "vllm"  # how the pinned vLLM behaves (read in its source)
    BUNDLE = "bundle"  # a decision of this bundle, with its why


# The recipe, pinned to the commit that last changed OpenAI/GPT-OSS.md (2026-05-10); the YAML files next to
# it (GPT-OSS_Hopper.yaml, GPT-OSS_Blackwell.yaml, GPT-OSS_EAGLE3_*.yaml) are of the same commit.
RECIPE = "vllm-project/recipes@c033a83 OpenAI/GPT-OSS.md"


def recipe_section(section: str) -> str:
    return f"{RECIPE} § {section}"


@dataclass(frozen=True)
class Rule:
    id: str  # stable and anchor-safe: the README links to `#rule-<id>`
    kind: Kind
    source: str
    summary: str  # what the rule decides, one line


@dataclass(frozen=True)
class Reason:
    item: str  # the flag ("--max-num-batched-tokens"), the environment variable, or "model" (positional)
    value: str | None  # what the plan set it to; None for a switch without a value
    why: str  # one line, specific to this plan
    rule: Rule

    @property
    def source(self) -> str:
        return f"{self.rule.kind}: {self.rule.source}"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "item": self.item,
            "value": self.value,
            "why": self.why,
            "source": self.source,
            "kind": str(self.rule.kind),
            "rule": self.rule.id,
        }


@dataclass
class Explained:
    """Argv tokens and environment built together with one reason per item, so none goes unexplained."""

    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)

    def add(self, reason: Reason) -> None:
        """The reason's item goes where it belongs: a flag (and its value) into argv, a variable into the
        environment, the positional model nowhere (the caller places it). Argv is made from the reasons, so
        the two cannot drift apart."""
        if reason.item.startswith("-"):
            self.args += [reason.item] if reason.value is None else [reason.item, reason.value]
        elif reason.item != "model":
            assert reason.value is not None, f"{reason.item}: an environment variable needs a value"
            self.env[reason.item] = reason.value
        self.reasons.append(reason)

    def flag(self, flag: str, value: str | None = None, *, rule: Rule, why: str) -> None:
        self.add(Reason(flag, value, why, rule))

    def word(self, reason: Reason) -> None:
        """An argv word as the user gave it (an extra arg), flag or not: into argv, never the environment.
        A bare word with no flag before it is still argv: vLLM's own parser judges it."""
        self.args += [reason.item] if reason.value is None else [reason.item, reason.value]
        self.reasons.append(reason)

    def setenv(self, key: str, value: str, *, rule: Rule, why: str) -> None:
        self.add(Reason(key, value, why, rule))

    def extend(self, other: Explained) -> None:
        for reason in other.reasons:
            self.add(reason)
