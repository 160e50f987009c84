"""The API process: ``gunicorn 'api.app:create_app()'``.

It validates, authenticates and writes to PostgreSQL. It never talks to RabbitMQ: after
writing a run that is due soon it sends NOTIFY, and the scheduler does the rest.
"""

from __future__ import annotations

import os
from typing import Any

import falcon
from sqlalchemy import Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api import metrics
from api.auth import Authentication
from api.dashboard.routes import add_dashboard_routes
from api.docs import add_docs_routes
from api.errors import (
    handle_database_busy,
    handle_database_down,
    handle_domain_error,
    handle_http_error,
    handle_unexpected,
)
from api.request_id import RequestId
from api.resources import audit, jobs, ops, queues, users
from api.throttle import LoginThrottle, SignupThrottle
from shared import jobtypes
from shared.clock import Clock, host_clock
from shared.db import database_clock, make_engine
from shared.errors import ChronosError
from shared.logs import configure_logging
from shared.settings import Settings, load_log_format, load_settings

# A request that finds every pooled connection taken waits this long for one, then gets
# 503 with Retry-After: a client retries sooner than it would wait out SQLAlchemy's 30 s.
API_POOL_TIMEOUT_SECONDS = 1.0


def api_engine(settings: Settings, pool_size: int = 5) -> Engine:
    return make_engine(
        settings.database_url,
        pool_size=pool_size,
        pool_timeout=API_POOL_TIMEOUT_SECONDS,
        application_name="chronos-api",
    )


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, engine: Engine | None = None
) -> falcon.App[Any, Any]:
    """The WSGI app. gunicorn calls it with no arguments (settings from the environment);
    tests pass their own settings, clock and engine."""
    if settings is None:
        configure_logging(load_log_format(os.environ))  # first: load_settings may warn
        settings = load_settings()
    jobtypes.load_job_modules(settings.job_modules)
    engine = engine or api_engine(settings)
    database = engine
    clock = clock or database_clock(lambda: database, host_clock(os.environ, settings.env))

    observed = metrics.api_metrics(settings, engine, clock)
    middleware: list[Any] = [observed.requests, Authentication(settings, engine)]
    # RequestId first, so that it sees every response last (and error responses too); the
    # request metrics next, so that they time and count every request.
    app: falcon.App[Any, Any] = falcon.App(middleware=[RequestId(), *middleware])
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(ChronosError, handle_domain_error)
    app.add_error_handler(OperationalError, handle_database_down)
    app.add_error_handler(DisconnectionError, handle_database_down)
    app.add_error_handler(PoolTimeoutError, handle_database_busy)

    deps = (settings, engine, clock)
    login_throttle = LoginThrottle(
        engine,
        per_address=settings.login_attempts_per_minute,
        failures_per_username=settings.login_failures_per_user,
    )
    signup_throttle = SignupThrottle(engine, per_minute=settings.signups_per_minute)
    user_item = users.UserItem(*deps, throttle=login_throttle)
    app.add_route("/users/create", users.UserCreate(*deps, throttle=signup_throttle))
    app.add_route(
        "/auth/token",
        users.Token(*deps, throttle=login_throttle),
    )
    app.add_route("/users/{user_id:uuid}", user_item)
    app.add_route("/users/{user_id:uuid}/update", user_item, suffix="update")
    app.add_route("/users/{user_id:uuid}/delete", user_item, suffix="delete")

    job_item = jobs.JobItem(*deps)
    app.add_route("/jobs", jobs.JobCollection(*deps))
    app.add_route("/jobs/submit", jobs.JobSubmit(*deps))
    app.add_route("/jobs/batch", jobs.JobBatch(*deps))
    app.add_route("/jobs/{job_id:uuid}", job_item)
    for action in ("reschedule", "runs", "pause", "resume", "trigger", "upcoming"):
        app.add_route(f"/jobs/{{job_id:uuid}}/{action}", job_item, suffix=action)

    queue_item = queues.QueueItem(*deps)
    app.add_route("/queues", queues.QueueList(*deps))
    app.add_route("/queues/{name}", queue_item)
    for action in ("pause", "resume"):
        app.add_route(f"/queues/{{name}}/{action}", queue_item, suffix=action)
    app.add_route("/audit", audit.AuditLog(*deps))

    app.add_route("/health", ops.Health(*deps))
    app.add_route("/ready", ops.Ready(*deps))
    app.add_route("/metrics", ops.Metrics(*deps, registry=observed.registry))
    app.add_route("/openapi.json", ops.OpenAPI(*deps))
    add_docs_routes(app)
    if settings.ui_enabled:
        add_dashboard_routes(app, deps, login_throttle)
    return app
