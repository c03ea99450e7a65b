"""The tool cases file: its schema, the judging of one call, and pass@k / pass^k."""

from __future__ import annotations

import itertools
import json

import pytest

from smoke.cases import (
    CaseFileError,
    judge_call,
    load_cases,
    pass_at_k,
    pass_hat_k,
    select_cases,
    validate_arguments,
)


def test_default_cases_cover_the_argument_kinds_and_the_tiny_model_case():
    cases = load_cases()
    kinds = set()
    for case in cases:
        for prop in case.parameters.get("properties", {}).values():
            kinds.add(prop.get("type"))
            if "enum" in prop:
                kinds.add("enum")
        if not case.parameters.get("properties"):
            kinds.add("no-arguments")
        if set(case.parameters.get("properties", {})) - set(case.parameters.get("required", [])):
            kinds.add("optional")
    assert {"string", "integer", "array", "enum", "no-arguments", "optional"} <= kinds
    weather = select_cases(cases, ["get_weather_paris"])[0]
    # The tiny tools checkpoint emits exactly this call, so strict mode can pass against it.
    assert judge_call(weather, "get_weather", '{"city": "Paris"}', strict=True).passed


def write(tmp_path, *lines):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n")
    return path


GOOD = {
    "id": "a",
    "prompt": "p",
    "tool": {
        "name": "f",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    },
    "expected_arguments": {"n": 1},
}


def test_a_valid_file_with_comments_and_blank_lines_loads(tmp_path):
    cases = load_cases(write(tmp_path, "# a comment", "", GOOD))
    assert [c.id for c in cases] == ["a"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ({**GOOD, "prompt": ""}, "prompt"),
        ({k: v for k, v in GOOD.items() if k != "tool"}, "'tool' is a required property"),
        ({**GOOD, "extra": 1}, "Additional properties"),
        ({**GOOD, "expected_arguments": {"n": "one"}}, "do not satisfy the tool's own schema"),
        ({**GOOD, "tool": {"name": "f", "parameters": {"type": "objekt"}}}, "not a valid JSON Schema"),
    ],
)
def test_broken_lines_are_refused_with_file_line_and_reason(tmp_path, line, message):
    path = write(tmp_path, GOOD | {"id": "first"}, line)
    with pytest.raises(CaseFileError) as err:
        load_cases(path)
    assert f"{path}:2" in str(err.value) and message in str(err.value)


def test_duplicate_ids_and_empty_files_are_refused(tmp_path):
    with pytest.raises(CaseFileError, match="duplicate case id 'a'"):
        load_cases(write(tmp_path, GOOD, GOOD))
    with pytest.raises(CaseFileError, match="holds no tool cases"):
        load_cases(write(tmp_path, "# nothing"))
    with pytest.raises(CaseFileError, match="cannot read"):
        load_cases(tmp_path / "missing.jsonl")


def test_selecting_an_unknown_case_lists_the_known_ones():
    with pytest.raises(CaseFileError, match="unknown tool case"):
        select_cases(load_cases(), ["nope"])


def test_judge_call_branches():
    case = select_cases(load_cases(), ["set_thermostat_enum_int"])[0]
    assert not judge_call(case, None, None, strict=False).passed
    assert "expected 'set_thermostat'" in judge_call(case, "other", "{}", strict=False).detail
    assert "not JSON" in judge_call(case, "set_thermostat", '{"mode": ', strict=False).detail
    assert "not an object" in judge_call(case, "set_thermostat", "[1]", strict=False).detail
    bad_enum = judge_call(case, "set_thermostat", '{"mode": "warm", "temperature_c": 21}', strict=False)
    assert not bad_enum.passed and "'warm' is not one of" in bad_enum.detail
    bad_int = judge_call(case, "set_thermostat", '{"mode": "heat", "temperature_c": 21.5}', strict=False)
    assert not bad_int.passed and "temperature_c" in bad_int.detail
    other_valid = '{"mode": "cool", "temperature_c": 19}'
    assert judge_call(case, "set_thermostat", other_valid, strict=False).passed
    assert not judge_call(case, "set_thermostat", other_valid, strict=True).passed
    # Some servers hand back arguments already parsed.
    assert judge_call(case, "set_thermostat", {"mode": "heat", "temperature_c": 21}, strict=True).passed


def test_validate_arguments_names_the_failing_path():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    assert validate_arguments({"tags": ["a"]}, schema) is None
    assert validate_arguments({"tags": ["a", 3]}, schema).startswith("tags/1: ")


def brute_force(n: int, c: int, k: int) -> tuple[float, float]:
    """Enumerate every k-subset of n runs (c of them passing) as an independent oracle."""
    runs = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(runs, k))
    return (
        sum(any(s) for s in subsets) / len(subsets),
        sum(all(s) for s in subsets) / len(subsets),
    )


@pytest.mark.parametrize(("n", "c", "k"), [(1, 0, 1), (1, 1, 1), (4, 2, 4), (5, 1, 2), (6, 4, 3), (8, 7, 5)])
def test_pass_at_k_and_pass_hat_k_match_enumeration(n, c, k):
    at, hat = brute_force(n, c, k)
    assert pass_at_k(n, c, k) == pytest.approx(at)
    assert pass_hat_k(n, c, k) == pytest.approx(hat)


def test_pass_k_rejects_k_outside_the_runs():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError):
        pass_hat_k(3, 1, 0)
