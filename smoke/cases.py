"""Tool-calling cases as data (one JSON object per line), in the spirit of OpenAI's gpt-oss
compatibility test: a tool, a prompt, the arguments a correct model would pass.

Arguments are always validated against the tool's JSON Schema; an exact match with `expected_arguments`
is only demanded in strict mode, because a good model may legitimately fill an optional field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from smoke.redact import Redactor

DEFAULT_CASES_PATH = Path(__file__).parent / "cases" / "tool_calls.jsonl"
# A cases file is a few kilobytes; a larger one is the wrong file (and /dev/zero must not fill memory).
MAX_CASES_FILE_BYTES = 8 * 1024 * 1024

# The shape of one line of a cases file.
CASE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "prompt", "tool", "expected_arguments"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "description": {"type": "string"},
        "system": {"type": "string"},
        "prompt": {"type": "string", "minLength": 1},
        "tool": {
            "type": "object",
            "required": ["name", "parameters"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": {"type": "string"},
                "parameters": {"type": "object"},
            },
        },
        "expected_arguments": {"type": "object"},
        # What the tool "returns" in the round trip (sent back as the tool message).
        "tool_result": {},
    },
}


class CaseFileError(ValueError):
    """A cases file that cannot be used; the message names the file, line and problem."""


@dataclass(frozen=True)
class ToolCase:
    id: str
    prompt: str
    tool_name: str
    tool_description: str
    parameters: dict[str, Any]
    expected_arguments: dict[str, Any]
    tool_result: Any = field(default_factory=lambda: {"ok": True})
    system: str | None = None
    description: str = ""

    def chat_tool(self) -> dict[str, Any]:
        """The tool as Chat Completions wants it."""
        return {
            "type": "function",
            "function": {
                "name": self.tool_name,
                "description": self.tool_description,
                "parameters": self.parameters,
            },
        }

    def responses_tool(self) -> dict[str, Any]:
        """The tool as the Responses API wants it (flat, no `function` wrapper)."""
        return {
            "type": "function",
            "name": self.tool_name,
            "description": self.tool_description,
            "parameters": self.parameters,
        }

    def chat_messages(self) -> list[dict[str, Any]]:
        msgs: list[dict[str, Any]] = []
        if self.system:
            msgs.append({"role": "system", "content": self.system})
        msgs.append({"role": "user", "content": self.prompt})
        return msgs

    def tool_result_text(self) -> str:
        return self.tool_result if isinstance(self.tool_result, str) else json.dumps(self.tool_result)


def parse_case(obj: Any, where: str) -> ToolCase:
    try:
        jsonschema.validate(obj, CASE_SCHEMA)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise CaseFileError(f"{where}: {path}: {exc.message}") from None
    params = obj["tool"]["parameters"]
    try:
        jsonschema.Draft202012Validator.check_schema(params)
    except jsonschema.SchemaError as exc:
        raise CaseFileError(f"{where}: tool.parameters is not a valid JSON Schema: {exc.message}") from None
    problem = validate_arguments(obj["expected_arguments"], params)
    if problem:
        raise CaseFileError(f"{where}: expected_arguments do not satisfy the tool's own schema: {problem}")
    return ToolCase(
        id=obj["id"],
        prompt=obj["prompt"],
        tool_name=obj["tool"]["name"],
        tool_description=obj["tool"].get("description", ""),
        parameters=params,
        expected_arguments=obj["expected_arguments"],
        tool_result=obj.get("tool_result", {"ok": True}),
        system=obj.get("system"),
        description=obj.get("description", ""),
    )


def load_cases(path: Path | str = DEFAULT_CASES_PATH) -> list[ToolCase]:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CASES_FILE_BYTES + 1)
    except OSError as exc:
        raise CaseFileError(f"cannot read tool cases file {path}: {exc.strerror}") from None
    if len(raw) > MAX_CASES_FILE_BYTES:
        raise CaseFileError(f"tool cases file {path} is larger than {MAX_CASES_FILE_BYTES} bytes")
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise CaseFileError(f"tool cases file {path} is not UTF-8 text (byte {exc.start})") from None
    cases: list[ToolCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise CaseFileError(f"{where}: not valid JSON: {exc}") from None
        except RecursionError:
            raise CaseFileError(f"{where}: JSON nested too deeply to be a tool case") from None
        case = parse_case(obj, where)
        if case.id in seen:
            raise CaseFileError(f"{where}: duplicate case id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    if not cases:
        raise CaseFileError(f"{path} holds no tool cases")
    return cases


def select_cases(cases: list[ToolCase], ids: list[str] | tuple[str, ...]) -> list[ToolCase]:
    if not ids:
        return list(cases)
    by_id = {c.id: c for c in cases}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise CaseFileError(f"unknown tool case(s) {', '.join(unknown)}; the file has: {', '.join(by_id)}")
    return [by_id[i] for i in ids]


def validate_arguments(arguments: Any, schema: dict[str, Any]) -> str | None:
    """None when `arguments` satisfy `schema`, else the validator's message with the failing path."""
    try:
        jsonschema.validate(arguments, schema, cls=jsonschema.Draft202012Validator)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        return f"{path + ': ' if path else ''}{exc.message}"
    except RecursionError:
        return "nested too deeply to validate"
    return None


@dataclass(frozen=True)
class TrialOutcome:
    passed: bool
    detail: str
    arguments: Any = None


def judge_call(
    case: ToolCase, name: Any, raw_arguments: Any, *, strict: bool, redact: Redactor | None = None
) -> TrialOutcome:
    """Judge one tool call against a case: right function, JSON arguments, schema-valid, exact if strict.

    Everything quoted back from the server is redacted with `redact` before it is cut short.
    """
    redact = redact or Redactor()

    def show(value: Any, limit: int = 160) -> str:
        return repr(redact.clip(value if isinstance(value, str) else json.dumps(value, default=str), limit))

    if not name:
        return TrialOutcome(False, f"no tool call (expected {case.tool_name})")
    if name != case.tool_name:
        return TrialOutcome(False, f"called {show(name, 80)}, expected {case.tool_name!r}")
    if isinstance(raw_arguments, dict):
        args = raw_arguments  # some servers hand back a parsed object instead of a JSON string
    elif not isinstance(raw_arguments, str):
        return TrialOutcome(
            False, f"arguments are neither a JSON string nor an object: {show(raw_arguments)}"
        )
    else:
        try:
            args = json.loads(raw_arguments or "")
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            return TrialOutcome(False, f"arguments are not JSON ({why}): {show(raw_arguments)}")
    if not isinstance(args, dict):
        return TrialOutcome(False, f"arguments are JSON but not an object: {show(raw_arguments)}", args)
    problem = validate_arguments(args, case.parameters)
    if problem:
        return TrialOutcome(
            False, f"arguments {show(args, 300)} break the tool schema: {redact.clip(problem, 300)}", args
        )
    if strict and args != case.expected_arguments:
        return TrialOutcome(
            False, f"strict: got {show(args, 300)}, expected {json.dumps(case.expected_arguments)}", args
        )
    return TrialOutcome(True, f"{name}({redact.clip(json.dumps(args), 300)})", args)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): chance that at least one of k draws from n runs passes."""
    if not 0 < k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k (tau-bench): chance that all of k draws from n runs pass, i.e. the model is reliable."""
    if not 0 < k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    return math.comb(c, k) / math.comb(n, k)
