"""End to end: deploy.py with monitoring_enabled puts Prometheus and the node exporter on the test host, every
target is up, and a kill -9 of the engine walks the engine-down alert through pending and firing to
resolved once systemd has restarted it. Everything is read from Prometheus's HTTP API; every wait is bounded.

The test host has no route to a Debian mirror: `prometheus` and `prometheus-node-exporter` must be in its
rootfs (harness/testbed/rootfs.py ROOTFS_PACKAGES); without them the test skips and says so (a failure in CI).
The alert windows are shortened through host data so the alert fires well before vLLM is back (about 35 s
on a 2-core machine): a 2 s scrape and evaluation interval and `engine_down_for` 10 s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest
from testbed.deploy_runner import ensure_api_key, run_deploy, wait_for_ssh

from smoke.readiness import wait_until_ready
from tests.e2e.test_deploy_testbed import MODEL, group_data, prerequisites_missing

pytestmark = pytest.mark.e2e

UNIT = "gptoss-vllm-0.service"
ENGINE_PORT = 8000
ENGINE_DOWN_FOR_S = 10
INTERVAL_S = 2
MONITORING_DATA = {
    "monitoring_enabled": True,
    "monitoring_scrape_interval": f"{INTERVAL_S}s",
    "monitoring_evaluation_interval": f"{INTERVAL_S}s",
    "monitoring_alerts": json.dumps({"engine_down_for": f"{ENGINE_DOWN_FOR_S}s"}),
}
TARGETS_UP_S = 90
RECOVERY_S = 360


@dataclass
class Monitored:
    host: object  # testinfra host
    address: str

    @property
    def prometheus(self) -> str:
        return f"http://{self.address}:9090"

    def api(self, path: str, **params) -> dict:
        response = httpx.get(f"{self.prometheus}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def engine_down(self) -> list[dict]:
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == "GptossEngineDown"]

    def main_pid(self) -> int:
        return int(self.host.check_output(f"systemctl show -p MainPID --value {UNIT}"))


@pytest.fixture(scope="module")
def monitored(testbed_host) -> Monitored:
    missing = prerequisites_missing()
    if missing:
        pytest.skip(missing)
    for package in ("prometheus", "prometheus-node-exporter"):
        if not testbed_host.host.package(package).is_installed:
            pytest.skip(
                f"{package} is not in the test host's rootfs: add it to harness/testbed/rootfs.py ROOTFS_PACKAGES"
            )
    ensure_api_key(group_data()["vllm_api_key_file"])
    wait_for_ssh()
    run = run_deploy(data=MONITORING_DATA)
    assert run.returncode == 0, run.output[-6000:]
    return Monitored(testbed_host.host, testbed_host.address)


def test_prometheus_scrapes_every_target_with_up_1(monitored):
    deadline = time.monotonic() + TARGETS_UP_S
    while True:
        targets = monitored.api("targets")["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        if health and all(h == "up" for h in health.values()):
            break
        assert time.monotonic() < deadline, f"targets not all up after {TARGETS_UP_S} s: {health}"
        time.sleep(INTERVAL_S)
    jobs = {job for job, _ in health}
    assert jobs == {"prometheus", "gptoss-vllm", "node"}, health
    assert ("gptoss-vllm", f"{monitored.address}:{ENGINE_PORT}") in health
    up = monitored.api("query", query='up{job="gptoss-vllm"}')["result"]
    assert [sample["value"][1] for sample in up] == ["1"]


def test_the_rules_are_loaded_and_healthy(monitored):
    groups = {g["name"]: g for g in monitored.api("rules")["groups"]}
    assert set(groups) == {"gptoss-vllm-recording", "gptoss-vllm-alerts"}
    assert (
        len(groups["gptoss-vllm-recording"]["rules"]) == 21
        and len(groups["gptoss-vllm-alerts"]["rules"]) == 9
    )
    assert all(rule["health"] == "ok" for g in groups.values() for rule in g["rules"]), groups
    down = next(r for r in groups["gptoss-vllm-alerts"]["rules"] if r["name"] == "GptossEngineDown")
    assert down["duration"] == ENGINE_DOWN_FOR_S


def test_a_second_monitored_deploy_changes_nothing(monitored):
    run = run_deploy(data=MONITORING_DATA)
    assert run.returncode == 0, run.output[-4000:]
    assert run.changed == 0, run.output[-4000:]


def test_kill_9_fires_engine_down_then_resolves_after_the_restart(monitored):
    assert monitored.engine_down() == [], "the engine-down alert is active before the kill"
    pid = monitored.main_pid()
    killed = time.monotonic()
    monitored.host.run(f"kill -9 {pid}")
    seen: dict[str, float] = {}
    deadline = killed + RECOVERY_S
    while "resolved" not in seen:
        assert time.monotonic() < deadline, f"alert states seen {seen} within {RECOVERY_S} s of the kill"
        states = {a["state"] for a in monitored.engine_down()}
        now = time.monotonic() - killed
        for state in states:
            seen.setdefault(state, now)
        if "firing" in seen and not states:
            seen["resolved"] = now
        time.sleep(0.5)
    print(f"engine-down alert after kill -9: {seen}")
    assert seen["pending"] < seen["firing"] < seen["resolved"]
    # Firing needs the rule's `for:` after the first failed scrape; it must not wait much longer than that.
    assert seen["firing"] - seen["pending"] >= ENGINE_DOWN_FOR_S - INTERVAL_S
    assert seen["firing"] <= ENGINE_DOWN_FOR_S + 4 * INTERVAL_S + 5
    assert monitored.main_pid() not in (pid, 0)
    key = ensure_api_key(group_data()["vllm_api_key_file"]).read_text().strip()
    wait_until_ready(f"http://{monitored.address}:{ENGINE_PORT}", MODEL, api_key=key, deadline_s=60).require()
    up = monitored.api("query", query='up{job="gptoss-vllm"}')["result"]
    assert [sample["value"][1] for sample in up] == ["1"]
