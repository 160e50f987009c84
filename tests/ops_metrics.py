"""Which metrics the operator docs query: the Grafana dashboard and the alerting rules.

A dashboard or a rule that names a metric no process exposes shows an empty panel or
never fires, and nothing says so. These pure functions list the metric names that the
PromQL in ``docs/grafana/chronos-dashboard.json`` and ``docs/prometheus/chronos-alerts.yml``
reads, so a test can hold them against the contract in API.md (``CONTRACT``) and against
a live scrape (``missing_from_scrape``).

Names come back as *family* names, the way API.md spells them:

- a histogram is its base name: ``chronos_run_lag_seconds_bucket``, ``..._sum`` and
  ``..._count`` are all reported as ``chronos_run_lag_seconds``;
- a counter keeps its ``_total``: ``chronos_runs_finished_total`` (prometheus-client
  exposes the sample under that name);
- a gauge is its name.

``sample_names`` gives the names exactly as written instead, suffixes and all.

What is parsed: PromQL as Prometheus accepts it, plus Grafana's template variables
(``$queue``, ``${queue}``, ``[[queue]]``, ``$__rate_interval``). Function and aggregation
names, keywords (``by``, ``without``, ``on``, ``ignoring``, ``group_left``, ``bool``,
``offset``...), label names and values, durations, numbers, string literals and comments
are ignored. A selector by ``{__name__="x"}`` counts as ``x``; a regex on ``__name__`` is
refused (``ValueError``), because no list of names can be read from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

Kind = Literal["counter", "gauge", "histogram"]
Process = Literal["api", "worker", "scheduler", "prometheus"]

# The metrics API.md (Operations) promises, by family name: what each is and which
# process exposes it (the API on /metrics, the worker on :9191, the scheduler on :9192).
# "prometheus" marks series Prometheus writes itself, which no scrape contains: `up` for
# every target, `ALERTS` for the alerting rules (the dashboard's annotations read it).
CONTRACT: dict[str, tuple[Kind, Process]] = {
    "chronos_http_requests_total": ("counter", "api"),
    "chronos_http_request_duration_seconds": ("histogram", "api"),
    "chronos_runs": ("gauge", "api"),
    "chronos_overdue_jobs": ("gauge", "api"),
    "chronos_database_up": ("gauge", "api"),
    "chronos_runs_finished_total": ("counter", "worker"),
    "chronos_run_lag_seconds": ("histogram", "worker"),
    "chronos_run_duration_seconds": ("histogram", "worker"),
    "dramatiq_messages_total": ("counter", "worker"),
    "dramatiq_message_errors_total": ("counter", "worker"),
    "dramatiq_message_retries_total": ("counter", "worker"),
    "dramatiq_message_rejects_total": ("counter", "worker"),
    "dramatiq_messages_inprogress": ("gauge", "worker"),
    "dramatiq_delayed_messages_inprogress": ("gauge", "worker"),
    "dramatiq_message_duration_milliseconds": ("histogram", "worker"),
    "chronos_scheduler_claimed_total": ("counter", "scheduler"),
    "chronos_scheduler_published_total": ("counter", "scheduler"),
    "chronos_scheduler_messages_total": ("counter", "scheduler"),
    "chronos_scheduler_republished_total": ("counter", "scheduler"),
    "chronos_scheduler_rescued_total": ("counter", "scheduler"),
    "chronos_scheduler_pruned_total": ("counter", "scheduler"),
    "chronos_scheduler_pass_seconds": ("histogram", "scheduler"),
    "chronos_queue_messages": ("gauge", "scheduler"),
    "chronos_queue_consumers": ("gauge", "scheduler"),
    "up": ("gauge", "prometheus"),
    "ALERTS": ("gauge", "prometheus"),
}

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_DOCS = Path(__file__).resolve().parent.parent / "docs"
DASHBOARD_PATH = _DOCS / "grafana" / "chronos-dashboard.json"
RULES_PATH = _DOCS / "prometheus" / "chronos-alerts.yml"

# Identifiers that are never metric names where they stand in an expression.
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}  # fmt: skip
_NOT_METRICS = _AGGREGATIONS | _KEYWORDS

# One pass from left to right, so a `#` inside a string is not a comment and a quote
# inside a comment does not open a string.
_STRINGS_AND_COMMENTS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`|\#[^\n]*""")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]")
_NAME_MATCHER = re.compile(r"""\b__name__\s*(=~|!~|!=|=)\s*(?:"((?:\\.|[^"\\])*)"|'([^']*)')""")
_LABEL_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
# An identifier not glued to what precedes it: skips the `m` of `5m`, the `e3` of `1e3`.
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")


def base_name(sample: str) -> str:
    """The family a sample name belongs to: ``x_bucket``/``x_sum``/``x_count`` → ``x``."""
    for suffix in HISTOGRAM_SUFFIXES:
        if sample.endswith(suffix) and len(sample) > len(suffix):
            return sample[: -len(suffix)]
    return sample


