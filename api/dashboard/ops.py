"""The live pages: the overview (``/ui/``), queues and workers, and their panels.

Each page is its panels, rendered in place on the first load (so it reads without a
script), and each panel polls its own fragment (``/ui/live/{panel}``) on the refresh
control's tick (app.js). Every panel reads through :mod:`api.dashboard.live`'s per-tick
cache, and charts read only the rollups.

Scoping follows the JSON API's queues: a user's counts are their own runs. Rollups and
the worker registry have no owner, so throughput, lag and workers (what every tenant
shares) are an admin's view; a user reads their own jobs' lag on each job's page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import falcon
from sqlalchemy import Connection

from api import queue_actions
from api.dashboard import charts, session
from api.dashboard.live import CHART_MINUTES, LAG_MINUTES, PanelReads, Scope
from api.dashboard.pages import Page, see_other
from api.resources.base import current_user
from shared.errors import ChronosError, Forbidden, NotFound, ValidationError
from shared.repository import Row
from shared.schemas.queues import QueuePatch
from shared.validation import parse_body

# Sizes of the SVG charts, in their own units (they scale to the page with CSS).
CHART = (600.0, 120.0)
SPARK = (120.0, 24.0)
WORKERS_PAGE_SEEN = timedelta(hours=1)
QUEUE_DONE = {
    "pause": "The queue was paused: its runs wait, none is sent to a worker.",
    "resume": "The queue was resumed.",
    "concurrency": "The queue's concurrency limit was changed.",
}


def scope_of(req: falcon.Request) -> Scope:
    me = current_user(req)
    return Scope(None if me.is_admin else me.id)


class Panels:
    """Each panel's template and what it shows, from the tick's cached data."""

    def __init__(self, live: PanelReads, lease_seconds: float) -> None:
        self.live = live
        self.lease = timedelta(seconds=lease_seconds)
        self.build: dict[str, Callable[[Connection, Scope, datetime], dict[str, Any]]] = {
            "counts": self.counts,
            "throughput": self.throughput,
            "queues": self.queues,
            "queue-controls": self.queues,
            "workers": self.workers,
            "worker-list": self.worker_list,
            "overdue": self.overdue,
        }

    def context(self, panel: str, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        return {"panel": panel, **self.build[panel](conn, scope, now)}

    def counts(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        rows = self.live.queue_rows(conn, scope, now)
        live = {
            key: sum(row[key] for row in rows)
            for key in ("pending_due", "pending_future", "queued", "running")
        }
        finished = None
        if scope.everyone:
            finished = charts.finished_by_state(self.live.minutes(conn, now))
        return {"live": live, "finished": finished}

    def throughput(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        if not scope.everyone:
            return {"allowed": False}
        minutes = self.live.minutes(conn, now)
        series = charts.per_minute(minutes, now, CHART_MINUTES)
        # The closed minutes of the window: the current one has no rollup yet.
        since = now.replace(second=0, microsecond=0) - timedelta(minutes=LAG_MINUTES)
        lag = charts.lag_since(minutes, since)
        return {
            "allowed": True,
            "bars": charts.bars(series, *CHART),
            "size": CHART,
            "series": series,
            "lag": lag,
            "lag_minutes": LAG_MINUTES,
        }

    def queues(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        rows = self.live.queue_rows(conn, scope, now)
        minutes = self.live.minutes(conn, now) if scope.everyone else None
        table = []
        for row in rows:
            entry: dict[str, Any] = {"row": row, "oldest_due_age": age(row["oldest_due_at"], now)}
            if minutes is not None:
                series = charts.per_minute(minutes, now, CHART_MINUTES, queue=row["name"])
                totals = charts.finished_by_state(minutes, queue=row["name"])
                entry.update(
                    spark=charts.sparkline([m.succeeded + m.failed for m in series], *SPARK),
                    finished=sum(m.succeeded + m.failed for m in series),
                    failure_rate=charts.failure_rate(totals),
                )
            table.append(entry)
        return {"table": table, "spark_size": SPARK, "everyone": scope.everyone}

    def workers(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        if not scope.everyone:
            return {"allowed": False}
        return {"allowed": True, "workers": self.worker_rows(self.live.workers(conn, now), now)}

    def worker_list(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        if not scope.everyone:
            return {"allowed": False}
        rows = self.live.workers(conn, now, WORKERS_PAGE_SEEN)
        return {"allowed": True, "workers": self.worker_rows(rows, now)}

    def worker_rows(self, rows: list[Row], now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "row": row,
                "age": age(row["heartbeat_at"], now),
                # Past the lease, the rescuer would call its runs lost: the same rule.
                "silent": row["heartbeat_at"] is None or now - row["heartbeat_at"] > self.lease,
            }
            for row in rows
        ]

    def overdue(self, conn: Connection, scope: Scope, now: datetime) -> dict[str, Any]:
        return {"overdue": self.live.overdue(conn, scope, now)}


def age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)


class LivePage(Page):
    """A page made of live panels."""

    template = ""
    panels: tuple[str, ...] = ()
    admin_only = False

    def __init__(self, *deps: Any, renderer: Any, panels: Panels) -> None:
        super().__init__(*deps, renderer=renderer)
        self.builder = panels

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show_page(req, resp)

    def show_page(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        if self.admin_only and not current_user(req).is_admin:
            raise Forbidden("only an admin may see this page")
        scope, now = scope_of(req), self.clock.now()
        with self.transaction(req) as conn:
            shown = {name: self.builder.context(name, conn, scope, now) for name in self.panels}
        self.show(
            req,
            resp,
            self.template,
            status,
            panels=shown,
            refresh=self.settings.ui_refresh_seconds,
            **extra,
        )


class Overview(LivePage):
    template = "overview.html"
    panels = ("counts", "overdue", "throughput", "queues", "workers")


class Workers(LivePage):
    template = "workers.html"
    panels = ("worker-list",)
    admin_only = True


class Queues(LivePage):
    """``/ui/queues``, and an admin's pause, resume and concurrency posts, which call the
    JSON API's functions (api.queue_actions)."""

    template = "queues.html"
    panels = ("queue-controls",)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.show_page(req, resp, done=QUEUE_DONE.get(req.get_param("done") or ""), error=None)

    def on_post_action(
        self, req: falcon.Request, resp: falcon.Response, name: str, action: str
    ) -> None:
        form = self.form(req)
        if action not in QUEUE_DONE:
            raise NotFound("action: no such action")
        try:
            queue_actions.change_queue(self, req, name, queue_changes(action, form.get))
            self.builder.live.cache.forget("queues")
        except ChronosError as error:
            if isinstance(error, NotFound | Forbidden):
                raise
            self.show_page(req, resp, falcon.HTTP_400, done=None, error=error.description)
            return
        session.log_action(req, f"queue {action}", f"queue {name}")
        see_other(resp, f"{session.PREFIX}/queues?done={action}")


def queue_changes(action: str, field: Callable[[str], str]) -> dict[str, Any]:
    """A queue form's changes, validated as the JSON API's ``PATCH`` body is."""
    if action == "pause":
        return {"paused": True}
    if action == "resume":
        return {"paused": False}
    raw = field("concurrency").strip()
    if raw == "":
        return {"concurrency": None, "set_concurrency": True}
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(
            "concurrency", "expected a whole number, or blank for no limit"
        ) from None
    patch: QueuePatch = parse_body(QueuePatch, {"concurrency": value})
    return {"concurrency": patch.concurrency, "set_concurrency": True}


class LivePanel(Page):
    """``/ui/live/{panel}``: one panel alone, as the refresh control fetches it."""

    def __init__(self, *deps: Any, renderer: Any, panels: Panels) -> None:
        super().__init__(*deps, renderer=renderer)
        self.builder = panels

    def on_get(self, req: falcon.Request, resp: falcon.Response, panel: str) -> None:
        if panel not in self.builder.build:
            raise NotFound("panel: no such panel")
        scope, now = scope_of(req), self.clock.now()
        with self.transaction(req) as conn:
            context = self.builder.context(panel, conn, scope, now)
        self.show(req, resp, "_panel.html", p=context)
