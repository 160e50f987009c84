"""Packing a claimed batch into messages (scheduler.packing): pure logic, no I/O."""

from __future__ import annotations

import uuid

import pytest

from scheduler.packing import pack, runs_per_message
from shared.repository import Row


def runs(queue: str, count: int) -> list[Row]:
    return [{"id": uuid.uuid4(), "queue": queue} for _ in range(count)]


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, 1), (32, 1), (33, 2), (64, 2), (100, 4), (500, 16), (10_000, 16)],
)
def test_runs_per_message_grows_with_the_backlog_up_to_the_most(count: int, expected: int) -> None:
    assert runs_per_message(count, most=16, min_messages=32) == expected


def test_a_trickle_travels_one_run_per_message() -> None:
    claimed = runs("default", 20)
    assert pack(claimed, most=16, min_messages=32) == [[run] for run in claimed]


def test_a_backlog_is_split_in_order_into_at_least_min_messages() -> None:
    claimed = runs("default", 500)
    messages = pack(claimed, most=16, min_messages=32)
    assert [len(message) for message in messages] == [16] * 31 + [4]
    assert [run for message in messages for run in message] == claimed


def test_each_message_holds_one_queue_and_each_queue_is_sized_alone() -> None:
    big, small = runs("big", 100), runs("small", 10)
    claimed = [run for pair in zip(big[:10], small, strict=True) for run in pair] + big[10:]
    messages = pack(claimed, most=16, min_messages=32)
    assert all(len({run["queue"] for run in message}) == 1 for message in messages)
    assert [m for m in messages if m[0]["queue"] == "small"] == [[run] for run in small]
    assert [len(m) for m in messages if m[0]["queue"] == "big"] == [4] * 25
    assert [run for m in messages if m[0]["queue"] == "big" for run in m] == big


def test_a_limited_queue_always_travels_one_run_per_message() -> None:
    claimed = runs("limited", 200)
    messages = pack(claimed, most=16, min_messages=32, one_per_message={"limited"})
    assert messages == [[run] for run in claimed]


def test_one_run_per_message_when_the_most_is_one() -> None:
    claimed = runs("default", 500)
    assert pack(claimed, most=1, min_messages=32) == [[run] for run in claimed]
