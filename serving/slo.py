"""Service-level objectives the plan's goal promises: what the alerting rules hold a deployment to.

A goal says what the deployment is tuned for, so it also says what counts as too slow. The p95 time to
first token is the number users feel first; each value sits on one of vLLM's own histogram bucket
boundaries (`vllm:time_to_first_token_seconds`: ... 0.5, 0.75, 1.0, 2.5, 5.0 ...), where
`histogram_quantile` is exact rather than interpolated, so "p95 over the SLO" means exactly "more than
5% of first tokens took longer than the SLO".
"""

from __future__ import annotations

from serving.plan import GOALS, PlanError

# latency: TP 4/8 for the lowest per-user latency, a first token within half a second.
# balanced: interactive chat and agents, a first token within a second.
# throughput: large batches and the recipe's --stream-interval 20; queueing is accepted up to 5 s.
TTFT_P95_SLO_SECONDS: dict[str, float] = {"latency": 0.5, "balanced": 1.0, "throughput": 5.0}


def ttft_p95_slo_seconds(goal: str) -> float:
    """The p95 time-to-first-token objective of a goal, in seconds."""
    try:
        return TTFT_P95_SLO_SECONDS[goal]
    except KeyError:
        raise PlanError(f"unknown goal {goal!r}: use one of {', '.join(GOALS)}") from None
