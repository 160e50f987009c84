"""How far ahead the dispatcher claims (Dispatcher.adapt_window): pure logic, no I/O.
A worker holds a thread until a run sent ahead is due, so the window shrinks as the
rate of runs falling due grows, and grows back when nothing was early."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scheduler.dispatcher import EARLY_RUNS, MIN_WINDOW, Dispatcher
from shared.settings import Settings


def dispatcher(ahead: float) -> Dispatcher:
    none: Any = None  # adapt_window touches neither the database nor the broker
    return Dispatcher(Settings(dispatch_ahead_seconds=ahead), none, none, none)


def test_a_trickle_keeps_the_whole_window() -> None:
    d = dispatcher(0.05)
    d.adapt_window(1)  # 1 run early in 50 ms: 20/s
    assert d.window == timedelta(seconds=0.05)


def test_a_fast_stream_shrinks_the_window_to_about_early_runs() -> None:
    d = dispatcher(0.05)
    d.adapt_window(25)  # 25 runs early in 50 ms: 500/s
    assert d.window.total_seconds() == pytest.approx(EARLY_RUNS / 500)
    d.adapt_window(EARLY_RUNS)  # the same rate again: the window holds
    assert d.window.total_seconds() == pytest.approx(EARLY_RUNS / 500)


def test_a_claim_with_nothing_early_doubles_the_window_back_up_to_the_setting() -> None:
    d = dispatcher(0.05)
    d.adapt_window(10_000)
    assert d.window == MIN_WINDOW
    windows = []
    for _ in range(8):
        d.adapt_window(0)
        windows.append(d.window.total_seconds())
    assert windows[:3] == [0.002, 0.004, 0.008]
    assert windows[-1] == 0.05


def test_no_window_stays_no_window() -> None:
    d = dispatcher(0)
    d.adapt_window(0)
    d.adapt_window(5)
    assert d.window == timedelta(0)
