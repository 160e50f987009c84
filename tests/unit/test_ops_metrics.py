"""tests/ops_metrics.py: which metric names a PromQL expression, a dashboard and a rules
file read. No I/O."""

from __future__ import annotations

import pytest

from tests.ops_metrics import (
    CONTRACT,
    base_name,
    dashboard_expressions,
    docs_metrics,
    metric_names,
    metrics_of_dashboard,
    metrics_of_rules,
    missing_from_scrape,
    sample_names,
    scraped_names,
)


def test_a_bare_selector_is_its_name() -> None:
    assert metric_names("chronos_overdue_jobs") == {"chronos_overdue_jobs"}
    assert metric_names("chronos_overdue_jobs > 0") == {"chronos_overdue_jobs"}


def test_histogram_samples_become_the_family_and_sample_names_keep_them() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (queue, le) (rate(chronos_run_lag_seconds_bucket"
        '{queue=~"default"}[5m]))) / on (queue) rate(chronos_run_lag_seconds_sum[5m])'
        " + rate(chronos_run_lag_seconds_count[5m])"
    )
    assert metric_names(expr) == {"chronos_run_lag_seconds"}
    assert sample_names(expr) == {
        "chronos_run_lag_seconds_bucket",
        "chronos_run_lag_seconds_sum",
        "chronos_run_lag_seconds_count",
    }


def test_counters_keep_total() -> None:
    assert metric_names("rate(chronos_runs_finished_total[5m])") == {"chronos_runs_finished_total"}


@pytest.mark.parametrize(
    ("sample", "family"),
    [
        ("x_bucket", "x"),
        ("x_sum", "x"),
        ("x_count", "x"),
        ("x_total", "x_total"),
        ("x", "x"),
        ("_count", "_count"),
        ("x_count_total", "x_count_total"),
    ],
)
def test_base_name(sample: str, family: str) -> None:
    assert base_name(sample) == family


def test_functions_aggregations_and_keywords_are_not_metrics() -> None:
    expr = """
        sum without (instance, pid) (rate(a_total[5m] offset 1h))
        / ignoring (state) group_left (type)
        max by (queue) (b) > bool 0
        and on (queue) count(c) unless topk(3, d) or absent(e) + avg(f) * min(g)
        - quantile(0.5, h) + count_values("value", i) + stddev(j) + group(k)
    """
    assert metric_names(expr) == {"a_total", *"bcdefghijk"}


def test_aggregation_clause_after_the_arguments() -> None:
    assert metric_names("sum(rate(a_total[1m])) by (queue, le)") == {"a_total"}


def test_group_left_without_labels_and_label_names_that_look_like_keywords() -> None:
    expr = 'a * on (on, by) group_left b{by="x", le="+Inf", sum="1"}'
    assert metric_names(expr) == {"a", "b"}


def test_durations_numbers_and_special_values_are_not_metrics() -> None:
    expr = "a[1h30m:15s] > 1e3 and b offset 5m < 0x1F or c > Inf or d != NaN or e > -inf"
    assert metric_names(expr) == {"a", "b", "c", "d", "e"}


def test_strings_and_comments_are_not_metrics() -> None:
    expr = """
        label_replace(a, "dst_label", "not_a_metric $1", "src", "(.*)")  # b_total c
        + d{x='single_quoted # not a comment', y=`raw_string`}
    """
    assert metric_names(expr) == {"a", "d"}


def test_escaped_quotes_inside_strings() -> None:
    assert metric_names(r'a{x="say \"b\" now"} + c') == {"a", "c"}


def test_at_modifier() -> None:
    assert metric_names("a @ start() + b @ end() + c @ 1609746000") == {"a", "b", "c"}


def test_grafana_variables_are_not_metrics() -> None:
    expr = (
        'sum(rate(a_total{queue=~"$queue", q2=~"${queue:pipe}", q3="[[queue]]"}'
        "[$__rate_interval])) + b[${__range}] + c[$__interval]"
    )
    assert metric_names(expr) == {"a_total", "b", "c"}


def test_recording_rule_names_with_colons() -> None:
    assert metric_names("job:chronos_runs:sum + rate(x:y_total[5m])") == {
        "job:chronos_runs:sum",
        "x:y_total",
    }


def test_name_matcher() -> None:
    assert metric_names('{__name__="chronos_runs", state="queued"} + a') == {"chronos_runs", "a"}
    assert metric_names("{__name__='b_total'}") == {"b_total"}


@pytest.mark.parametrize(
    "expr", ['{__name__=~"chronos_.*"}', '{__name__!="a"}', 'x + {__name__="$metric"}']
)
def test_a_name_that_cannot_be_read_is_refused(expr: str) -> None:
    with pytest.raises(ValueError, match="cannot list"):
        metric_names(expr)


def test_dashboard_expressions_walk_rows_annotations_and_variables() -> None:
    dashboard = {
        "annotations": {"list": [{"expr": "ALERTS"}]},
        "panels": [
            {"type": "timeseries", "targets": [{"expr": "a"}, {"expr": "b_total"}]},
            {"type": "row", "panels": [{"type": "stat", "targets": [{"expr": "c_bucket"}]}]},
            {"type": "text", "options": {"content": "not a query"}},
        ],
        "templating": {
            "list": [
                {"type": "datasource", "query": "prometheus"},
                {"type": "query", "query": {"query": "label_values(d{x='1'}, queue)"}},
                {"type": "query", "query": "label_values(queue)"},
                {"type": "query", "query": "query_result(max by (queue) (e))"},
                {"type": "custom", "query": "f,g"},
            ]
        },
    }
    assert sorted(dashboard_expressions(dashboard)) == sorted(
        ["ALERTS", "a", "b_total", "c_bucket", "d{x='1'}", "max by (queue) (e)"]
    )
    assert metrics_of_dashboard(dashboard) == {"ALERTS", "a", "b_total", "c", "d", "e"}


def test_a_variable_query_listing_metrics_is_refused() -> None:
    dashboard = {"templating": {"list": [{"type": "query", "query": "metrics(chronos_.*)"}]}}
    with pytest.raises(ValueError, match="cannot list"):
        dashboard_expressions(dashboard)


def test_rules_metrics_leave_out_recorded_names() -> None:
    rules = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {"record": "queue:lag:p99", "expr": "histogram_quantile(0.99, a_bucket)"},
                    {"alert": "A", "expr": "queue:lag:p99 > 30 and b_total > 0"},
                ],
            }
        ]
    }
    assert metrics_of_rules(rules) == {"a", "b_total"}


