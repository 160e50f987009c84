"""The migrations produce exactly the schema the models describe, and reverse cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url

from shared.db import ensure_database
from shared.models import Base
from tests.conftest import drop_database, server_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_database() -> Iterator[str]:
    url = make_url(server_url()).set(database=f"chronos_migration_{uuid.uuid4().hex[:10]}")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    yield rendered
    drop_database(rendered)


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def schema_differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_models(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "head")
    assert schema_differences(empty_database) == []


def test_downgrade_then_upgrade(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    command.upgrade(config, "head")
    assert schema_differences(empty_database) == []


def test_upgrade_is_idempotent(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    command.upgrade(config, "head")
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            version = conn.scalar(text("SELECT version_num FROM alembic_version"))
            options = dict(
                conn.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class WHERE relname IN ('runs', 'jobs')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert version is not None
    # Room for updated rows on their own page: HOT updates (migration 0010 for jobs).
    assert "fillfactor=80" in options["runs"]
    assert "fillfactor=80" in options["jobs"]


def test_the_database_rejects_a_terminal_run_without_finished_at(empty_database: str) -> None:
    """The CHECK constraints mirror the state machine, so a bug cannot store it."""
    command.upgrade(alembic_config(empty_database), "head")
    engine = create_engine(empty_database)
    user_id, job_id = uuid.uuid4(), uuid.uuid4()
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, role, created_at, "
                    "updated_at) VALUES (:id, 'x', 'h', 'user', now(), now())"
                ),
                {"id": user_id},
            )
            conn.execute(
                text(
                    "INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, "
                    "run_at, timezone, status, max_attempts, retry_backoff_seconds, "
                    "timeout_seconds, misfire_policy, overlap_policy, created_at, updated_at) "
                    "VALUES (:id, :owner, 'n', 'noop', '{}', 'default', 0, now(), 'UTC', "
                    "'scheduled', 1, 30, 60, 'run_once', 'forbid', now(), now())"
                ),
                {"id": job_id, "owner": user_id},
            )
        with (
            pytest.raises(Exception, match="ck_runs_finished_iff_terminal"),
            engine.begin() as conn,
        ):
            conn.execute(
                text(
                    "INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, "
                    "due_at, state, queued_at, started_at, created_at) VALUES (:id, :job, 1, "
                    "'schedule', 0, now(), now(), 'succeeded', now(), now(), now())"
                ),
                {"id": uuid.uuid4(), "job": job_id},
            )
    finally:
        engine.dispose()


def test_the_database_carries_its_session_settings(empty_database: str) -> None:
    """Set on the database, so they hold for every client, pooled or not."""
    command.upgrade(alembic_config(empty_database), "head")
    engine = create_engine(empty_database)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW random_page_cost")).scalar() == "1.1"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
    finally:
        engine.dispose()


def test_0006_folds_the_existing_usernames(empty_database: str) -> None:
    """L5: rows from before 0006 get the folded name the lookups compare."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0005")
    engine = create_engine(empty_database)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, role, created_at, "
                    "updated_at) VALUES (:id, 'Mixed.Case', 'h', 'admin', now(), now())"
                ),
                {"id": uuid.uuid4()},
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT username, username_folded, token_version FROM users")
            ).one()
        assert tuple(row) == ("Mixed.Case", "mixed.case", 0)
    finally:
        engine.dispose()


