"""gunicorn reads this file from the working directory, so the plain
``gunicorn 'api.app:create_app()'`` run from the repository root gets it, with any
``--workers`` and other flags.

It sets up prometheus-client's multiprocess mode (see :mod:`api.metrics`): every worker
keeps its values in files in ``PROMETHEUS_MULTIPROC_DIR``, and a scrape through any
worker adds them all up. The variable is set here, in the master, before any worker
exists and so before prometheus-client is imported there: it decides where values live
when it is first imported.

It also makes gunicorn's own lines follow ``CHRONOS_LOG_FORMAT``: JSON lines in json
mode (access lines with the request id), and in text mode gunicorn's access line with
the request id added.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from typing import Any

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# The operator's directory, or else a fresh one of this server's own that it removes on
# the way out. A directory that two servers share mixes their counts.
_private_dir: str | None = None
if not os.environ.get(MULTIPROC_DIR):
    _private_dir = tempfile.mkdtemp(prefix="chronos-api-metrics-")
    os.environ[MULTIPROC_DIR] = _private_dir

# Imported only now: nothing may import prometheus-client before the directory is set.
from api.gunicorn_logs import TEXT_ACCESS_LOG_FORMAT, logger_class_for  # noqa: E402

logger_class = logger_class_for(os.environ)
access_log_format = TEXT_ACCESS_LOG_FORMAT


def on_starting(server: Any) -> None:
    """Clear files left by a previous server: they belong to processes that are gone, and
    their counts would be added to this server's. Once, at start (not on a reload)."""
    directory = os.environ[MULTIPROC_DIR]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its live gauges stop counting (its counters are kept)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _private_dir is not None:
        shutil.rmtree(_private_dir, ignore_errors=True)


# Slow clients (L6). A sync worker serves one connection at a time, so two clients that
# trickle a body would hold both workers until the timeout; a gthread worker serves
# `threads` requests at once and parks idle keep-alive connections off its threads. The
# limits bound what a request line and headers may cost. This is not enough alone on
# the internet: put a buffering proxy in front (deploy/nginx.conf; see the README).
worker_class = "gthread"
threads = int(os.environ.get("CHRONOS_API_THREADS", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
