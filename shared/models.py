"""The schema: users, jobs, runs and queues, and the audit log of changes.

A job is what a user submitted: what to run, its schedule and its policies. A run is one
attempt at one occurrence; a job's run history is simply its runs. The CHECK constraints
mirror :mod:`shared.states`, so a bug cannot store a state the machine forbids.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.states import (
    FINAL_JOB_STATUSES,
    TERMINAL_RUN_STATES,
    JobStatus,
    MisfirePolicy,
    OverlapPolicy,
    Role,
    RunOrigin,
    RunState,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: Any) -> str:
    listed = ", ".join(f"'{value}'" for value in sorted(str(v) for v in values))
    return f"{column} IN ({listed})"


LIVE_JOB = "status NOT IN ({})".format(
    ", ".join(f"'{status}'" for status in sorted(FINAL_JOB_STATUSES))
)
TERMINAL = ", ".join(f"'{state}'" for state in sorted(TERMINAL_RUN_STATES))
Timestamp = TIMESTAMP(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", Role), name="role"),
        # Python folds (shared.usernames); the database only compares what it stored.
        Index("uq_users_username_folded", "username_folded", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    username: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, server_default=Role.USER.value)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # NULL only for a deleted account whose history is still being purged: its name is
    # free again at once.
    username_folded: Mapped[str | None] = mapped_column(Text)
    # Carried in every token as ``ver``; raised by a password or role change, which so
    # ends every token issued before it.
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Set when the account is deleted but its runs are too many to purge in the request.
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_one_of("status", JobStatus), name="status"),
        CheckConstraint(_one_of("misfire_policy", MisfirePolicy), name="misfire_policy"),
        CheckConstraint(_one_of("overlap_policy", OverlapPolicy), name="overlap_policy"),
        CheckConstraint("priority BETWEEN 0 AND 9", name="priority"),
        CheckConstraint("max_attempts BETWEEN 1 AND 100", name="max_attempts"),
        CheckConstraint("timeout_seconds BETWEEN 1 AND 86400", name="timeout_seconds"),
        CheckConstraint("retry_backoff_seconds >= 0", name="retry_backoff_seconds"),
        CheckConstraint(
            "(repeat IS NOT NULL)::int + (interval_seconds IS NOT NULL)::int"
            " + (cron IS NOT NULL)::int <= 1",
            name="one_recurrence",
        ),
        Index("ix_jobs_owner_listing", "owner_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_listing", text("created_at DESC"), text("id DESC")),
        Index(
            "uq_jobs_owner_idempotency_key",
            "owner_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # An owner's live jobs, for the per-user limit (shared.quotas): a bounded count
        # that reads only live rows, however many finished jobs the owner keeps.
        Index("ix_jobs_owner_live", "owner_id", postgresql_where=text("live")),
        # The dashboard's payload search, as JSONB containment (migration 0012).
        Index(
            "ix_jobs_payload",
            "payload",
            postgresql_using="gin",
            postgresql_ops={"payload": "jsonb_path_ops"},
        ),
        # Room on each page for a row's next versions, so that its updates are HOT
        # (migration 0010).
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    queue: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(SmallInteger)
    run_at: Mapped[datetime] = mapped_column(Timestamp)
    repeat: Mapped[str | None] = mapped_column(Text)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text)
    end_at: Mapped[datetime | None] = mapped_column(Timestamp)
    max_runs: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text)
    run_count: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(SmallInteger)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    misfire_policy: Mapped[str] = mapped_column(Text)
    overlap_policy: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    # Not finished and not cancelled. A column of its own, not an index predicate on
    # ``status``: an index on ``status`` would stop every status change (scheduled,
    # queued, running and back, several per run) from being a HOT update; this value
    # changes only when a job ends or is revived.
    live: Mapped[bool] = mapped_column(Boolean, Computed(LIVE_JOB, persisted=True))


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_one_of("state", RunState), name="state"),
        CheckConstraint(_one_of("origin", RunOrigin), name="origin"),
        CheckConstraint("attempt >= 1", name="attempt"),
        CheckConstraint(
            f"(state IN ({TERMINAL})) = (finished_at IS NOT NULL)", name="finished_iff_terminal"
        ),
        CheckConstraint(
            "state NOT IN ('queued', 'running', 'succeeded', 'failed', 'lost')"
            " OR queued_at IS NOT NULL",
            name="queued_has_queued_at",
        ),
        CheckConstraint(
            "state <> 'running' OR (started_at IS NOT NULL AND heartbeat_at IS NOT NULL"
            " AND worker IS NOT NULL)",
            name="running_has_worker",
        ),
        CheckConstraint(
            "state <> 'pending' OR (queued_at IS NULL AND started_at IS NULL)",
            name="pending_not_started",
        ),
        CheckConstraint(
            "state NOT IN ('succeeded', 'failed', 'lost') OR started_at IS NOT NULL",
            name="outcome_was_started",
        ),
        # Queued runs in no publish batch (queued before migration 0011, or whose
        # message came back unrouted): recovery publishes them again from it. The runs
        # of a batch RabbitMQ did not confirm are found through PublishReceipt.
        Index(
            "ix_runs_unpublished",
            "queued_at",
            postgresql_where=text("state = 'queued' AND published_at IS NULL AND batch_id IS NULL"),
        ),
        # The dispatch path, the fair claim: it skips from one (queue, owner, priority) to
        # the next, reading each one's earliest due run, then takes due runs in turns by
        # owner (shared.repository.claim), so a million future runs cost it nothing. A
        # NULL due_at is a run held back by a paused job: no scan reaches it.
        Index(
            "ix_runs_fair_due",
            "queue",
            "owner_id",
            "priority",
            "due_at",
            postgresql_where=text("state = 'pending' AND due_at IS NOT NULL"),
        ),
        # Queued runs by queue and publish time: a queue's backlog is counted from it, and
        # runs whose message went missing are published again.
        Index("ix_runs_queued", "queue", "published_at", postgresql_where=text("state = 'queued'")),
        # A queue's running runs (its concurrency), and the rescuer's scan. Deliberately not
        # on heartbeat_at, which changes every few seconds: an index on it would stop those
        # updates from being HOT.
        Index("ix_runs_running", "queue", "started_at", postgresql_where=text("state = 'running'")),
        Index("ix_runs_history", "job_id", text("created_at DESC"), text("id DESC")),
        # A job's live runs, for its status, its overlap policy, cancel, pause and
        # resume: without it those read the job's whole history, which for a job that
        # runs every second is millions of rows.
        Index(
            "ix_runs_live",
            "job_id",
            postgresql_where=text("state IN ('pending', 'queued', 'running')"),
        ),
        Index("ix_runs_finished", "finished_at", postgresql_where=text("finished_at IS NOT NULL")),
        # The dashboard's failures page: the newest failed and lost runs, everyone's (an
        # admin's page) or one owner's (migration 0012).
        Index(
            "ix_runs_failures",
            "finished_at",
            postgresql_where=text("state IN ('failed', 'lost')"),
        ),
        Index(
            "ix_runs_owner_failures",
            "owner_id",
            "finished_at",
            postgresql_where=text("state IN ('failed', 'lost')"),
        ),
        # One run per occurrence and attempt; manual triggers stand outside the schedule.
        Index(
            "uq_runs_occurrence_attempt",
            "job_id",
            "scheduled_for",
            "attempt",
            unique=True,
            postgresql_where=text("origin <> 'manual'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(SmallInteger)
    origin: Mapped[str] = mapped_column(Text)
    # Copied from the job (which cannot change them) so that the claim needs no join to
    # take runs in turns by owner, queue by queue, in priority order.
    priority: Mapped[int] = mapped_column(SmallInteger)
    queue: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID)
    scheduled_for: Mapped[datetime] = mapped_column(Timestamp)
    due_at: Mapped[datetime | None] = mapped_column(Timestamp)
    state: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set when a worker starts the run (from its batch's receipt): while a run is queued,
    # its batch's receipt says whether its publish was confirmed (PublishReceipt).
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The claim (or the re-publish) that queued it: one receipt confirms them all.
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(Timestamp)
    worker: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


users = User.__table__
jobs = Job.__table__
runs = Run.__table__


class Queue(Base):
    """An operator's controls of one queue. A queue in ``CHRONOS_QUEUES`` with no row yet
    is unpaused and unlimited; the processes add the rows when they start."""

    __tablename__ = "queues"
    __table_args__ = (CheckConstraint("concurrency BETWEEN 1 AND 10000", name="concurrency"),)

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # At most this many of the queue's runs queued or running at once; null: no limit.
    concurrency: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, server_default=text("now()"))


queues = Queue.__table__


class PublishReceipt(Base):
    """One publish batch (``runs.batch_id``), written with the claim that queued it, and
    ``published_at`` once RabbitMQ confirmed it: that confirms every run of the batch
    whose message was not returned, and the runs themselves are not written (migration
    0011). Recovery moves the runs of a batch left unconfirmed to a new one and deletes
    it; a confirmed one is pruned an hour after its publish (its runs still queued keep
    the time on their own row)."""

    __tablename__ = "publish_receipts"
    __table_args__ = (
        Index("ix_publish_receipts_published_at", "published_at"),
        Index(
            "ix_publish_receipts_unconfirmed",
            "claimed_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(Timestamp)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)


publish_receipts = PublishReceipt.__table__


class RolledMinute(Base):
    """A closed minute whose runs are in ``run_stats_minute``: the scheduler that inserts
    this row (in the transaction that writes the minute's stats) is the one that rolls it
    up; another, blocked on the same key, finds it there and moves on (migration 0013)."""

    __tablename__ = "rolled_minutes"

    minute: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    rolled_at: Mapped[datetime] = mapped_column(Timestamp)


class RunStats:
    """The columns every rollup has: how many runs ended in each state, a histogram of
    their start lag (``started_at - scheduled_for``) in the fixed buckets of
    ``shared.rollups.LAG_BUCKETS``, and the largest lag in seconds (null when none of
    them started; migration 0014)."""

    succeeded: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    lost: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer)
    lag_buckets: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    lag_max: Mapped[float | None] = mapped_column(Float)


class RunStatsMinute(RunStats, Base):
    """Per minute (of ``finished_at``), queue and job type, the runs that ended in it.
    Kept 90 days, longer than the runs; the dashboard's charts and lag percentiles read
    only the rollups (migration 0013)."""

    __tablename__ = "run_stats_minute"

    minute: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    queue: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(Text, primary_key=True)


class RunStatsHour(RunStats, Base):
    """``run_stats_minute`` summed per hour (each minute's rollup adds to its hour in the
    same transaction), for the percentiles of a week or a month (migration 0014)."""

    __tablename__ = "run_stats_hour"

    hour: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)
    queue: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(Text, primary_key=True)


class JobStatsHour(RunStats, Base):
    """What ``run_stats_minute`` counts, per job and hour: each minute's rollup adds its
    runs to their job's hour, in the same transaction, so an hour holds each minute once.
    It gives a job's lag percentiles over 30 days in at most 720 rows. No foreign key: a
    deleted job's hours age out with the rest (migration 0014)."""

    __tablename__ = "job_stats_hour"
    __table_args__ = (Index("ix_job_stats_hour_hour", "hour"),)

    job_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    hour: Mapped[datetime] = mapped_column(Timestamp, primary_key=True)


class Worker(Base):
    """A worker process (``host:pid``, as ``runs.worker`` names it), the queues it
    consumes, and its last heartbeat: the worker writes it at boot and with every
    heartbeat, idle or not, and deletes it when it stops cleanly. A row whose heartbeat is
    a day old is pruned (migration 0014)."""

    __tablename__ = "workers"
    __table_args__ = (Index("ix_workers_heartbeat_at", "heartbeat_at"),)

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    queues: Mapped[list[str]] = mapped_column(ARRAY(Text))
    threads: Mapped[int] = mapped_column(Integer)
    in_flight: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    heartbeat_at: Mapped[datetime] = mapped_column(Timestamp)


class LoginThrottle(Base):
    """Fixed-window counters of login attempts, per client address and per username.

    In the database rather than in memory so that every API process and host shares them.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer)


login_throttle = LoginThrottle.__table__


AUDIT_ORDER = (text("at DESC"), text("id DESC"))


class AuditEvent(Base):
    """One change a user or operator made, written in the transaction that made it.

    ``actor_id`` has no foreign key: the record of what a user did outlives the user
    (NULL: an operator at the command line). Indexed for the listing, newest first, and
    for each of its filters in the same order; nothing else, since every change pays for
    each index."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_listing", *AUDIT_ORDER),
        Index(
            "ix_audit_events_actor",
            "actor_id",
            *AUDIT_ORDER,
            postgresql_where=text("actor_id IS NOT NULL"),
        ),
        Index("ix_audit_events_object", "object_id", *AUDIT_ORDER),
        Index("ix_audit_events_action", "action", *AUDIT_ORDER),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    action: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str] = mapped_column(Text)
    object_id: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)


audit_events = AuditEvent.__table__
