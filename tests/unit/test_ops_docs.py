"""The operator docs: the Grafana dashboard, the Prometheus alerting rules and their unit
tests, and docs/operations.md, which explains them.

No I/O beyond reading those files and running promtool. The promtool tests skip, saying
so, when promtool is not installed: `.ci/promtool` installs it (CI runs it), or point
CHRONOS_PROMTOOL at a binary.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops_metrics import (
    CONTRACT,
    DASHBOARD_PATH,
    RULES_PATH,
    dashboard_expressions,
    dashboard_metrics,
    metric_names,
    rule_expressions,
    rule_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = DASHBOARD_PATH
RULES = RULES_PATH
RULE_TESTS = ROOT / "docs" / "prometheus" / "chronos-alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
# Where .ci/promtool links it, for a PATH without /usr/local/bin.
PROMTOOL_LINK = Path("/usr/local/bin/promtool")

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Metrics with a Chronos queue label, and Dramatiq's, whose queue_name carries it.
QUEUE_LABELLED = {
    name
    for name in CONTRACT
    if name.startswith(("chronos_run", "chronos_queue_")) or name.startswith("dramatiq_")
}
SEVERITIES = {"critical", "warning"}


def promtool() -> str:
    found = (
        os.environ.get("CHRONOS_PROMTOOL")
        or shutil.which("promtool")
        or (str(PROMTOOL_LINK) if os.access(PROMTOOL_LINK, os.X_OK) else None)
    )
    if found is None:
        pytest.skip("promtool is not installed: run .ci/promtool, or set CHRONOS_PROMTOOL")
    return found


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def load_rules() -> dict[str, Any]:
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return rules


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def data_panels() -> list[dict[str, Any]]:
    return [p for p in all_panels(load_dashboard()["panels"]) if p["type"] != "row"]


def alerts() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from walk(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def as_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced by what Grafana would
    send: an interval for the built-in ones, a regex matching everything for $queue."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b|\$\{__\w+\}", "5m", expr)
    return re.sub(r"\$\{\w+(:\w+)?\}|\$\w+|\[\[\w+\]\]", ".*", expr)


def markdown_anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown document."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


# --- the metric names --------------------------------------------------------------------


def test_the_dashboard_queries_only_contract_metrics() -> None:
    assert dashboard_metrics(DASHBOARD) - set(CONTRACT) == set()


def test_the_rules_query_only_contract_metrics() -> None:
    assert rule_metrics(RULES) - set(CONTRACT) == set()


def test_the_dashboard_covers_every_chronos_metric_an_operator_needs() -> None:
    """Every Chronos metric of the contract has a panel (Dramatiq's are optional)."""
    wanted = {name for name in CONTRACT if name.startswith("chronos_")}
    assert wanted - dashboard_metrics(DASHBOARD) == set()


# --- the dashboard -----------------------------------------------------------------------


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["title"]
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    # Import assigns the id: an exported one would overwrite another dashboard.
    assert dashboard.get("id") is None
    assert "chronos" in dashboard["tags"]


def test_the_dashboard_has_a_datasource_and_a_queue_variable() -> None:
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    queue = variables["queue"]
    assert queue["type"] == "query"
    assert queue["datasource"] == DATASOURCE
    assert queue["multi"]
    assert queue["includeAll"]
    # The panels match the queue with =~, so "All" must be a regex that matches all.
    assert queue["allValue"] == ".*"
    assert metric_names(dashboard_expressions({"templating": {"list": [queue]}})[0]) == {
        "chronos_runs"
    }


def test_every_panel_has_a_title_and_a_query() -> None:
    panels = data_panels()
    assert len(panels) >= 15
    for panel in panels:
        assert panel.get("title"), panel
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), panel["title"]
            assert target.get("refId"), panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_rows_have_titles() -> None:
    rows = [p for p in all_panels(load_dashboard()["panels"]) if p["type"] == "row"]
    assert rows
    assert all(row.get("title") for row in rows)


