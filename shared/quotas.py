"""The per-user limits that need the database: live jobs and submits per minute.

Both are checked in the transaction that makes the change, after :func:`hold` has locked
the user's row, so a user's concurrent submits are counted one after another: two of
them cannot both see room for one more job. Lock order: the user's row, then the job,
then its runs (see :mod:`shared.repository.dispatch`). A refused request writes nothing,
and the transaction that refused it is rolled back, so it is not counted either.

- Live jobs (not finished, not cancelled; CHRONOS_MAX_LIVE_JOBS_PER_USER): a submit, a
  batch (all or none), and a reschedule or trigger that revives a finished or cancelled
  job. ``429`` without ``Retry-After``: waiting does not help, finishing or cancelling
  jobs does.
- Submits per minute (CHRONOS_SUBMITS_PER_MINUTE): each job of a batch counts, and so
  does each trigger. A fixed window per user, in PostgreSQL so that every API process
  shares it. ``429`` with ``Retry-After``: the seconds until the window frees.

Admins are exempt: callers do not call these for them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.errors import TooManyRequests
from shared.limits import UserLimits
from shared.repository import jobs as job_repo
from shared.repository import throttle as throttle_repo
from shared.repository import users as user_repo

SUBMIT_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Quota:
    """One user's limits, enforced on their own changes (an admin has none: no Quota)."""

    user_id: uuid.UUID
    limits: UserLimits

    def hold(self, conn: Connection) -> None:
        """Lock the user's row until the transaction ends. Take it before any job row."""
        user_repo.lock_user(conn, self.user_id)

    def check_live(self, conn: Connection, adding: int) -> None:
        """Room for ``adding`` more live jobs, or 429."""
        most = self.limits.max_live_jobs
        room = most - adding
        if room < 0 or job_repo.count_live(conn, self.user_id, cap=room + 1) > room:
            what = "this job" if adding == 1 else f"these {adding} jobs"
            raise TooManyRequests(
                f"jobs: {what} would take you over {most} live jobs (not finished or "
                "cancelled), the most a user may have (CHRONOS_MAX_LIVE_JOBS_PER_USER); "
                "cancel some or wait for them to finish",
                None,
            )

    def hold_and_count(self, conn: Connection, amount: int, now: datetime) -> None:
        """:meth:`hold`, then :meth:`count_submits`, in one round trip."""
        self.count_submits(conn, amount, now, hold=True)

    def count_submits(
        self, conn: Connection, amount: int, now: datetime, *, hold: bool = False
    ) -> None:
        """Count ``amount`` submits (jobs, or a trigger) against the user's minute, or 429."""
        limit = self.limits.submits_per_minute
        if amount > limit:
            raise TooManyRequests(
                f"jobs: {amount} jobs are more than a user may submit in a minute, {limit} "
                "(CHRONOS_SUBMITS_PER_MINUTE); split the batch",
                math.ceil(SUBMIT_WINDOW.total_seconds()),
            )
        key = f"submits:{self.user_id}"
        holding = self.user_id if hold else None
        taken = throttle_repo.take(conn, key, amount, limit, now, SUBMIT_WINDOW, holding=holding)
        if taken is not None:
            return
        counter = throttle_repo.current(conn, key, now, SUBMIT_WINDOW)
        window_end = counter["window_start"] + SUBMIT_WINDOW if counter else now
        retry_after = max(1, math.ceil((window_end - now).total_seconds()))
        raise TooManyRequests(
            f"too many submits: a user may submit {limit} jobs and triggers a minute "
            f"(CHRONOS_SUBMITS_PER_MINUTE); retry in {retry_after} s",
            retry_after,
        )
