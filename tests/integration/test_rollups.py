"""The per-minute rollups (scheduler.rollups), on a database of their own: each closed
minute counted once, with its lag histogram, by whichever scheduler gets there first."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from scheduler.rollups import GRACE, RETENTION, Rollup, RollupPruner
from shared.clock import FixedClock
from shared.db import make_engine
from shared.repository import rollups as rollup_repo
from shared.settings import Settings
from tests.conftest import sibling_database

MINUTE = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
INSERT_JOB = text(
    """
    INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, run_at, timezone,
        status, run_count, max_attempts, retry_backoff_seconds, timeout_seconds,
        misfire_policy, overlap_policy, created_at, updated_at)
    VALUES (:id, :owner, 'rolled', :type, '{}'::jsonb, :queue, 0, :at, 'UTC', 'succeeded',
        0, 1, 30, 60, 'run_once', 'forbid', :at, :at)
    """
)
INSERT_USER = text(
    "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) "
    "VALUES (:id, :name, 'x', 'user', now(), now())"
)


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with sibling_database(database_url, "rollups") as url:
        own = make_engine(url)
        yield own
        own.dispose()


@pytest.fixture
def job(engine: Engine) -> tuple[uuid.UUID, uuid.UUID, str]:
    owner, job_id, queue = uuid.uuid4(), uuid.uuid4(), f"q{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(INSERT_USER, {"id": owner, "name": f"u{owner.hex[:12]}"})
        conn.execute(
            INSERT_JOB,
            {"id": job_id, "owner": owner, "type": "noop", "queue": queue, "at": MINUTE},
        )
    return owner, job_id, queue


def finish(
    engine: Engine,
    job: tuple[uuid.UUID, uuid.UUID, str],
    state: str,
    finished: datetime,
    lag: float | None,
) -> None:
    owner, job_id, queue = job
    scheduled = finished - timedelta(seconds=1)
    started = None if lag is None else scheduled + timedelta(seconds=lag)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, job_id, owner_id, queue, attempt, origin, priority, "
                "scheduled_for, due_at, state, queued_at, started_at, heartbeat_at, "
                "finished_at, worker, created_at) VALUES (gen_random_uuid(), :job, :owner, "
                ":queue, 1, 'manual', 0, :scheduled, :scheduled, :state, :queued, :started, "
                ":started, :finished, :worker, :scheduled)"
            ),
            {
                "job": job_id,
                "owner": owner,
                "queue": queue,
                "scheduled": scheduled,
                "state": state,
                "queued": scheduled if started is not None else None,
                "started": started,
                "finished": finished,
                "worker": "h:1" if started is not None else None,
            },
        )


def stats(engine: Engine, queue: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM run_stats_minute WHERE queue = :queue ORDER BY minute"),
            {"queue": queue},
        ).mappings()
        return [dict(row) for row in rows]


def test_a_minute_is_counted_by_state_with_its_lag_histogram(
    engine: Engine, job: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    within = MINUTE + timedelta(seconds=30)
    for state, lag in (
        ("succeeded", 0.003),  # bucket 0: under 5 ms
        ("succeeded", 0.04),  # bucket 3: 25 to 50 ms
        ("succeeded", 2.0),  # bucket 8: 1 to 2.5 s
        ("failed", 0.2),  # bucket 5: 100 to 250 ms
        ("lost", 0.5),  # bucket 7: 0.5 to 1 s
        ("skipped", None),  # never started: counted, no lag
    ):
        finish(engine, job, state, within, lag)
    finish(engine, job, "succeeded", MINUTE + timedelta(minutes=1), 0.001)  # the next minute
    with engine.begin() as conn:
        assert rollup_repo.roll_minute(conn, MINUTE, MINUTE + timedelta(minutes=2)) == 1
    (row,) = stats(engine, job[2])
    assert row["type"] == "noop"
    assert (row["succeeded"], row["failed"], row["lost"], row["skipped"]) == (3, 1, 1, 1)
    assert row["cancelled"] == 0
    expected = [0] * 17
    for bucket in (0, 3, 5, 7, 8):
        expected[bucket] = 1
    assert row["lag_buckets"] == expected
    with engine.begin() as conn:  # a second pass over the same minute writes nothing
        assert rollup_repo.roll_minute(conn, MINUTE, MINUTE + timedelta(minutes=3)) is None
    assert stats(engine, job[2]) == [row]


def test_two_schedulers_rolling_one_minute_write_it_once(
    engine: Engine, job: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    minute = MINUTE + timedelta(minutes=10)
    finish(engine, job, "succeeded", minute + timedelta(seconds=1), 0.01)
    answers: list[int | None] = []
    first = engine.connect()
    transaction = first.begin()
    assert rollup_repo.roll_minute(first, minute, minute + timedelta(minutes=1)) == 1

    def second() -> None:
        with engine.begin() as conn:
            answers.append(rollup_repo.roll_minute(conn, minute, minute + timedelta(minutes=1)))

    other = threading.Thread(target=second)
    other.start()
    other.join(timeout=0.5)
    assert other.is_alive(), "the second scheduler should wait on the first's claim"
    transaction.commit()
    first.close()
    other.join(timeout=10)
    assert answers == [None]
    (row,) = [r for r in stats(engine, job[2]) if r["minute"] == minute]
    assert row["succeeded"] == 1
    with engine.connect() as conn:  # and its hours, which are added to, hold it once
        by_kind = (
            conn.execute(
                text("SELECT succeeded FROM run_stats_hour WHERE queue = :queue"), {"queue": job[2]}
            )
            .scalars()
            .all()
        )
        by_job = (
            conn.execute(
                text("SELECT succeeded FROM job_stats_hour WHERE job_id = :job"), {"job": job[1]}
            )
            .scalars()
            .all()
        )
    assert (by_kind, by_job) == ([1], [1])


def test_the_pass_rolls_closed_minutes_in_order_and_prunes_after_ninety_days(
    engine: Engine, job: tuple[uuid.UUID, uuid.UUID, str], settings: Settings
) -> None:
    with engine.begin() as conn:  # this module's database: start from nothing rolled
        for table in ("rolled_minutes", "run_stats_minute", "runs"):
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (constants)
    start = MINUTE + timedelta(hours=1)
    for offset in range(3):
        finish(engine, job, "succeeded", start + timedelta(minutes=offset, seconds=5), 0.01)
    # Two minutes and a few seconds later: the third minute is not closed yet.
    clock = FixedClock(start + timedelta(minutes=3, seconds=GRACE.seconds - 1))
    rollup = Rollup(engine, clock)
    assert rollup.run_once() == 2
    assert [row["minute"] for row in stats(engine, job[2])] == [
        start,
        start + timedelta(minutes=1),
    ]
    clock.set(start + timedelta(minutes=3, seconds=GRACE.seconds))
    assert rollup.run_once() == 1
    assert rollup.run_once() == 0  # nothing new is closed
    assert len(stats(engine, job[2])) == 3
    pruner = RollupPruner(settings, engine, FixedClock(start + RETENTION + timedelta(minutes=2)))
    assert pruner.run_once() == 2  # the first two minutes are past ninety days
    assert [row["minute"] for row in stats(engine, job[2])] == [start + timedelta(minutes=2)]


def test_each_minute_adds_to_its_hour_per_kind_and_per_job(
    engine: Engine, job: tuple[uuid.UUID, uuid.UUID, str]
) -> None:
    hour = MINUTE.replace(hour=14)
    for offset, state, lag in ((0, "succeeded", 0.003), (1, "failed", 7.0), (2, "succeeded", 0.2)):
        finish(engine, job, state, hour + timedelta(minutes=offset, seconds=20), lag)
    for offset in range(3):
        with engine.begin() as conn:
            rollup_repo.roll_minute(
                conn, hour + timedelta(minutes=offset), hour + timedelta(hours=1)
            )
    with engine.connect() as conn:
        kind = (
            conn.execute(
                text("SELECT * FROM run_stats_hour WHERE queue = :queue"), {"queue": job[2]}
            )
            .mappings()
            .one()
        )
        by_job = (
            conn.execute(text("SELECT * FROM job_stats_hour WHERE job_id = :job"), {"job": job[1]})
            .mappings()
            .one()
        )
        minutes = (
            conn.execute(
                text("SELECT lag_max FROM run_stats_minute WHERE queue = :queue ORDER BY minute"),
                {"queue": job[2]},
            )
            .scalars()
            .all()
        )
    for row in (kind, by_job):
        assert row["hour"] == hour
        assert (row["succeeded"], row["failed"]) == (2, 1)
        expected = [0] * 17
        for bucket in (0, 5, 10):  # under 5 ms; 100 to 250 ms; 5 to 10 s
            expected[bucket] = 1
        assert row["lag_buckets"] == expected
        assert row["lag_max"] == pytest.approx(7.0)
    assert minutes == [pytest.approx(0.003), pytest.approx(7.0), pytest.approx(0.2)]
