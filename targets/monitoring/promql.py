"""PromQL for a gpt-oss fleet: the metric names vLLM and vllm-router export, the values allowed into a query,
and the expressions the recording rules, the alerts and the dashboard share (built once, here).

Metric names are those of vLLM 0.32/0.33 (`vllm/v1/metrics/loggers.py`; counters gain `_total` on the
wire), of prometheus-fastapi-instrumentator on vLLM's API server (`http_requests_total`), and of
vllm-router (`src/metrics.rs`: `vllm_router_*`, on its own Prometheus port). The e2e test
tests/e2e/test_metric_names.py checks every name used here against live servers.

Every value that reaches a query is refused unless it is plain: label values (served-model names, job
names) may hold letters, digits and `. _ : / @ + -` only, so no quote, backslash, brace or newline can end
a string literal, open a Go template in an alert annotation, or smuggle in a second matcher.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# --- what the servers export ---
UP = "up"
GENERATION_TOKENS = "vllm:generation_tokens_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
TTFT_BUCKET = "vllm:time_to_first_token_seconds_bucket"
ITL_BUCKET = "vllm:inter_token_latency_seconds_bucket"
PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries_total"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits_total"
KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"  # a fraction despite the name: 1 means full
REQUESTS_WAITING = "vllm:num_requests_waiting"
REQUESTS_RUNNING = "vllm:num_requests_running"
HTTP_REQUESTS = "http_requests_total"  # labels handler, method, status ("2xx", "4xx", "5xx")
ROUTER_WORKER_HEALTH = "vllm_router_worker_health"  # per worker URL: 1 healthy, 0 unhealthy
ROUTER_REQUESTS = "vllm_router_processed_requests_total"  # per worker the router sent a request to

LATENCY_HISTOGRAMS = {"ttft": TTFT_BUCKET, "itl": ITL_BUCKET}

# Aggregation levels. `instance` is one engine (one scrape target); vLLM's own `engine` label (the
# data-parallel rank inside one server) is summed away.
ENGINE = ("job", "instance", "model_name")
FLEET = ("job", "model_name")
TARGET = ("job", "instance")  # series without model_name: up, http_requests_total


class QueryValueError(ValueError):
    """A value that must not go into PromQL or a rule file; the message says what would work."""


_LABEL_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,252}")
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")


def label_value(value: object, what: str) -> str:
    """`value` if it can sit inside a PromQL string literal and an alert annotation unescaped."""
    if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
        raise QueryValueError(
            f"{what} {value!r} cannot go into a Prometheus query: use 1-253 letters, digits and . _ : / @ + - "
            "(starting with a letter or digit)"
        )
    return value


def job_name(value: object, what: str = "Prometheus job name") -> str:
    """A scrape job name: 1-63 letters, digits, `.`, `_` or `-`."""
    if not isinstance(value, str) or not _JOB_NAME.fullmatch(value):
        raise QueryValueError(
            f"{what} {value!r} is not usable: use 1-63 letters, digits, . _ or - (starting with a letter or digit)"
        )
    return value


def duration(value: object, what: str) -> str:
    """A Prometheus duration such as 30s, 5m or 1h30m, greater than zero."""
    if (
        not isinstance(value, str)
        or not _DURATION.fullmatch(value)
        or not any(c in "123456789" for c in value)
    ):
        raise QueryValueError(f"{what} {value!r} is not a Prometheus duration: use e.g. 30s, 5m or 1h30m")
    return value


def number(value: object, what: str, *, low: float = 0.0, high: float = math.inf) -> float:
    """A finite number in (low, high]; bools and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise QueryValueError(f"{what} must be a number, not {value!r}")
    if not low < value <= high:
        bound = f"at most {high:g}" if math.isfinite(high) else "positive"
        raise QueryValueError(f"{what} must be above {low:g} and {bound}, not {value!r}")
    return float(value)


def literal(value: float) -> str:
    """A number as PromQL writes it: 0.9, 8, 0.05 (never 8.0 or 5e-02)."""
    return f"{value:g}" if value == int(value) or abs(value) >= 1e-4 else repr(value)