def insert_user_and_job(conn: Connection, user_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """A user and a noop job of theirs on queue ``reports``, written as any revision
    since 0006 can take them."""
    conn.execute(
        text(
            "INSERT INTO users (id, username, username_folded, password_hash, role, "
            "created_at, updated_at) VALUES (:id, 'u', 'u', 'h', 'user', now(), now())"
        ),
        {"id": user_id},
    )
    conn.execute(
        text(
            "INSERT INTO jobs (id, owner_id, name, type, payload, queue, priority, "
            "run_at, timezone, status, max_attempts, retry_backoff_seconds, "
            "timeout_seconds, misfire_policy, overlap_policy, created_at, updated_at) "
            "VALUES (:id, :owner, 'n', 'noop', '{}', 'reports', 0, now(), 'UTC', "
            "'scheduled', 1, 30, 60, 'run_once', 'forbid', now(), now())"
        ),
        {"id": job_id, "owner": user_id},
    )


def test_0007_gives_existing_runs_their_jobs_queue_and_owner(empty_database: str) -> None:
    """Runs from before 0007 are filled in (in batches), so the fair claim finds them;
    a writer that still leaves the columns out gets them from the job."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0006")
    engine = create_engine(empty_database)
    user_id, job_id = uuid.uuid4(), uuid.uuid4()
    insert_run = text(
        "INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, due_at, "
        "state, created_at) VALUES (:id, :job, 1, 'schedule', 0, now(), now(), 'pending', now())"
    )
    try:
        with engine.begin() as conn:
            insert_user_and_job(conn, user_id, job_id)
            conn.execute(insert_run, {"id": uuid.uuid4(), "job": job_id})
        command.upgrade(config, "head")
        with engine.begin() as conn:
            conn.execute(insert_run, {"id": uuid.uuid4(), "job": job_id})
            rows = conn.execute(text("SELECT queue, owner_id FROM runs")).all()
        assert [tuple(row) for row in rows] == [("reports", user_id)] * 2
    finally:
        engine.dispose()


def test_0014_fills_the_hourly_rollups_from_what_was_rolled_up(empty_database: str) -> None:
    """An upgrade from 0013 keeps a week's lag whole: the hours of every queue and type
    are summed from the minutes, and each job's from its runs in the rolled minutes."""
    config = alembic_config(empty_database)
    command.upgrade(config, "0013")
    engine = create_engine(empty_database)
    user_id, job_id = uuid.uuid4(), uuid.uuid4()
    hour = "2026-11-30 10:00:00+00"
    try:
        with engine.begin() as conn:
            insert_user_and_job(conn, user_id, job_id)
            # Runs ending in two rolled minutes of the hour (3 ms and 7 s late, and one
            # skipped), and one ending after the last rolled minute (not counted yet).
            insert_run = text(
                "INSERT INTO runs (id, job_id, owner_id, queue, attempt, origin, priority, "
                "scheduled_for, due_at, state, queued_at, started_at, finished_at, created_at) "
                "VALUES (gen_random_uuid(), :job, :owner, 'reports', 1, 'schedule', 0, "
                ":scheduled, :scheduled, :state, :started, :started, :finished, now())"
            )
            start = datetime(2026, 11, 30, 10, tzinfo=UTC)
            ran = (  # (minute it was due, minute it ended, state, lag)
                (5, 5, "succeeded", 0.003),
                (40, 40, "failed", 7.0),
                (39, 40, "skipped", None),  # skipped at its claim, in minute 40 too
                (59, 59, "succeeded", 0.003),
            )
            for due, ended, state, lag in ran:
                scheduled = start + timedelta(minutes=due)
                conn.execute(
                    insert_run,
                    {
                        "job": job_id,
                        "owner": user_id,
                        "scheduled": scheduled,
                        "state": state,
                        "started": None if lag is None else scheduled + timedelta(seconds=lag),
                        "finished": start + timedelta(minutes=ended, seconds=8),
                    },
                )
            for offset, succeeded, failed, skipped, buckets in (
                (5, 1, 0, 0, [1] + [0] * 16),
                (40, 0, 1, 1, [0] * 10 + [1] + [0] * 6),
            ):
                conn.execute(
                    text(
                        "INSERT INTO rolled_minutes VALUES (CAST(:hour AS timestamptz) + "
                        "make_interval(mins => :offset), now())"
                    ),
                    {"hour": hour, "offset": offset},
                )
                conn.execute(
                    text(
                        "INSERT INTO run_stats_minute VALUES (CAST(:hour AS timestamptz) + "
                        "make_interval(mins => :offset), 'reports', 'noop', :succeeded, "
                        ":failed, :skipped, 0, 0, :buckets)"
                    ),
                    {"hour": hour, "offset": offset, "succeeded": succeeded,
                     "failed": failed, "skipped": skipped, "buckets": buckets},
                )  # fmt: skip
        command.upgrade(config, "head")
        with engine.connect() as conn:
            kind = conn.execute(text("SELECT * FROM run_stats_hour")).mappings().one()
            job = conn.execute(text("SELECT * FROM job_stats_hour")).mappings().one()
        expected = [1] + [0] * 9 + [1] + [0] * 6
        assert (kind["queue"], kind["type"]) == ("reports", "noop")
        assert (kind["succeeded"], kind["failed"], kind["skipped"]) == (1, 1, 1)
        assert kind["lag_buckets"] == expected
        assert kind["lag_max"] is None  # the minutes of 0013 kept no maximum
        assert job["job_id"] == job_id
        assert (job["succeeded"], job["failed"], job["skipped"]) == (1, 1, 1)
        assert job["lag_buckets"] == expected
        assert job["lag_max"] == pytest.approx(7.0)
        assert job["hour"] == kind["hour"]
        assert kind["hour"].minute == 0
    finally:
        engine.dispose()
