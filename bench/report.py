"""Figures, their limits or goals, the printed table and ``bench/results.json``.

A benchmark returns raw :class:`Figure` values; the goals (some of which are other
figures, such as ``C1 >= 0.5 x L1 batched``) are applied here, once every benchmark ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"


@dataclass
class Figure:
    value: float | None = None
    unit: str = ""
    note: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Goal:
    text: str
    target: float | None  # None: the figure it depends on was not measured
    higher_is_better: bool
    comparison: str = ""  # "Chronos"/"Celery" wording for the side-by-side rows
    judged: bool = True  # False: a reference to compare with (ratio shown, no verdict)
    exact: bool = False  # met only when the figure equals the target


Figures = Mapping[str, Figure]
GoalOf = Callable[[Figures], Goal | None]


def _value(figures: Figures, key: str) -> float | None:
    figure = figures.get(key)
    return None if figure is None else figure.value


def at_least(target: float, text: str) -> GoalOf:
    return lambda figures: Goal(text, target, higher_is_better=True)


def at_most(target: float, text: str) -> GoalOf:
    return lambda figures: Goal(text, target, higher_is_better=False)


def _times(factor: float, key: str, name: str, unit: str, higher_is_better: bool) -> GoalOf:
    """``factor`` times another figure of the same run, at least or at most."""
    sign = ">=" if higher_is_better else "<="

    def goal(figures: Figures) -> Goal:
        base = _value(figures, key)
        target = None if base is None else factor * base
        shown = "not measured" if target is None else format_value(target, unit)
        return Goal(f"{sign} {factor:g} x {name} ({shown})", target, higher_is_better)

    return goal


def at_least_times(factor: float, key: str, name: str, unit: str) -> GoalOf:
    return _times(factor, key, name, unit, higher_is_better=True)


def at_most_times(factor: float, key: str, name: str, unit: str) -> GoalOf:
    return _times(factor, key, name, unit, higher_is_better=False)


def exactly(target: float, text: str) -> GoalOf:
    return lambda figures: Goal(text, target, higher_is_better=True, exact=True)


def versus(key: str, name: str, unit: str) -> GoalOf:
    """Another figure of the same run to compare with, without a verdict."""

    def goal(figures: Figures) -> Goal:
        base = _value(figures, key)
        shown = "not measured" if base is None else format_value(base, unit)
        return Goal(f"vs {name} ({shown})", base, higher_is_better=True, judged=False)

    return goal


def versus_chronos(key: str, unit: str, higher_is_better: bool, by: float = 1.0) -> GoalOf:
    """Celery's figure next to Chronos's: the goal is for Chronos to be ahead (by a
    factor of ``by`` for a throughput: Celery at most Chronos / ``by``)."""

    def goal(figures: Figures) -> Goal:
        chronos = _value(figures, key)
        shown = "not measured" if chronos is None else format_value(chronos, unit)
        target = chronos
        if chronos is not None and by != 1.0:
            target = chronos / by
            shown = f"{shown} / {by:g}"
        # Chronos ahead means Celery's figure is below (throughput) or above (latency).
        return Goal(
            f"Chronos {shown}", target, higher_is_better=not higher_is_better, comparison="yes"
        )

    return goal


@dataclass(frozen=True)
class RowSpec:
    key: str
    label: str
    goal: GoalOf | None = None
    is_limit: bool = False


def format_value(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/run":
        return f"{value:,.2f}/run"
    if unit == "B/run":
        return f"{value:,.0f} B/run"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:g} {unit}".strip()


@dataclass
class Row:
    key: str
    label: str
    measured: str
    goal: str
    ratio: str
    note: str
    value: float | None
    unit: str
    target: float | None
    met: bool | None
    error: str | None


def build_row(spec: RowSpec, figures: Figures) -> Row:
    figure = figures.get(spec.key) or Figure(error="not measured")
    goal = spec.goal(figures) if spec.goal is not None else None
    goal_text = goal.text if goal is not None else "(limit)" if spec.is_limit else "-"
    ratio = "-"
    met: bool | None = None
    verdict = ""
    if figure.value is not None and goal is not None and goal.target:
        ratio_value = figure.value / goal.target
        ratio = f"{ratio_value:.2f}"
        if goal.exact:
            met = figure.value == goal.target
        else:
            met = (figure.value >= goal.target) == goal.higher_is_better or (
                figure.value == goal.target
            )
        if not goal.judged:
            met = None
        elif goal.comparison:
            verdict = "Chronos ahead" if met else "Celery ahead"
        else:
            verdict = "met" if met else "MISSED"
    if figure.error is not None:
        measured = f"error: {figure.error}"
    elif figure.value is None:
        measured = "-"
    else:
        measured = format_value(figure.value, figure.unit)
    note = "; ".join(part for part in (verdict, figure.note) if part)
    return Row(
        key=spec.key,
        label=spec.label,
        measured=measured,
        goal=goal_text,
        ratio=ratio,
        note=note,
        value=figure.value,
        unit=figure.unit,
        target=None if goal is None else goal.target,
        met=met,
        error=figure.error,
    )


HEADERS = ("figure", "measured", "limit/goal", "ratio", "note")
MAX_MEASURED = 60


def render_table(rows: list[Row]) -> str:
    cells = [HEADERS] + [
        (
            row.label,
            row.measured if len(row.measured) <= MAX_MEASURED else row.measured[:57] + "...",
            row.goal,
            row.ratio,
            row.note,
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(4)]
    lines = []
    for index, line in enumerate(cells):
        padded = [line[column].ljust(widths[column]) for column in range(4)]
        lines.append(" | ".join([*padded, line[4]]).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths) + "-+-" + "-" * 20)
    return "\n".join(lines)


def write_json(path: Path, header: Mapping[str, Any], rows: list[Row]) -> None:
    document = {**header, "figures": {row.key: asdict(row) for row in rows}}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
