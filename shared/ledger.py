"""The occurrence ledger: every occurrence a recurring schedule implies, against the runs
it got. Pure: the occurrences come from :mod:`shared.recurrence`, the runs from
:mod:`shared.repository.ledger`, and ``now`` is passed in.

It guards against a schedule that silently stops firing or drops an occurrence: a run row
that should exist and does not is a red **missing** row. Every other way an occurrence
can lack a row is the scheduler doing what it was told, so the ledger names it instead:

* The scheduler materialises one pending occurrence at a time, when it claims the one
  before (:mod:`shared.claiming`). While that run is unclaimed (the job is paused, which
  holds it; or no scheduler has reached it yet), the occurrences after it have no row:
  **waiting**, not missing.
* A claim made late (after a pause, an outage, a backlog) goes on from the claim's own
  time under ``run_once`` and ``skip``, and past ``max_catchup`` under ``run_all``
  (:mod:`shared.claim_plan`): the occurrences between the late run and its claim never
  get a row. They are **covered** by that run. The claim's time is the run's
  ``queued_at``, or ``finished_at`` for a run skipped at its claim; a lost publish sent
  again moves ``queued_at`` on, which can only widen what counts as covered.
* A job that ended (cancelled, finished, ``max_runs`` used up) implies nothing after its
  last occurrence's run.
* Runs triggered by hand (``origin`` manual) are no occurrence: they are listed apart.
* Occurrences not yet due are not in the ledger; a run already materialised for one is
  **upcoming**.
* A schedule changed by a reschedule: the recurrence engine counts from the schedule's
  ``run_at``, which a reschedule replaces (at most ``MAX_PAST`` ago), so the current
  schedule implies nothing before the change. The old schedule's runs are kept out by
  starting the window at the change; the jobs table records no time for it
  (``updated_at`` moves with every status change), so the caller reads the last
  ``job.reschedule`` audit event. If that event is gone (CHRONOS_AUDIT_RETENTION_DAYS is
  shorter than the window, or the schedule was changed in the database by hand), the old
  runs show as **off schedule**: shown rather than matched, and never missing.

The window (:func:`window_since`) never reaches before the job was created or last
rescheduled, nor past run retention (the pruner may have deleted those rows:
``scheduler.pruner``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.recurrence import Schedule, next_occurrence, upcoming
from shared.states import RunOrigin, RunState
from shared.validation import MAX_PAST

ON_TIME = timedelta(seconds=1)
"""A run that starts within this of its occurrence is on time; later, it is late by its
lag. The dispatcher hands runs out ahead (CHRONOS_DISPATCH_AHEAD_SECONDS) and a worker
starts them at their instant, so a healthy lag is milliseconds: a second is well past
that, and well inside the misfire grace (CHRONOS_MISFIRE_GRACE_SECONDS, 60 s)."""
LEDGER_OCCURRENCES = 100
"""The ledger shows at most this many of the newest occurrences..."""
LEDGER_PERIOD = timedelta(days=7)
"""...or this period's, whichever is fewer."""
RETENTION_MARGIN = timedelta(hours=1)
"""The window stops this far inside run retention: a run skipped or cancelled ahead of its
occurrence finished (and so may be pruned) before its ``scheduled_for``."""
_TICK = timedelta(microseconds=1)


class Verdict(StrEnum):
    """What became of one occurrence."""

    ON_TIME = "on_time"
    """Its first attempt started within :data:`ON_TIME` of the occurrence."""
    LATE = "late"
    """Its first attempt started later than that: the row gives the lag."""
    NOT_STARTED = "not_started"
    """Due and not started yet: pending for a scheduler, or queued for a worker."""
    HELD = "held"
    """Its run is held back: the job is paused."""
    SKIPPED = "skipped"
    """The scheduler skipped it (misfire, overlap, max_runs): the row gives the reason."""
    CANCELLED = "cancelled"
    """Cancelled before it started: the row gives the reason."""
    WAITING = "waiting"
    """No run yet, because the run of an earlier occurrence is still unclaimed."""
    COVERED = "covered"
    """No run, by design: an earlier occurrence was claimed after this one was due, and
    the misfire policy went on from the claim."""
    MISSING = "missing"
    """Implied, past, and no run row, with nothing that accounts for it."""
    UPCOMING = "upcoming"
    """Materialised and not yet due."""
    OFF_SCHEDULE = "off_schedule"
    """A run that matches no occurrence of the current schedule."""


