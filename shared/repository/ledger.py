"""The occurrence ledger's reads (:mod:`shared.ledger` matches what they return).

Both are bounded by the ledger's window and read an index: the runs on
``uq_runs_occurrence_attempt`` (job_id, scheduled_for, attempt; every run but manual
triggers) and manual triggers on ``ix_runs_history`` (job_id, created_at); the last
reschedule on ``ix_audit_events_object`` (object_id, at).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, text

from shared.audit import Action
from shared.repository import Row
from shared.repository.runs import RUN_COLUMNS

# Far more than 100 occurrences' attempts normally take; past it, the oldest occurrences
# of the window are the ones left out (the caller says so rather than call them missing).
MOST_RUNS = 2000

LEDGER_RUNS = text(
    f"""
    (SELECT {RUN_COLUMNS} FROM runs
     WHERE job_id = :job AND origin <> 'manual' AND scheduled_for >= :since
     ORDER BY scheduled_for DESC, attempt DESC LIMIT :most)
    UNION ALL
    (SELECT {RUN_COLUMNS} FROM runs
     WHERE job_id = :job AND origin = 'schedule' AND scheduled_for < :since
     ORDER BY scheduled_for DESC LIMIT 1)
    UNION ALL
    (SELECT {RUN_COLUMNS} FROM runs
     WHERE job_id = :job AND origin = 'manual' AND created_at >= :since
     ORDER BY created_at DESC, id DESC LIMIT :most)
    """
)


def ledger_runs(conn: Connection, job_id: uuid.UUID, since: datetime) -> list[Row]:
    """The job's runs of occurrences from ``since`` on (newest first, at most
    :data:`MOST_RUNS`), the occurrence run just before ``since`` (what it covers may
    reach into the window), and the manual triggers since then."""
    return list(
        conn.execute(LEDGER_RUNS, {"job": job_id, "since": since, "most": MOST_RUNS}).mappings()
    )


def last_rescheduled_at(conn: Connection, job_id: uuid.UUID) -> datetime | None:
    """When the job's schedule was last replaced (its newest ``job.reschedule`` event)."""
    at: datetime | None = conn.scalar(
        text(
            "SELECT at FROM audit_events WHERE object_id = :job AND action = :action "
            "ORDER BY at DESC, id DESC LIMIT 1"
        ),
        {"job": str(job_id), "action": str(Action.JOB_RESCHEDULE)},
    )
    return at
