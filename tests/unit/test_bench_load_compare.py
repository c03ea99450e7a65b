"""The load comparison's own rules: which streams count as stalled, and how client priority is set."""

from __future__ import annotations

import os

import pytest

from bench import load_vs_vllm_bench as compare


def test_a_stream_read_after_half_its_time_is_stalled():
    assert compare.stalled(ttft_s=0.6, latency_s=1.0)
    assert not compare.stalled(ttft_s=0.02, latency_s=0.4)
    assert not compare.stalled(ttft_s=0.0, latency_s=0.0)  # nothing arrived: not a stall, an error elsewhere


def test_realtime_clients_ask_for_sched_fifo(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "sched_setscheduler", lambda pid, policy, param: calls.append((pid, policy)))
    compare.raise_client_priority("realtime")
    assert calls == [(0, os.SCHED_FIFO)]


def test_normal_clients_leave_scheduling_alone(monkeypatch):
    monkeypatch.setattr(os, "sched_setscheduler", lambda *a: pytest.fail("must not change scheduling"))
    compare.raise_client_priority("normal")


def test_without_the_privilege_the_error_says_what_would_work(monkeypatch):
    def refuse(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with pytest.raises(SystemExit, match="run as root, or pass --client-priority normal"):
        compare.raise_client_priority("realtime")