@dataclass(frozen=True)
class LedgerRow:
    occurrence: datetime
    verdict: Verdict
    runs: tuple[Mapping[Any, Any], ...] = ()
    """Every attempt of the occurrence, the first attempt first."""
    reason: str | None = None
    lag: timedelta | None = None
    """The first attempt's start minus the occurrence."""

    @property
    def outcome(self) -> str | None:
        """The state of the latest attempt."""
        return str(self.runs[-1]["state"]) if self.runs else None

    @property
    def retries(self) -> int:
        return max(0, len(self.runs) - 1)

    @property
    def late_ms(self) -> int | None:
        return None if self.lag is None else int(self.lag / timedelta(milliseconds=1))


@dataclass(frozen=True)
class Ledger:
    rows: list[LedgerRow]
    """Oldest first."""
    manual: list[Mapping[Any, Any]]
    """Runs triggered by hand in the window, oldest first: no occurrence of the schedule."""

    def count(self) -> Counter[Verdict]:
        return Counter(row.verdict for row in self.rows)


@dataclass(frozen=True)
class Window:
    since: datetime
    """The earliest occurrence the ledger looks at."""
    bound: str
    """What set ``since``, in words."""


def window_since(
    *,
    now: datetime,
    created_at: datetime,
    rescheduled_at: datetime | None,
    first_occurrence: datetime | None,
    run_retention: timedelta,
) -> Window:
    """Where the ledger's period starts: the latest of its bounds. The schedule's own
    first occurrence may precede its creation or reschedule (a ``run_at`` up to
    ``MAX_PAST`` ago), and then counts."""
    changed, why = (created_at, "the job's creation")
    if rescheduled_at is not None and rescheduled_at > created_at:
        changed, why = (rescheduled_at, "the last reschedule")
    if first_occurrence is not None and changed - MAX_PAST <= first_occurrence < changed:
        changed = first_occurrence
    bounds = [
        (now - LEDGER_PERIOD, "the last 7 days"),
        (now - run_retention + RETENTION_MARGIN, "run retention (CHRONOS_RUN_RETENTION_DAYS)"),
        (changed, why),
    ]
    since, bound = max(bounds, key=lambda item: item[0])
    return Window(since, bound)


def recent_occurrences(
    schedule: Schedule, since: datetime, now: datetime, most: int = LEDGER_OCCURRENCES
) -> list[datetime]:
    """The newest ``most`` occurrences in [since, now], oldest first, ``max_runs`` aside
    (where the runs ended is the ledger's business: see ``ended`` in :func:`ledger`).

    The recurrence engine only counts forward, so this looks back over a span that
    doubles until it holds ``most`` occurrences (or reaches ``since``), starting from
    half of ``most`` times the gap between the next two occurrences: a few hundred steps
    at most, where counting from ``since`` would take 10,080 for a cron of every minute."""
    open_ended = dataclasses.replace(schedule, max_runs=None)
    # A schedule past its end_at has no occurrence after it: count back from there, and
    # take the gap from the rhythm without the end (else the first span would be the
    # whole window, walked one occurrence at a time).
    last = min(now, schedule.end_at) if schedule.end_at is not None else now
    ahead = upcoming(dataclasses.replace(open_ended, end_at=None), last, 2)
    span = (ahead[1] - ahead[0]) * most / 2 if len(ahead) == 2 else last - since
    span = max(span, timedelta(seconds=1))
    while True:
        start = max(since, last - span)
        found = _between(open_ended, start, last)
        if len(found) >= most or start <= since:
            return found[-most:]
        span *= 2


def _between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    found: list[datetime] = []
    cursor = next_occurrence(schedule, start - _TICK)
    while cursor is not None and cursor <= end:
        found.append(cursor)
        cursor = next_occurrence(schedule, cursor)
    return found


