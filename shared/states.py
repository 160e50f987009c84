"""Run states, job statuses, and the only transitions a run may make.

```
pending ──▶ queued ──▶ running ──▶ succeeded | failed | cancelled | lost
   │           │
   │           └──▶ cancelled                       (cancelled before a worker took it)
   └──▶ skipped | cancelled                         (overlap, misfire, cancel)
```

Every transition is one guarded UPDATE (``... WHERE state = ANY(:from)``) built from
:data:`TRANSITIONS`; the migration mirrors these rules with CHECK constraints. A caller
whose UPDATE changes zero rows lost a race: it logs that and moves on.
"""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    PENDING = "pending"
    """Materialised ahead of time; the scheduler claims it once ``due_at`` passes."""
    QUEUED = "queued"
    """Claimed by a scheduler, in a publish batch; published to RabbitMQ once the batch
    has a receipt (``publish_receipts``), which the worker's start copies into
    ``published_at``."""
    RUNNING = "running"
    """Started by a worker, which keeps ``heartbeat_at`` fresh until it finishes."""
    SUCCEEDED = "succeeded"
    """The handler returned."""
    FAILED = "failed"
    """The handler raised, timed out, or the target answered with an error."""
    CANCELLED = "cancelled"
    """The job was cancelled (or replaced by an overlapping run) before this run ended."""
    SKIPPED = "skipped"
    """Never started, on purpose: its occurrence overlapped a run or was missed."""
    LOST = "lost"
    """Its worker stopped heart-beating (a crash); counts as a failed attempt."""


TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.QUEUED, RunState.SKIPPED, RunState.CANCELLED}),
    RunState.QUEUED: frozenset({RunState.RUNNING, RunState.CANCELLED}),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST}
    ),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.SKIPPED: frozenset(),
    RunState.LOST: frozenset(),
}

TERMINAL_RUN_STATES = frozenset(state for state, nexts in TRANSITIONS.items() if not nexts)
ACTIVE_RUN_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})


class InvalidTransition(ValueError):
    """A transition that the state machine forbids was requested (a bug, not a race)."""


def sources_of(target: RunState) -> tuple[RunState, ...]:
    """The states a run may move to ``target`` from: the guard of the UPDATE."""
    sources = tuple(state for state, nexts in TRANSITIONS.items() if target in nexts)
    if not sources:
        raise InvalidTransition(f"no state may move to {target}")
    return sources


def can_transition(source: RunState, target: RunState) -> bool:
    return target in TRANSITIONS[source]


class JobStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_JOB_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
FINAL_JOB_STATUSES = FINISHED_JOB_STATUSES | {JobStatus.CANCELLED}


class RunOrigin(StrEnum):
    SCHEDULE = "schedule"
    """An occurrence of the job's schedule (attempt 1)."""
    RETRY = "retry"
    """A later attempt of an occurrence whose earlier attempt failed or was lost."""
    MANUAL = "manual"
    """An extra run started by ``POST /jobs/{id}/trigger``."""


class MisfirePolicy(StrEnum):
    RUN_ONCE = "run_once"
    SKIP = "skip"
    RUN_ALL = "run_all"


class OverlapPolicy(StrEnum):
    ALLOW = "allow"
    FORBID = "forbid"
    REPLACE = "replace"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class ErrorKind(StrEnum):
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"
    HTTP_STATUS = "http_status"
    CRASHED = "crashed"
    """The handler's process died (``os._exit``, a signal, the OOM killer)."""
