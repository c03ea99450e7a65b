"""The one validation layer for values that reach a rendered artifact: a systemd unit, an env file, YAML,
a shell snippet, a PromQL query or an argv. Pure: strings in, `ValueRefused` out.

Every check refuses control characters (a newline adds a line to a unit, an env file or YAML) and says
what would work. Messages name the setting and the rule, never the value: a secret pasted into the wrong
setting must not reach a terminal, a CI log or a deploy report.
Per-format escaping (systemd quoting, env-file quoting, PromQL strings) lives with each renderer in
`targets/`; what passes here is safe to escape there.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import unicodedata

from serving.errors import ValueRefused

# Unicode categories refused everywhere: C0/C1 controls (newline, NUL, ESC, NEL), surrogates, and the
# line and paragraph separators that Python, YAML and some editors treat as line breaks.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidirectional overrides ("Trojan Source"): a unit or YAML file that reads differently than it runs.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

MAX_TEXT = 4096
MAX_PATH = 1024


def control_character(value: str) -> str | None:
    """The first refused character as `U+XXXX`, or None."""
    for ch in value:
        if unicodedata.category(ch) in _CONTROL_CATEGORIES or ch in _BIDI_CONTROLS:
            return f"U+{ord(ch):04X}"
    return None


def check_text(value: object, what: str, *, max_len: int = MAX_TEXT) -> str:
    """A string with no control characters, at most `max_len` long."""
    if not isinstance(value, str):
        raise ValueRefused(f"{what} must be text, not {type(value).__name__}")
    bad = control_character(value)
    if bad:
        raise ValueRefused(
            f"{what} contains the control character {bad}: remove it (newlines and other control "
            "characters would add lines to the unit, env file or YAML it is written to)"
        )
    if len(value) > max_len:
        raise ValueRefused(f"{what} is {len(value)} characters long: the limit is {max_len}")
    return value


# Absolute, normalised paths of portable file-name characters: no whitespace (systemd splits
# ReadWritePaths= on it), no `%` (a specifier), no `$`, quotes, backslashes or globs (shell and unit syntax).
_PATH = re.compile(r"/[A-Za-z0-9._@+/-]*")


def check_path(value: object, what: str) -> str:
    """An absolute, normalised path of [A-Za-z0-9._@+-] names, as systemd directives and shells need."""
    text = check_text(value, what, max_len=MAX_PATH)
    if not text.startswith("/"):
        raise ValueRefused(
            f"{what} is not an absolute path: use one that starts with /, e.g. /var/lib/gptoss "
            "(systemd ignores relative paths in EnvironmentFile=, ReadWritePaths= and WorkingDirectory=)"
        )
    if not _PATH.fullmatch(text):
        raise ValueRefused(
            f"{what} has characters a unit or shell line would misread (whitespace, %, $, "
            "quotes, backslashes, globs): use letters, digits and . _ @ + - between the slashes"
        )
    if posixpath.normpath(text) != text or text.startswith("//"):
        raise ValueRefused(f"{what} is not a normalised path: drop '..', '.', repeated and trailing slashes")
    return text


_HF_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HF_ID = re.compile(rf"{_HF_PART}(?:/{_HF_PART})?")


def check_model_source(value: object, what: str = "model source") -> str:
    """A directory on the target (absolute path rules) or a Hugging Face repo id (`org/name`)."""
    text = check_text(value, what, max_len=MAX_PATH)
    if text.startswith("/"):
        return check_path(text, what)
    if not _HF_ID.fullmatch(text) or "--" in text or ".." in text:
        raise ValueRefused(
            f"{what} is neither an absolute path nor a Hugging Face repo id: use e.g. "
            "openai/gpt-oss-20b or /srv/models/gpt-oss-20b"
        )
    return text


# What clients send as `model`: it also lands in the unit's Description=, a KEDA PromQL label matcher,
# a readiness probe's argv and YAML, so it keeps to characters none of them treat specially.
_SERVED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}")


def check_served_name(value: object, what: str = "served model name") -> str:
    text = check_text(value, what, max_len=MAX_TEXT)
    if not _SERVED_NAME.fullmatch(text):
        raise ValueRefused(
            f"{what} is not a model name: use up to 128 letters, digits and . _ : / @ + - "
            "starting with a letter or digit (e.g. openai/gpt-oss-120b or gpt-oss)"
        )
    return text


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# A name part (split at `_`) that names a secret: anything with SECRET, PASSWORD, PASSWD or CREDENTIAL in
# it, or a part that is or ends in KEY, KEYS or TOKEN (APIKEY, HFTOKEN; not TOKENIZERS or MAX_TOKENS).
_SECRET_ANYWHERE = ("SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
_SECRET_SUFFIXES = ("KEY", "KEYS", "TOKEN")
# Names that change how a shell or the dynamic loader runs: an env file is also read by `sh` as root
# (the deploy's readiness probe), where PATH or LD_PRELOAD would pick the program it runs.
SHELL_OR_LOADER_ENV = frozenset(
    {"PATH", "IFS", "ENV", "BASH_ENV", "CDPATH", "PS4", "SHELLOPTS", "BASHOPTS", "LD_PRELOAD", "LD_AUDIT"}
)


def is_secret_env_name(name: str) -> bool:
    """True for names like OPENAI_API_KEY, AWS_SECRET_ACCESS_KEY, HF_TOKEN, DB_PASSWORD, APIKEY."""
    for part in name.upper().split("_"):
        if any(word in part for word in _SECRET_ANYWHERE):
            return True
        if part.endswith(_SECRET_SUFFIXES):
            return True
    return False


def check_env_name(value: object, what: str = "environment variable") -> str:
    text = check_text(value, what, max_len=MAX_TEXT)
    if not _ENV_NAME.fullmatch(text):
        raise ValueRefused(
            f"{what} name is not a variable name: use letters, digits and _ "
            "(not starting with a digit, at most 128)"
        )
    if is_secret_env_name(text):
        raise ValueRefused(
            f"{what} {text} looks like a secret (its name has KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL "
            "in it): deploys put secrets in a 0600 env file or a Kubernetes Secret, never in the plan, "
            "its argv or its YAML"
        )
    if text in SHELL_OR_LOADER_ENV or text.startswith("BASH_FUNC_"):
        raise ValueRefused(
            f"{what} {text} changes how a shell or the dynamic loader runs programs: the env file is also "
            "read by `sh`, so it is refused; set it in the image or the host's configuration instead"
        )
    return text


def check_env_value(value: object, what: str) -> str:
    """Any printable text (spaces, quotes, $, backticks, unicode): renderers quote it. Never shown."""
    return check_text(value, what, max_len=32768)


def check_extra_arg(value: object, what: str) -> str:
    """One argv word: printable text, quoted by each renderer. Never shown (it may carry a secret)."""
    return check_text(value, what, max_len=32768)


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def check_bind_host(value: object, what: str = "bind address") -> str:
    """An IP address or a DNS host name."""
    text = check_text(value, what, max_len=253)
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(text):
        raise ValueRefused(f"{what} is neither an IP address nor a host name: use e.g. 0.0.0.0")
    return text


_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def check_user_name(value: object, what: str = "user") -> str:
    text = check_text(value, what, max_len=64)
    if not _USER.fullmatch(text):
        raise ValueRefused(
            f"{what} is not a system user name: use up to 32 lowercase letters, digits, _ and -, "
            "starting with a letter or _ (e.g. vllm)"
        )
    return text


_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


def check_dns_label(value: object, what: str, max_len: int = 63) -> str:
    """An RFC 1123 label (Kubernetes namespaces and most object names)."""
    text = check_text(value, what, max_len=253)
    if len(text) > max_len or not _DNS_LABEL.fullmatch(text):
        raise ValueRefused(
            f"{what} is not a DNS label: use at most {max_len} lowercase letters, digits and -, "
            "starting and ending with a letter or digit"
        )
    return text


def check_dns_subdomain(value: object, what: str) -> str:
    """An RFC 1123 subdomain (Secret and StorageClass names): DNS labels joined by dots, at most 253."""
    text = check_text(value, what, max_len=253)
    if not text or not all(_DNS_LABEL.fullmatch(part) for part in text.split(".")):
        raise ValueRefused(
            f"{what} is not a DNS subdomain: use lowercase letters, digits, - and ., "
            "each part starting and ending with a letter or digit"
        )
    return text


_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def check_label_key(value: object, what: str) -> str:
    """A Kubernetes label (or taint) key: an optional DNS-subdomain prefix and `/`, then a name."""
    text = check_text(value, what, max_len=317)
    prefix, slash, name = text.rpartition("/")
    if slash:
        check_dns_subdomain(prefix, f"{what} prefix")
    if not _LABEL_NAME.fullmatch(name):
        raise ValueRefused(
            f"{what} is not a label key: up to 63 letters, digits, - _ . after an optional "
            "DNS prefix and /, starting and ending with a letter or digit"
        )
    return text


def check_label_value(value: object, what: str) -> str:
    text = check_text(value, what, max_len=63)
    if text and not _LABEL_NAME.fullmatch(text):
        raise ValueRefused(
            f"{what} is not a label value: up to 63 letters, digits, - _ ., starting and ending "
            "with a letter or digit"
        )
    return text


# A container image reference: [registry[:port]/]path[:tag][@sha256:digest], lowercase path components.
_IMAGE = re.compile(
    r"(?:[A-Za-z0-9.-]+(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def check_image_ref(value: object, what: str) -> str:
    text = check_text(value, what, max_len=512)
    if not _IMAGE.fullmatch(text):
        raise ValueRefused(
            f"{what} is not an image reference: use [registry/]name:tag or name@sha256:<64 hex>"
        )
    return text


def check_digest(value: object, what: str) -> str:
    text = check_text(value, what, max_len=80)
    if not _DIGEST.fullmatch(text):
        raise ValueRefused(f"{what} is not an image digest: use sha256: and 64 lowercase hex digits")
    return text


_HTTP_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?")


def check_http_url(value: object, what: str) -> str:
    """An http(s) URL of a host, port and plain path: no credentials, query or characters to escape."""
    text = check_text(value, what, max_len=2048)
    if not _HTTP_URL.fullmatch(text):  # not repeated: a URL may carry user:password@
        raise ValueRefused(
            f"{what} is not a plain http(s) URL: use e.g. http://prometheus.monitoring.svc:9090 "
            "(no user:password@, query or spaces)"
        )
    return text


# A pinned pip requirement: name[extras]==version.
_REQUIREMENT = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+"
)


def check_pinned_requirement(value: object, what: str) -> str:
    text = check_text(value, what, max_len=256)
    if not _REQUIREMENT.fullmatch(text):
        raise ValueRefused(f"{what} is not a pinned requirement: use name==version")
    return text


__all__ = [
    "SHELL_OR_LOADER_ENV",
    "ValueRefused",
    "check_bind_host",
    "check_digest",
    "check_dns_label",
    "check_dns_subdomain",
    "check_env_name",
    "check_env_value",
    "check_extra_arg",
    "check_http_url",
    "check_image_ref",
    "check_label_key",
    "check_label_value",
    "check_model_source",
    "check_path",
    "check_pinned_requirement",
    "check_served_name",
    "check_text",
    "check_user_name",
    "control_character",
    "is_secret_env_name",
]