def ledger(
    occurrences: Sequence[datetime],
    runs: Sequence[Mapping[Any, Any]],
    *,
    since: datetime,
    now: datetime,
    paused: bool,
    ended: bool,
) -> Ledger:
    """Match ``occurrences`` (past ones, oldest first, none before ``since``) with the
    job's ``runs`` by ``scheduled_for``. ``runs`` may hold runs before ``since``: the
    newest of them is read for what it covers, and not shown. ``ended``: the job implies
    nothing after its last occurrence's run (cancelled, finished, max_runs used up)."""
    by_occurrence: dict[datetime, list[Mapping[Any, Any]]] = {}
    manual: list[Mapping[Any, Any]] = []
    for run in runs:
        if run["origin"] == RunOrigin.MANUAL:
            if run["scheduled_for"] >= since:
                manual.append(run)
        else:
            by_occurrence.setdefault(run["scheduled_for"], []).append(run)
    implied = set(occurrences)
    last_run_at = max(by_occurrence, default=None)
    rows: list[LedgerRow] = []
    earlier: tuple[datetime, Mapping[Any, Any]] | None = None
    for at in sorted(implied | set(by_occurrence)):
        attempts = sorted(by_occurrence.get(at, []), key=lambda run: run["attempt"])
        if attempts:
            if at >= since:
                rows.append(_with_runs(at, tuple(attempts), now, on_schedule=at in implied))
            earlier = (at, attempts[0])
        elif not (ended and (last_run_at is None or at > last_run_at)):
            rows.append(_without_run(at, earlier, paused))
    manual.sort(key=lambda run: (run["scheduled_for"], run["created_at"]))
    return Ledger(rows, manual)


def _with_runs(
    at: datetime, attempts: tuple[Mapping[Any, Any], ...], now: datetime, *, on_schedule: bool
) -> LedgerRow:
    first = attempts[0]
    started = first["started_at"]
    lag = None if started is None else started - at
    if not on_schedule and at <= now:
        return LedgerRow(
            at, Verdict.OFF_SCHEDULE, attempts, "not an occurrence of the current schedule", lag
        )
    if first["state"] == RunState.SKIPPED:
        reason = (first["result"] or {}).get("skipped")
        return LedgerRow(at, Verdict.SKIPPED, attempts, str(reason or "skipped"))
    if lag is not None:
        return LedgerRow(at, Verdict.ON_TIME if lag <= ON_TIME else Verdict.LATE, attempts, lag=lag)
    if first["state"] == RunState.CANCELLED:
        return LedgerRow(at, Verdict.CANCELLED, attempts, (first["error"] or {}).get("message"))
    if at > now:
        return LedgerRow(at, Verdict.UPCOMING, attempts)
    if first["state"] == RunState.PENDING and first["due_at"] is None:
        return LedgerRow(at, Verdict.HELD, attempts, "held while the job is paused")
    return LedgerRow(at, Verdict.NOT_STARTED, attempts)


def _without_run(
    at: datetime, earlier: tuple[datetime, Mapping[Any, Any]] | None, paused: bool
) -> LedgerRow:
    if earlier is None:
        return LedgerRow(at, Verdict.MISSING, reason="no run, and no earlier run to account for it")
    earlier_at, run = earlier
    if run["state"] == RunState.PENDING:
        if paused:
            why = "the job is paused; on resume, its misfire policy decides about this one"
        else:
            why = "no scheduler has claimed the run before it yet"
        return LedgerRow(at, Verdict.WAITING, reason=why)
    claimed = run["queued_at"] or run["finished_at"]
    if claimed is not None and claimed >= at:
        why = f"the occurrence of {_utc(earlier_at)} was claimed late, at {_utc(claimed)}"
        if run["state"] == RunState.SKIPPED:
            why += f" ({(run['result'] or {}).get('skipped', 'skipped')})"
        return LedgerRow(at, Verdict.COVERED, reason=why + "; the misfire policy went on from then")
    return LedgerRow(at, Verdict.MISSING, reason="the schedule implies it, and it has no run")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
