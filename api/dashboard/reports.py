"""The failures, schedules and lag pages: the views across jobs.

Failures groups what went wrong (job, error kind, message with its ids and numbers
normalised) so that a thousand timeouts of one job are one row with a count, not a
thousand. Schedules shows every recurring job with the state of its last 24 occurrences,
so a schedule that has been failing or skipping every night stands out.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import falcon

from api import serialize
from api.dashboard import lag
from api.dashboard.pages import Page
from api.dashboard.words import schedule_in_words
from api.resources.base import current_user
from shared import lifecycle
from shared.errors import Forbidden, ValidationError
from shared.jobs import schedule_of
from shared.repository import dashboard as dashboard_repo
from shared.repository import jobs as job_repo
from shared.schemas.queries import PageQuery
from shared.validation import parse_body

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}  # fmt: skip
MOST_GROUPS = 100
# The most failures one page reads (the newest of the window): a bad week costs the page
# no more than a quiet one, and the caption says when the counts stop there.
SCAN = 2000
STRIP = 24


class Failures(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        window = req.get_param("since") or "24h"
        if window not in WINDOWS:
            raise ValidationError("since", f"expected one of {', '.join(WINDOWS)}")
        now = self.clock.now()
        with self.transaction(req) as conn:
            groups = dashboard_repo.failure_groups(
                conn,
                owner_id=None if me.is_admin else me.id,
                since=now - WINDOWS[window],
                most=MOST_GROUPS,
                scan=SCAN,
            )
        self.show(
            req,
            resp,
            "failures.html",
            groups=groups,
            window=window,
            windows=list(WINDOWS),
            capped=SCAN if any(group["scanned"] >= SCAN for group in groups) else None,
        )


class Schedules(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = current_user(req)
        query: PageQuery = parse_body(PageQuery, dict(req.params))
        health = req.get_param("health") or ""
        if health not in ("", "overdue"):
            raise ValidationError("health", "expected overdue, or nothing for every schedule")
        pages = serialize.cursors(self.settings.jwt_secret, f"ui-schedules:{me.id}:{health}")
        owner_id = None if me.is_admin else me.id
        # X6: the gauge's rule (chronos_overdue_jobs), for this user's jobs.
        overdue_before = self.clock.now() - job_repo.OVERDUE_AFTER
        with self.transaction(req) as conn:
            overdue = job_repo.count_overdue(conn, overdue_before, owner_id)
            rows = dashboard_repo.recurring_jobs(
                conn,
                owner_id=owner_id,
                limit=query.limit + 1,
                after=pages.after(query.cursor),
                overdue_before=overdue_before if health else None,
            )
            views = lifecycle.views(conn, rows[: query.limit])
            recent = dashboard_repo.recent_occurrences(
                conn, [view.job["id"] for view in views], STRIP
            )
        cursor = pages.next(rows, query.limit)
        self.show(
            req,
            resp,
            "schedules.html",
            views=views,
            overdue=overdue,
            health=health,
            # Oldest first, as a strip reads left to right.
            strips={job_id: runs[::-1] for job_id, runs in recent.items()},
            in_words=lambda job: schedule_in_words(schedule_of(job)),
            next_link="?" + urlencode({"limit": query.limit, "cursor": cursor, "health": health})
            if cursor
            else None,
        )


class Lag(Page):
    """``/ui/lag``: every queue's and type's lag in each window, and the histogram of
    one window (``?window=``, a day by default)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not current_user(req).is_admin:
            raise Forbidden("only an admin may see every tenant's lag")
        window = req.get_param("window") or "24h"
        if window not in lag.WINDOWS:
            raise ValidationError("window", f"expected one of {', '.join(lag.WINDOWS)}")
        now = self.clock.now()
        with self.transaction(req) as conn:
            by_queue, by_type, (minutes, hours) = lag.lag_table(conn, now)
        shown = lag.overall(window, minutes, hours)
        self.show(
            req,
            resp,
            "lag.html",
            by_queue=by_queue,
            by_type=by_type,
            window=window,
            windows=lag.LABELS,
            overall=shown,
            histogram=lag.histogram_rows(shown.lag),
        )
