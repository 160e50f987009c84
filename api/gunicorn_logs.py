"""gunicorn's own lines (its error log and access log) as JSON, for CHRONOS_LOG_FORMAT=json.

gunicorn logs through its own logger class, not through the app, so it needs its own
hook: ``gunicorn.conf.py`` sets ``logger_class = logger_class_for(os.environ)``. Each
access line carries the response's ``X-Request-Id``, the same id as the app's lines for
that request. It never carries request headers (an ``Authorization`` header is a
credential) or the query string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from shared.logs import JsonFormatter
from shared.settings import load_log_format

TEXT_LOGGER = "gunicorn.glogging.Logger"
JSON_LOGGER = f"{__name__}.JsonLogger"
# For text mode: gunicorn's default access line, plus the request id (the JSON logger
# ignores access_log_format and always writes its own fields).
TEXT_ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" req=%({x-request-id}o)s'
)


def logger_class_for(environ: Mapping[str, str]) -> str:
    """gunicorn's ``logger_class`` setting for the ``CHRONOS_LOG_FORMAT`` in ``environ``
    (a bad value raises SettingsError, and gunicorn refuses to start)."""
    return JSON_LOGGER if load_log_format(environ) == "json" else TEXT_LOGGER


def _header(headers: Any, name: str) -> str | None:
    pairs = headers.items() if hasattr(headers, "items") else headers
    for key, value in pairs or ():
        if str(key).lower() == name:
            return str(value)
    return None


class JsonLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's logger, writing where gunicorn's flags say, one JSON object a line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(None, 1)[0]
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "-")
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": int(status) if status.isdigit() else status,
            "duration_ms": round(_seconds(request_time) * 1000, 3),
            "bytes": getattr(resp, "sent", None),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        request_id = _header(getattr(resp, "headers", None), "x-request-id")
        if request_id is not None:
            fields["request_id"] = request_id
        try:
            self.access_log.info("%s %s %s", method, path, status, extra=fields)
        except Exception:
            self.error_log.exception("could not write an access log line")


def _seconds(request_time: Any) -> float:
    if isinstance(request_time, timedelta):
        return request_time.total_seconds()
    return float(request_time)