def test_missing_from_scrape() -> None:
    scraped = [
        "chronos_run_lag_seconds_bucket",
        "chronos_run_lag_seconds_sum",
        "chronos_run_lag_seconds_count",
        "chronos_runs_finished_total",
        "chronos_runs_finished_created",
        "chronos_runs",
    ]
    wanted = {
        "chronos_run_lag_seconds",
        "chronos_runs_finished_total",
        "chronos_runs",
        "chronos_overdue_jobs",
        "chronos_run_duration_seconds",
        "up",
        "ALERTS",
    }
    assert missing_from_scrape(wanted, scraped) == {
        "chronos_overdue_jobs",
        "chronos_run_duration_seconds",
    }


def test_the_contract_has_no_name_that_base_name_would_mangle() -> None:
    """A gauge or counter whose own name ended in _bucket/_sum/_count would be reported
    under a shorter name: the contract must not contain one."""
    for name, (kind, _) in CONTRACT.items():
        assert base_name(name) == name, name
        assert kind != "counter" or name.endswith("_total"), name


def test_scraped_names() -> None:
    exposition = """
# HELP chronos_runs Live runs by queue and state.
# TYPE chronos_runs gauge
chronos_runs{queue="default",state="queued"} 3.0
chronos_database_up 1.0
chronos_run_lag_seconds_bucket{le="+Inf",queue="default"} 7.0 1700000000000

process_cpu_seconds_total 0.5
"""
    assert scraped_names(exposition) == {
        "chronos_runs",
        "chronos_database_up",
        "chronos_run_lag_seconds_bucket",
        "process_cpu_seconds_total",
    }


def test_the_docs_metrics_cover_both_files() -> None:
    names = docs_metrics()
    assert "chronos_runs" in names  # the dashboard's only
    assert "chronos_scheduler_rescued_total" in names
    assert names <= set(CONTRACT)
