"""The bench's arithmetic for C10 and C11: per-run figures from PostgreSQL's counters,
the units they print in, and the driver's batching of a stream of work."""

from __future__ import annotations

import queue

import pytest

from bench.c11_ceiling import take
from bench.pg_cost import Counters, Writes, cost_per_run
from bench.report import format_value


def test_a_run_costs_what_changed_less_the_bench_own_work() -> None:
    before = Counters(commits=1_000, runs=Writes(10, 40, 0), jobs=Writes(10, 30, 5))
    after = Counters(commits=2_350, runs=Writes(110, 440, 0), jobs=Writes(110, 330, 80))
    cost = cost_per_run(after - before, own_commits=50, runs=100, inserted=100)
    assert cost.commits == 13.0
    assert cost.run_updates == 4.0
    assert cost.run_inserts == 0.0  # the workload's own insert is not a cost of running it
    assert cost.run_writes == 4.0
    assert cost.job_updates == 3.0
    assert cost.job_hot_percent == 25.0
    assert cost.run_hot_percent == 0.0


def test_runs_inserted_while_running_count_as_writes() -> None:
    change = Counters(commits=0, runs=Writes(inserts=120, updates=300), jobs=Writes())
    cost = cost_per_run(change, own_commits=0, runs=100, inserted=100)
    assert cost.run_writes == pytest.approx(3.2)


def test_no_updates_is_no_hot_share_rather_than_a_division_by_zero() -> None:
    assert Writes(inserts=5).hot_percent == 0.0


def test_a_cost_needs_runs_to_divide_by() -> None:
    with pytest.raises(ValueError, match="no runs"):
        cost_per_run(Counters(0, Writes(), Writes()), own_commits=0, runs=0, inserted=0)


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(3.926, "/run", "3.93/run"), (3940.4, "B/run", "3,940 B/run"), (24.66, "%", "24.7%")],
)
def test_per_run_units_print_as_the_table_shows_them(value: float, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown


def test_take_fills_a_batch_from_what_waits_and_leaves_the_rest() -> None:
    source: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for item in range(6):
        source.put(item)
    assert take(source, 4, 0.0) == ([0, 1, 2, 3], False)
    assert take(source, 4, 0.0) == ([4, 5], False)


def test_take_says_when_the_stream_ended() -> None:
    source: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for item in (7, 8, None):
        source.put(item)
    assert take(source, 4, 0.0) == ([7, 8], True)
    source.put(None)
    assert take(source, 4, 0.0) == ([], True)
