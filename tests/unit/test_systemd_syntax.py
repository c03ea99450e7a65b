"""The systemd files we render mean exactly the plan to systemd and to sh, with real parsers as oracles.

- ExecStart=: every tricky-but-legal word (spaces, quotes, %, $, backslashes, unicode, a bare ;) comes back
  from systemd's own word splitter and $-pass (libsystemd-shared, via tests/systemd_syntax.py) and from
  the Python model; `systemd-analyze verify` finds nothing to complain about in such a unit.
- Env files: systemd's own EnvironmentFile= parser, the model, and a real `sh` that sources the file (as
  the deploy's readiness probe does) all read every value back unchanged, and sh runs no command.
- Description=: a `%` in the served name cannot reach it (refused); the escaper doubles one anyway.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from serving import ValueRefused
from targets.systemd.syntax import env_assignment, exec_line, exec_word, unit_text
from tests.systemd_syntax import Libsystemd, SyntaxModelError, parse_env_file, parse_exec_start, split_words

TRICKY_WORDS = [
    "plain",
    "--flag=value",
    "a b",
    "  leading and trailing  ",
    'say "hi"',
    "it's",
    "100%",
    "%n%i%%",
    "$HOME",
    "${HOME}",
    "$$",
    "cost: $5",
    "`id`",
    "$(touch /tmp/pwned)",
    "back\\slash",
    "trailing\\",
    "\\n is not a newline",
    "",
    ";",
    "a;b",
    "#not-a-comment",
    "ünïcødé ✓ 😀 中文",
    "'single quoted'",
    '"double quoted"',
    "ExecStartPre=+/bin/sh -c id",
    '{"stop": ["<|end|>", "a b"], "n": 1}',
    "-x",
]
PROGRAM = "/opt/gptoss/vllm-0.33.0/bin/vllm"
LIBSYSTEMD = Libsystemd.find()
needs_libsystemd = pytest.mark.skipif(
    LIBSYSTEMD is None,
    reason="systemd 252's libsystemd-shared-252.so is not installed (apt-get install systemd)",
)


@pytest.mark.parametrize("word", TRICKY_WORDS)
def test_exec_word_comes_back_unchanged_through_the_model(word):
    line = exec_line([PROGRAM, "serve", word, "--port", "8000"])
    assert parse_exec_start(line) == [PROGRAM, "serve", word, "--port", "8000"]


@needs_libsystemd
def test_exec_line_comes_back_unchanged_through_systemds_own_parser():
    line = exec_line([PROGRAM, *TRICKY_WORDS])
    after_specifiers = line.replace("%%", "%")  # unit_full_printf: our lines hold no other specifier
    assert LIBSYSTEMD.split_exec(after_specifiers) == [PROGRAM, *TRICKY_WORDS]


@needs_libsystemd
@pytest.mark.parametrize(
    "line",
    [
        'a "b c" d',
        "a 'b \"c\" d' e",
        'x\\ y "q\\"uote" \\\\back',
        '"q\\"uote" \\\\back',
        "a\\qb",
        'tab\\there "\\x41\\u00fc"',
        "$$HOME a$$b '$$'",
        "mixed'quo'ted\"wo\"rd",
    ],
)
def test_the_exec_model_reads_lines_as_systemd_does(line):
    """The model is an oracle only if it agrees with systemd on lines we did not write ourselves,
    including the ones both refuse (`\\ ` and `\\q` are no C escapes)."""
    try:
        expected = LIBSYSTEMD.split_exec(line)
    except SyntaxModelError:
        with pytest.raises(SyntaxModelError):
            parse_exec_start(line)
        return
    assert parse_exec_start(line) == expected


def test_the_exec_model_refuses_what_it_does_not_model():
    for line in ("a %n", "a $HOME", "a ${X}", "a ; b", 'a "open', "a \\q"):
        with pytest.raises(SyntaxModelError):
            parse_exec_start(line)


def test_exec_word_refuses_control_characters():
    for bad in (
        "a\nExecStartPre=+/bin/id",
        "a\rb",
        "nul\x00",
        "esc\x1b[31m",
        "nel\x85",
        "ls\u2028",
        "\u202e",
    ):
        with pytest.raises(ValueRefused, match="control character"):
            exec_word(bad)


def test_systemd_analyze_verify_accepts_a_unit_with_tricky_words(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "tricky.service"
    unit.write_text(
        "[Unit]\n"
        f"Description={unit_text('served as 100% ok', 'description')}\n"
        "[Service]\n"
        f"ExecStart={exec_line(['/bin/echo', *TRICKY_WORDS])}\n"
    )
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    broken = tmp_path / "broken.service"
    broken.write_text('[Service]\nExecStart=/bin/echo "unterminated %q\n')
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert proc.stderr.strip(), "systemd-analyze must complain about a broken line, or it proves nothing"


def test_unit_text_escapes_specifiers_and_refuses_line_breaks():
    assert unit_text("gpt-oss 100%", "d") == "gpt-oss 100%%"
    for bad in ("a\nExecStartPre=+/bin/id", "ends with \\"):
        with pytest.raises(ValueRefused):
            unit_text(bad, "description")


TRICKY_VALUES = {
    "PLAIN": "/var/lib/gptoss/hf",
    "SPACES": "  a b  ",
    "QUOTES": 'it\'s "quoted"',
    "DOLLAR": "$HOME ${HOME} $(touch gptoss-pwned-dollar) $$",
    "BACKTICK": "`touch gptoss-pwned-backtick`",
    "BACKSLASH": "a\\b\\\\c\\",
    "PERCENT": "100%",
    "HASH": "#not a comment",
    "SEMI": "a; touch gptoss-pwned-semi",
    "UNICODE": "ünïcødé ✓ 😀",
    "EMPTY": "",
    "EQUALS": "a=b=c",
    "TILDE": "~root",
    "GLOB": "*",
}


def _env_file(tmp_path, values: dict[str, str]):
    path = tmp_path / "x.env"
    path.write_text("# header\n" + "".join(env_assignment(k, v) + "\n" for k, v in values.items()))
    return path


def test_env_file_reads_back_through_the_model(tmp_path):
    assert parse_env_file(_env_file(tmp_path, TRICKY_VALUES).read_text()) == TRICKY_VALUES


@needs_libsystemd
def test_env_file_reads_back_through_systemds_own_parser(tmp_path):
    assert LIBSYSTEMD.load_env_file(str(_env_file(tmp_path, TRICKY_VALUES))) == TRICKY_VALUES


@needs_libsystemd
@pytest.mark.parametrize(
    "text",
    [
        "A=plain\nB='single $x'\nC=\"dq \\$x \\` \\\\ \\q\"\n",
        "A= spaced  \n# comment\n; also comment\nB=x\\ y\n",
        "A=\"con\"cat'ed'\nB=tail\\\\\n",
        'A="a" "b"\nB=x"a"\nC=\'a\'b\\ c\nD=a  b  \nE=\\"a\\"\n',
    ],
)
def test_the_env_model_reads_files_as_systemd_does(tmp_path, text):
    path = tmp_path / "m.env"
    path.write_text(text)
    assert parse_env_file(text) == LIBSYSTEMD.load_env_file(str(path))


def test_sh_sources_the_env_file_to_the_same_values_and_runs_nothing(tmp_path):
    """The readiness probe does `set -a; . env-file` as root: no value may run a command there."""
    path = _env_file(tmp_path, TRICKY_VALUES)
    names = list(TRICKY_VALUES)
    script = 'set -a; . "$1"; shift; for n in "$@"; do eval "printf \'%s\\0\' \\"\\$$n\\""; done'
    proc = subprocess.run(
        ["sh", "-c", script, "sh", str(path), *names], capture_output=True, timeout=30, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split("\0")[:-1] == list(TRICKY_VALUES.values())
    assert not list(tmp_path.glob("*pwned*")), "sourcing the env file ran a command"


def test_split_words_is_the_exec_splitter_without_the_dollar_pass():
    assert split_words("a \"b c\" 'd'") == ["a", "b c", "d"]
