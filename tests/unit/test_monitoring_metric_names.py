"""Every metric the rules and the dashboard select is one the live servers export, as collected from them
by tests/e2e/test_metric_names.py into tests/data/exported-metrics.json (never a list written by hand)."""

from __future__ import annotations

from tests.unit.exported_metrics import SCRAPE_SYNTHESIZED, exported_names, metrics_used


def test_every_metric_used_is_exported_by_a_live_server():
    """Rules and dashboard alike: each metric is in the names collected from live servers."""
    exported = set().union(*exported_names().values()) | SCRAPE_SYNTHESIZED
    missing = {name: sorted(where) for name, where in metrics_used().items() if name not in exported}
    assert not missing, f"metrics no live server exported: {missing}"


def test_the_snapshot_covers_both_servers():
    servers = exported_names()
    assert set(servers) == {"vllm", "vllm-router"}
    assert "vllm:num_requests_waiting" in servers["vllm"]
    assert "vllm_router_worker_health" in servers["vllm-router"]
