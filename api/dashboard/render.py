"""Rendering the dashboard's pages: Jinja2 templates from this package, autoescaped,
and the headers every page carries.

Times are shown in UTC with how long ago (or ahead) they are, from the clock the API
reads (PostgreSQL's), so the page and the data agree; the absolute instant is in the
``<time datetime>`` for anyone who wants it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import falcon
import jinja2
from markupsafe import Markup

from api.dashboard import charts
from api.docs.assets import CSS, JAVASCRIPT, Asset
from api.docs.resources import CONTENT_SECURITY_POLICY as DOCS_POLICY

STATIC_PREFIX = "/ui/static"

# What a page may load is what /docs may: its own scripts and styles, nothing inline,
# nothing from anywhere else, no framing. htmx is set to match (base.html): no eval, no
# script tags in swapped HTML, requests only to this origin.
CONTENT_SECURITY_POLICY = DOCS_POLICY

# URL name -> (file in the api.dashboard package, Content-Type).
FILES: dict[str, tuple[str, str]] = {
    "app.css": ("static/app.css", CSS),
    "app.js": ("static/app.js", JAVASCRIPT),
    "htmx.min.js": ("static/vendor/htmx.min.js", JAVASCRIPT),
}


def load_assets() -> dict[str, Asset]:
    return {
        name: Asset(name, dashboard_file(path), content_type, prefix=STATIC_PREFIX)
        for name, (path, content_type) in FILES.items()
    }


def dashboard_file(path: str) -> bytes:
    return resources.files("api.dashboard").joinpath(path).read_bytes()


def relative(moment: datetime, now: datetime) -> str:
    """ "3 min ago", "in 2 h", "just now"."""
    delta = moment - now
    seconds = abs(delta.total_seconds())
    if seconds < 1:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size:
            amount = int(seconds // size)
            return f"in {amount} {unit}" if delta > timedelta(0) else f"{amount} {unit} ago"
    return "just now"


def moment_markup(moment: datetime | None, now: datetime, *, precise: bool = False) -> Markup:
    """An instant in UTC, with how long ago (or ahead) it is; ``precise``: to the
    millisecond (a run's timeline, where steps are milliseconds apart)."""
    if moment is None:
        return Markup('<span class="none">&ndash;</span>')
    utc = moment.astimezone(UTC)
    shown = utc.strftime("%Y-%m-%d %H:%M:%S")
    if precise:
        shown += f".{utc.microsecond // 1000:03d}"
    return Markup(
        '<time datetime="{iso}">{shown} UTC</time> <span class="ago">({ago})</span>'
    ).format(iso=utc.isoformat(), shown=shown, ago=relative(utc, now))


def milliseconds(start: datetime | None, end: datetime | None) -> str:
    """The gap from ``start`` to ``end``: "12 ms", "3.4 s", "2 min 5 s"; "-" if unknown."""
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"


class Renderer:
    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("api.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a typo in a template fails its test
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["asset"] = lambda name: self.assets[name].url
        self.env.globals["gap"] = milliseconds
        self.env.globals["timedelta_seconds"] = lambda seconds: timedelta(seconds=seconds)
        self.env.globals["seconds"] = charts.seconds_text
        self.env.globals["lag_bound"] = charts.lag_bound

    def page(
        self, resp: falcon.Response, template: str, status: str = falcon.HTTP_200, **context: Any
    ) -> None:
        now = context["now"]
        context.setdefault("when", lambda moment: moment_markup(moment, now))
        context.setdefault("when_ms", lambda moment: moment_markup(moment, now, precise=True))
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.text = self.env.get_template(template).render(**context)
        secure_headers(resp)


def secure_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "same-origin")
    # Pages show private data and act on it: never from a cache, never the back-forward
    # cache's stale copy of a form.
    resp.cache_control = ["no-store"]