def test_every_datasource_is_the_variable() -> None:
    """A data source uid from one Grafana would not exist in another."""
    dashboard = load_dashboard()
    for panel in data_panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for reference in walk(dashboard, "datasource"):
        builtin = {"type": "grafana", "uid": "-- Grafana --"}
        assert reference in (DATASOURCE, builtin), reference
    assert "__inputs" not in dashboard


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    panels = list(all_panels(load_dashboard()["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert min(grid["w"], grid["h"], grid["x"], grid["y"]) >= 0, panel["title"]
        assert grid["w"] * grid["h"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_panels_on_queue_metrics_follow_the_queue_variable() -> None:
    for panel in data_panels():
        for target in panel["targets"]:
            if metric_names(target["expr"]) & QUEUE_LABELLED:
                assert "$queue" in target["expr"], (panel["title"], target["expr"])


def test_rates_use_grafanas_rate_interval() -> None:
    """A fixed window shows nothing when zoomed in past it, and too little zoomed out."""
    for expr in dashboard_expressions(load_dashboard()):
        for window in re.findall(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]", expr):
            assert window == "$__rate_interval", expr


def test_the_dashboard_promql_parses() -> None:
    """promtool parses every dashboard expression, as a recording rule."""
    expressions = sorted(set(dashboard_expressions(load_dashboard())))
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard_expr_{i}", "expr": as_promql(expr)}
                    for i, expr in enumerate(expressions)
                ],
            }
        ]
    }
    result = run_promtool("check", "rules", "/dev/stdin", stdin=yaml.safe_dump(rules))
    assert result.returncode == 0, result.stdout + result.stderr


# --- the alerting rules ------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rule_tests_load_the_rules_file() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert [RULE_TESTS.parent / name for name in tests["rule_files"]] == [RULES]


def test_every_alert_has_a_test_in_which_it_fires() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set()
    assert names - quiet == set()
    assert (fired | quiet) - names == set()


def test_alerts_are_named_labelled_and_annotated() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert re.fullmatch(r"Chronos[A-Z][A-Za-z]+", rule["alert"]), rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule["alert"]
        assert len(annotations["description"]) > 80, rule["alert"]


def test_every_alert_but_counter_windows_waits_before_firing() -> None:
    """A gauge that crosses a line for one scrape is noise: alerts wait with `for:`.
    Alerts over an increase() window already span that window."""
    for rule in alerts():
        if "for" not in rule:
            assert "increase(" in rule["expr"], rule["alert"]


def test_the_alerts_an_on_call_engineer_needs_are_there() -> None:
    by_name = {rule["alert"]: rule for rule in alerts()}
    needed = {
        "ChronosJobsOverdue": ("chronos_overdue_jobs", "critical"),
        "ChronosSchedulerNotDispatching": ("absent(chronos_scheduler_pass_seconds", "critical"),
        "ChronosRunLagHigh": ("chronos_run_lag_seconds_bucket", "warning"),
        "ChronosRunFailureRatioHigh": ('state=~"failed|lost"', "warning"),
        "ChronosDatabaseDown": ("chronos_database_up", "critical"),
        "ChronosQueueNoConsumers": ("chronos_queue_consumers", "critical"),
    }
    for name, (fragment, severity) in needed.items():
        assert fragment in by_name[name]["expr"], name
        assert by_name[name]["labels"]["severity"] == severity, name


def test_every_runbook_points_at_a_section_of_operations_md() -> None:
    anchors = markdown_anchors(OPERATIONS.read_text(encoding="utf-8"))
    for rule in alerts():
        runbook = rule["annotations"]["runbook"]
        match = re.match(r"docs/operations\.md#([\w-]+)", runbook)
        assert match, rule["alert"]
        assert match.group(1) == rule["alert"].lower(), rule["alert"]
        assert match.group(1) in anchors, rule["alert"]


def test_runbooks_name_real_troubleshooting_rows() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    # Alert messages are plain text: the runbook names the symptom without backticks.
    symptoms = {s.replace("`", "") for s in re.findall(r"^\| ([^|]+?) \|", table, re.MULTILINE)}
    for rule in alerts():
        runbook = rule["annotations"]["runbook"]
        if "README Troubleshooting: " in runbook:
            symptom = runbook.split("README Troubleshooting: ", 1)[1]
            assert symptom in symptoms, (rule["alert"], symptom)


def test_rule_expressions_have_no_grafana_variables() -> None:
    for expr in rule_expressions(load_rules()):
        assert "$" not in expr, expr


# --- docs/operations.md ------------------------------------------------------------------


def test_operations_md_scrapes_the_three_processes_under_the_alerted_job_names() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    config = next(block for block in blocks if "scrape_configs" in block)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"chronos-api", "chronos-worker", "chronos-scheduler"}
    assert jobs["chronos-api"]["metrics_path"] == "/metrics"
    ports = {
        name: {target.rsplit(":", 1)[1] for c in job["static_configs"] for target in c["targets"]}
        for name, job in jobs.items()
    }
    assert ports["chronos-worker"] == {"9191"}
    assert ports["chronos-scheduler"] == {"9192"}
    target_down = next(rule for rule in alerts() if rule["alert"] == "ChronosTargetDown")
    selector = re.search(r'job=~"([^"]+)"', target_down["expr"])
    assert selector is not None
    assert all(re.fullmatch(selector.group(1), name) for name in jobs)


def test_operations_md_explains_every_alert() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\w+)$", text, re.MULTILINE))
    assert headings == {rule["alert"] for rule in alerts()}