@dataclass(frozen=True)
class Scope:
    """Label matchers (the text between braces) that select one deployment's series.

    `engines` picks vLLM's own series (they carry `model_name`), `targets` the per-target series without
    it (`up`, `http_requests_total`), `router` the router's. Build it with `Scope.of` from validated
    values; the dashboard uses `GRAFANA_SCOPE`, whose values are its own template variables.
    """

    engines: str
    targets: str
    router: str

    @classmethod
    def of(cls, engine_job: str, router_job: str, served_model_name: str) -> Scope:
        job = label_value(job_name(engine_job, "engine job name"), "engine job name")
        router = label_value(job_name(router_job, "router job name"), "router job name")
        model = label_value(served_model_name, "served model name")
        return cls(
            engines=f'job="{job}",model_name="{model}"', targets=f'job="{job}"', router=f'job="{router}"'
        )


GRAFANA_SCOPE = Scope(
    engines='job=~"$job",model_name=~"$model"', targets='job=~"$job"', router='job=~"$router_job"'
)


def _by(labels: tuple[str, ...]) -> str:
    return ", ".join(labels)


def _rate(metric: str, matchers: str, window: str) -> str:
    return f"rate({metric}{{{matchers}}}[{window}])"


def engine_up(scope: Scope) -> str:
    return f"{UP}{{{scope.targets}}}"


def router_up(scope: Scope) -> str:
    return f"{UP}{{{scope.router}}}"


def tokens_per_second(scope: Scope, by: tuple[str, ...], window: str, kind: str = "generation") -> str:
    metric = {"generation": GENERATION_TOKENS, "prompt": PROMPT_TOKENS}[kind]
    return f"sum by ({_by(by)}) ({_rate(metric, scope.engines, window)})"


def latency_quantile(scope: Scope, histogram: str, q: float, by: tuple[str, ...], window: str) -> str:
    """`histogram_quantile` over one of vLLM's latency histograms ("ttft" or "itl")."""
    bucket = LATENCY_HISTOGRAMS[histogram]
    return f"histogram_quantile({literal(q)}, sum by ({_by((*by, 'le'))}) ({_rate(bucket, scope.engines, window)}))"


def prefix_cache_hit_ratio(scope: Scope, by: tuple[str, ...], window: str) -> str:
    """Prompt tokens served from the prefix cache over prompt tokens looked up (NaN without traffic)."""
    hits = f"sum by ({_by(by)}) ({_rate(PREFIX_CACHE_HITS, scope.engines, window)})"
    queries = f"sum by ({_by(by)}) ({_rate(PREFIX_CACHE_QUERIES, scope.engines, window)})"
    return f"{hits} / {queries}"


def kv_cache_usage(scope: Scope, by: tuple[str, ...]) -> str:
    """The fullest KV cache in each group, 0 to 1."""
    return f"max by ({_by(by)}) ({KV_CACHE_USAGE}{{{scope.engines}}})"


def requests_waiting(scope: Scope, by: tuple[str, ...]) -> str:
    return f"sum by ({_by(by)}) ({REQUESTS_WAITING}{{{scope.engines}}})"


def requests_running(scope: Scope, by: tuple[str, ...]) -> str:
    return f"sum by ({_by(by)}) ({REQUESTS_RUNNING}{{{scope.engines}}})"


def error_ratio(scope: Scope, by: tuple[str, ...], window: str) -> str:
    """Share of API responses that were server errors (5xx); NaN, so never alerting, without traffic.

    The 5xx series exists only after a first server error (the instrumentator creates label sets on use):
    `or total * 0` makes an engine that never failed read 0 rather than no data."""
    server_errors = scope.targets + ',status="5xx"'
    errors = f"sum by ({_by(by)}) ({_rate(HTTP_REQUESTS, server_errors, window)})"
    total = f"sum by ({_by(by)}) ({_rate(HTTP_REQUESTS, scope.targets, window)})"
    return f"({errors} or {total} * 0) / {total}"


def restarts(scope: Scope, window: str) -> str:
    """How often each engine target went down or came back within `window` (a down-up cycle counts 2)."""
    return f"changes({engine_up(scope)}[{window}])"


def router_worker_health(scope: Scope) -> str:
    return f"{ROUTER_WORKER_HEALTH}{{{scope.router}}}"


def router_requests_per_second(scope: Scope, window: str) -> str:
    return f"sum by (job, instance) ({_rate(ROUTER_REQUESTS, scope.router, window)})"