def sample_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression selects, as written (suffixes kept)."""
    names: set[str] = set()
    for match in _NAME_MATCHER.finditer(expr):
        name = match.group(2) if match.group(2) is not None else match.group(3)
        if match.group(1) != "=" or not name or _GRAFANA_VARIABLE.search(name):
            raise ValueError(f"cannot list the metrics that {match.group(0)!r} selects")
        names.add(name)
    text = _GRAFANA_VARIABLE.sub(" ", expr)
    text = _STRINGS_AND_COMMENTS.sub(" ", text)
    text = _LABEL_MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(r" \1 ", text)
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        if name.lower() in _NOT_METRICS:
            continue
        if re.match(r"\s*\(", text[match.end() :]):
            continue  # a function call: rate(, histogram_quantile(, label_replace(
        names.add(name)
    return names


def metric_names(expr: str) -> set[str]:
    """Every metric family a PromQL expression reads (histogram suffixes stripped)."""
    return {base_name(name) for name in sample_names(expr)}


def dashboard_expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression in a Grafana dashboard: each ``expr`` anywhere in it
    (panel targets, rows' nested panels, annotations) and each template variable's
    query, with ``label_values(metric, label)`` reduced to ``metric``."""
    expressions = [
        value for key, value in _walk(dashboard) if key == "expr" and isinstance(value, str)
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        expression = _variable_expression(str(query or ""))
        if expression:
            expressions.append(expression)
    return expressions


def rule_expressions(rules: dict[str, Any]) -> list[str]:
    """Every ``expr`` of every alerting and recording rule in a rules file."""
    return [rule["expr"] for group in rules.get("groups") or [] for rule in group["rules"]]


def dashboard_metrics(path: str | Path) -> set[str]:
    """The metric families (see the module docstring) a dashboard JSON file queries."""
    return metrics_of_dashboard(json.loads(Path(path).read_text(encoding="utf-8")))


def rule_metrics(path: str | Path) -> set[str]:
    """The metric families a Prometheus rules file queries, less the names its own
    recording rules define (no process exposes those)."""
    return metrics_of_rules(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def docs_metrics() -> set[str]:
    """Every metric family the repository's dashboard and alerting rules query."""
    return dashboard_metrics(DASHBOARD_PATH) | rule_metrics(RULES_PATH)


def metrics_of_dashboard(dashboard: dict[str, Any]) -> set[str]:
    """``dashboard_metrics`` for a dashboard already parsed."""
    return _union(metric_names(expr) for expr in dashboard_expressions(dashboard))


def metrics_of_rules(rules: dict[str, Any]) -> set[str]:
    """``rule_metrics`` for a rules file already parsed."""
    recorded = {
        rule["record"] for group in rules.get("groups") or [] for rule in group["rules"]
        if "record" in rule
    }  # fmt: skip
    return _union(metric_names(expr) for expr in rule_expressions(rules)) - recorded


def scraped_names(exposition: str) -> set[str]:
    """The sample names in a scrape's body (Prometheus text format): the name before
    ``{`` or the value on each line that is not blank or a ``#`` comment."""
    names = set()
    for line in exposition.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def missing_from_scrape(families: Iterable[str], scraped: Iterable[str]) -> set[str]:
    """The families that no scraped sample name stands for.

    ``scraped`` is the sample names of one or more scrapes (``scraped_names`` of each
    body). For the whole stack: ``missing_from_scrape(docs_metrics(), api | worker |
    scheduler)``. A family ``x`` is there when
    ``x`` is (a gauge, or a counter written with its ``_total``) or when ``x_bucket``,
    ``x_sum`` or ``x_count`` is (a histogram). Families Prometheus writes itself
    (``up``, ``ALERTS``) are never missing."""
    present = set(scraped)
    present |= {base_name(name) for name in present}
    synthetic = {name for name, (_, process) in CONTRACT.items() if process == "prometheus"}
    return {name for name in families if name not in present and name not in synthetic}


def _variable_expression(query: str) -> str:
    """The PromQL inside a Grafana Prometheus variable query, or "" if it has none."""
    query = query.strip()
    function = re.fullmatch(r"(\w+)\s*\((.*)\)", query, re.DOTALL)
    if function is None:
        return query
    name, argument = function.groups()
    if name == "label_values":
        # label_values(label) reads no metric; label_values(selector, label) reads one.
        selector, _, _label = argument.rpartition(",")
        return selector
    if name == "query_result":
        return argument
    if name == "metrics":
        raise ValueError(f"cannot list the metrics that the variable query {query!r} reads")
    return query


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _union(sets: Iterable[set[str]]) -> set[str]:
    result: set[str] = set()
    for names in sets:
        result |= names
    return result
