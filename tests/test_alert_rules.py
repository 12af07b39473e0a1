"""deploy/prometheus/alerts.yml: promtool checks it and runs its unit tests; facts that tie the
rules to what slawatch and the SDK really export, and to how compose loads them."""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from slawatch import telemetry
from slawatch.settings import Settings, notify_queue_for
from tests.deploy_tools import DEPLOY, run, tool
from tests.harness import harness
from tests.metrics_probe import free_port, matching, scrape

RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "compose" / "prometheus.yml"
# The SDK runtime's own series the rules use (sdk-core's metric names, prefixed temporal_).
SDK_SERIES = {"temporal_num_pollers"}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    promtool = tool("promtool")
    checked = run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    tested = run(promtool, "test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    # The check above would be worthless if promtool passed anything.
    broken = tmp_path / "alerts.yml"
    broken.write_text(
        RULES.read_text().replace("sum by (vendor, channel) (", "sum by (vendor (", 1)
    )
    checked = run(tool("promtool"), "check", "rules", str(broken))
    assert checked.returncode != 0 and "parse error" in checked.stdout + checked.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for rule in rules():
        mine = [c for c in checks if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']} is never tested firing"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']} is never tested quiet"


def test_rules_query_only_series_that_are_served() -> None:
    served = {
        f"{telemetry.DELIVERY_FAILURES}_total",
        f"{telemetry.ESCALATIONS_EXHAUSTED}_total",
        f"{telemetry.ACKNOWLEDGEMENTS}_total",
        f"{telemetry.BREACHES}_total",
        f"{telemetry.PAGE_LAG}_bucket",
        *SDK_SERIES,
    }
    used = {m for rule in rules() for m in re.findall(r"\b(?:slawatch|temporal)_\w+", rule["expr"])}
    assert used == served
    every = " ".join(rule["expr"] for rule in rules())
    assert 'scope="account"' in every and 'step="first", emergency="true"' in every


def test_dashboard_shows_every_series_an_alert_reads() -> None:
    board = json.loads((DEPLOY / "grafana" / "slawatch.json").read_text())
    shown = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    for rule in rules():
        for name in re.findall(r"\b(?:slawatch|temporal)_\w+", rule["expr"]):
            assert name in shown, f"{rule['alert']} reads {name}, which no panel shows"
    described = " ".join(p.get("description", "") for p in board["panels"])
    assert all(rule["alert"] in described for rule in rules())


def test_worker_alerts_watch_the_default_queues() -> None:
    settings = Settings()
    exprs = {rule["alert"]: rule["expr"] for rule in rules()}
    tickets = exprs["SlawatchNoWorkerOnTicketQueue"]
    notify = exprs["SlawatchNoWorkerOnNotifyQueue"]
    assert f'task_queue="{settings.ticket_task_queue}"' in tickets
    assert f'task_queue="{settings.notify_task_queue}"' in notify


def test_compose_prometheus_loads_the_rules_it_mounts() -> None:
    promtool = tool("promtool")
    # check config also loads and checks each rule file, by the path the config names.
    checked = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    [rule_file] = config["rule_files"]
    assert (PROMETHEUS_CONFIG.parent / rule_file).resolve() == RULES
    # In the container the config is /etc/prometheus/prometheus.yml; compose must mount the
    # rules where the same relative path lands there.
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yaml").read_text())
    mounts = dict(v.rsplit(":", 2)[:2] for v in compose["services"]["prometheus"]["volumes"])
    in_container = posixpath.normpath(posixpath.join("/etc/prometheus", rule_file))
    assert mounts["../prometheus/alerts.yml"] == in_container


async def test_real_workers_export_the_poller_series_the_worker_alerts_read() -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = telemetry.runtime_for(Settings(metrics_bind_address=address))
    async with harness(runtime=runtime) as h:
        wanted = {
            (h.task_queue, "workflow_task"),
            (notify_queue_for(h.task_queue), "activity_task"),
        }
        for _ in range(100):  # pollers start within a few hundred milliseconds
            got = scrape(address)
            polling = {
                (queue, kind)
                for queue, kind in wanted
                if sum(matching(got, "temporal_num_pollers", task_queue=queue, poller_type=kind))
            }
            if polling == wanted:
                break
            await asyncio.sleep(0.1)
        assert polling == wanted
