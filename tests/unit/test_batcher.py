"""The worker's batcher: each caller gets its own answer; concurrent callers share batches."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence

import pytest

from worker.batcher import Batcher


def test_each_caller_gets_the_answer_to_its_own_request() -> None:
    batcher: Batcher[int, int] = Batcher("t", lambda batch: [n * 10 for n in batch])
    assert [batcher.submit(n) for n in range(5)] == [0, 10, 20, 30, 40]


def test_concurrent_requests_are_served_together() -> None:
    release = threading.Event()
    sizes: list[int] = []

    def serve(batch: Sequence[int]) -> list[int]:
        sizes.append(len(batch))
        release.wait(5)  # hold the first batch until the others have queued up
        return [n + 1 for n in batch]

    batcher: Batcher[int, int] = Batcher("t", serve)
    answers: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda n=n: answers.__setitem__(n, batcher.submit(n)))
        for n in range(20)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    # Wait until the first batch is being served and every other request is queued.
    while not sizes or sizes[0] + batcher._requests.qsize() < 20:
        assert time.monotonic() < deadline, "the callers never queued up"
        threading.Event().wait(0.001)
    release.set()
    for thread in threads:
        thread.join(5)
    assert answers == {n: n + 1 for n in range(20)}
    assert sum(sizes) == 20
    assert len(sizes) <= 2  # everything that queued meanwhile went in one batch


def test_a_failure_reaches_every_caller_of_the_batch_and_the_next_batch_works() -> None:
    calls = {"n": 0}

    def serve(batch: Sequence[str]) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database down")
        return [s.upper() for s in batch]

    batcher: Batcher[str, str] = Batcher("t", serve)
    with pytest.raises(RuntimeError, match="database down"):
        batcher.submit("a")
    assert batcher.submit("b") == "B"


def test_enqueue_returns_at_once_and_drain_waits_for_the_answers() -> None:
    release = threading.Event()
    served: list[int] = []

    def serve(batch: Sequence[int]) -> list[int]:
        release.wait(5)
        served.extend(batch)
        return [n * 2 for n in batch]

    batcher: Batcher[int, int] = Batcher("t", serve)
    futures = [batcher.enqueue(n) for n in range(10)]  # none of these waits
    assert not batcher.drain(timeout=0.05)  # the first batch is still held
    release.set()
    assert batcher.drain(timeout=5)
    assert sorted(served) == list(range(10))
    assert [future.result(0) for future in futures] == [n * 2 for n in range(10)]


def test_enqueue_waits_once_max_pending_requests_are_unanswered() -> None:
    release = threading.Event()

    def serve(batch: Sequence[int]) -> list[int]:
        release.wait(5)
        return list(batch)

    batcher: Batcher[int, int] = Batcher("t", serve, max_pending=3)
    for n in range(3):
        batcher.enqueue(n)
    fourth_handed_over = threading.Event()
    thread = threading.Thread(target=lambda: (batcher.enqueue(3), fourth_handed_over.set()))
    thread.start()
    assert not fourth_handed_over.wait(0.1)  # held back: three are unanswered
    release.set()
    assert fourth_handed_over.wait(5)
    thread.join(5)
    assert batcher.drain(timeout=5)


def test_a_failed_batch_still_counts_as_answered_for_drain() -> None:
    def serve(batch: Sequence[int]) -> list[int]:
        raise RuntimeError("database down")

    batcher: Batcher[int, int] = Batcher("t", serve)
    future = batcher.enqueue(1)
    assert batcher.drain(timeout=5)
    assert isinstance(future.exception(0), RuntimeError)


def test_an_idle_batcher_calls_on_idle_once_and_then_serves_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module Batcher came from: the suite may load the worker package more than once.
    monkeypatch.setattr(sys.modules[Batcher.__module__], "IDLE_SECONDS", 0.01)
    idle = threading.Event()
    calls: list[str] = []

    def on_idle() -> None:
        calls.append(threading.current_thread().name)
        idle.set()

    batcher: Batcher[int, int] = Batcher("idle-test", lambda batch: list(batch), on_idle=on_idle)
    assert batcher.submit(1) == 1
    assert idle.wait(5), "on_idle was never called"
    assert batcher.submit(2) == 2  # it serves after giving back what it held
    assert calls[0] == "idle-test"  # in the batcher's own thread, which owns what it holds
    assert len(calls) <= 2  # once per idle spell, not once per timeout
