"""Configuration, read once from ``CHRONOS_*`` environment variables at each entry point.

Nothing below an entry point reads ``os.environ``: the entry point calls
:func:`load_settings` and passes the :class:`Settings` object down.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.logs import LOG_FORMATS
from shared.netpolicy import NetworkPolicy, NetworkPolicyError, parse_networks, parse_ports

log = logging.getLogger("chronos.settings")

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/chronos"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

# Development only. Fixed rather than random because every gunicorn worker process must
# accept the tokens that any other one issued.
DEVELOPMENT_JWT_SECRET = "chronos-development-secret-do-not-use-in-production"  # noqa: S105
MIN_SECRET_BYTES = 32
DEFAULT_MAX_BODY_BYTES = 256 * 1024
# Larger than any sensible timing, size or retention; keeps int() of a setting finite.
MAX_SETTING = 1e12


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # URLs may carry passwords: kept out of repr, so no log line or traceback shows them.
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    broker_url: str = field(default=DEFAULT_BROKER_URL, repr=False)
    env: str = "development"
    jwt_secret: str = field(default=DEVELOPMENT_JWT_SECRET, repr=False)
    token_ttl_seconds: int = 3600
    open_registration: bool = True
    queues: tuple[str, ...] = ("default",)
    queue_prefix: str = ""
    enable_shell_jobs: bool = False
    smtp_url: str | None = field(default=None, repr=False)
    job_modules: tuple[str, ...] = ()
    poll_interval_seconds: float = 1.0
    heartbeat_seconds: float = 5.0
    lease_seconds: float = 30.0
    run_retention_days: int = 30
    # Audit events older than this are pruned by the scheduler's maintenance.
    audit_retention_days: int = 90
    misfire_grace_seconds: float = 60.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    http_allowed_networks: str = ""
    login_attempts_per_minute: int = 60
    login_failures_per_user: int = 10
    http_denied_networks: str = ""
    log_format: str = "text"
    # Where prometheus-client's multiprocess mode keeps each API process's values (set by
    # gunicorn.conf.py); None: one process, values in memory.
    prometheus_multiproc_dir: str | None = None
    # The scheduler's metrics server; port 0 turns it off.
    scheduler_metrics_host: str = "0.0.0.0"  # noqa: S104 (Prometheus scrapes from elsewhere)
    scheduler_metrics_port: int = 9192
    # Sign-ups per client address per minute (each one costs an argon2 hash).
    signups_per_minute: int = 10
    # How long a DELETE of an account may spend purging run history before it answers;
    # the rest is purged later (shared.accounts). Well below gunicorn's 30 s timeout.
    account_purge_seconds: float = 10.0
    # Ports ``http`` jobs may call; empty: any (the development default).
    http_allowed_ports: frozenset[int] = frozenset()
    # The ``From`` of every email: the operator's, never the job's.
    smtp_from: str = "chronos@localhost"
    email_max_recipients: int = 50
    # Messages one worker process sends per minute, across all users.
    email_per_minute: int = 60
    # Emails each user's jobs may send per hour, across every worker (worker.allowance).
    email_per_user_per_hour: int = 200
    # The most runs of one queue published but not yet started (0: no bound). Runs beyond
    # it wait in PostgreSQL, where the fair order is decided, instead of in RabbitMQ
    # behind another owner's burst; a queue's pause or new limit then also takes effect
    # at once. Several times what the consumers prefetch, so workers never wait for it.
    queue_backlog: int = 500
    # Runs one message may carry when a queue has a backlog (1: one message per run);
    # see scheduler.packing. A claim is split into at least ``min_messages_per_batch``
    # messages per queue first, so that no worker thread idles while another works
    # through a long message: set it near the number of worker threads.
    runs_per_message: int = 16
    min_messages_per_batch: int = 32
    # How long before its due time a run may be claimed and published; the message
    # carries the due instant and the worker starts the run at that instant, not before
    # (worker.execution). It takes the claim and the publish out of a run's lag. 0: none.
    dispatch_ahead_seconds: float = 0.05
    # The most missed occurrences a ``run_all`` job replays after a gap (0: all of them).
    max_catchup: int = 100
    # A fault point for the fault tests (scheduler.faults), never on in production.
    test_crash_after_claim: bool = False
    # Per-user limits (admins are exempt; see shared.limits and shared.quotas).
    # Jobs not finished and not cancelled, per user.
    max_live_jobs_per_user: int = 10000
    # Jobs submitted (each job of a batch) and triggers, per user per minute.
    submits_per_minute: int = 1000
    # The shortest interval, and the shortest gap of a cron or repeat, a user may schedule.
    min_interval_seconds: int = 60
    # The highest priority a user may set. Users order their own runs with 0 to 5; 6 to 9
    # are the operators'. (Priority never lets one owner pass another: the claim takes
    # owners in turns first.)
    max_user_priority: int = 5
    # The operator dashboard at /ui (api.dashboard); read-only hides every control and
    # answers its posts with 403.
    ui_enabled: bool = True
    ui_read_only: bool = False
    # The live panels' refresh until a user picks another (1 to 60 s; 0: off).
    ui_refresh_seconds: int = 5

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def network_policy(self) -> NetworkPolicy:
        """Where ``http`` jobs may connect; loopback and private ranges only in development."""
        return NetworkPolicy(
            allow_private=not self.production,
            allowed=parse_networks(self.http_allowed_networks, "CHRONOS_HTTP_ALLOWED_NETWORKS"),
            denied=parse_networks(self.http_denied_networks, "CHRONOS_HTTP_DENIED_NETWORKS"),
            ports=self.http_allowed_ports,
        )

    def queue_name(self, queue: str) -> str:
        """The RabbitMQ queue name for a Chronos queue, with the deployment's prefix."""
        return f"{self.queue_prefix}{queue}"


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _number(
    environ: Mapping[str, str],
    name: str,
    default: float,
    minimum: float,
    maximum: float = MAX_SETTING,
) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value) or value > MAX_SETTING:
        raise SettingsError(f"{name}: expected a finite number below {MAX_SETTING:g}, got {raw!r}")
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}, got {raw!r}")
    if value > maximum:
        raise SettingsError(f"{name}: must be at most {maximum:g}, got {raw!r}")
    return value


def _whole(
    environ: Mapping[str, str], name: str, default: int, minimum: int, maximum: float = MAX_SETTING
) -> int:
    """A whole number from ``minimum`` to ``maximum``: a limit is never rounded silently."""
    value = _number(environ, name, default, minimum)
    if value != int(value) or value > maximum:
        upper = f" to {maximum:g}" if maximum < MAX_SETTING else " or more"
        raise SettingsError(f"{name}: expected a whole number, {minimum}{upper}, got {value:g}")
    return int(value)


def _list(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def load_settings(
    environ: Mapping[str, str] | None = None, *, signs_tokens: bool = True
) -> Settings:
    """Build the settings from the environment, enforcing the production rules.

    Only the API signs and checks tokens (and the dashboard's links). The scheduler, the
    workers and the migrations pass ``signs_tokens=False``: they need no JWT secret, so a
    deployment need not hand one to the processes that run users' code. Without one they
    get a random secret of their own, which no API shares, so nothing they could sign
    would ever be accepted."""
    environ = os.environ if environ is None else environ
    env = environ.get("CHRONOS_ENV", "development").strip() or "development"
    if env not in {"development", "production"}:
        raise SettingsError(f"CHRONOS_ENV: expected development or production, got {env!r}")

    secret = environ.get("CHRONOS_JWT_SECRET", "") or _secret_file(environ)
    if not signs_tokens:
        secret = secret or secrets.token_urlsafe(MIN_SECRET_BYTES)
    if env == "production":
        if not secret:
            raise SettingsError("CHRONOS_JWT_SECRET: required when CHRONOS_ENV=production")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(
                f"CHRONOS_JWT_SECRET: must be at least {MIN_SECRET_BYTES} bytes in production"
            )
    elif not secret:
        log.warning(
            "CHRONOS_JWT_SECRET is not set: using the fixed DEVELOPMENT secret. Anyone can "
            "forge tokens. Set CHRONOS_JWT_SECRET (32+ bytes) and CHRONOS_ENV=production."
        )
        secret = DEVELOPMENT_JWT_SECRET
    elif len(secret.encode()) < MIN_SECRET_BYTES:
        log.warning("CHRONOS_JWT_SECRET is shorter than %d bytes", MIN_SECRET_BYTES)

    queues = _list(environ, "CHRONOS_QUEUES", ("default",)) or ("default",)
    smtp_url = environ.get("CHRONOS_SMTP_URL") or None
    return Settings(
        database_url=environ.get("CHRONOS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        broker_url=environ.get("CHRONOS_BROKER_URL") or DEFAULT_BROKER_URL,
        env=env,
        jwt_secret=secret,
        token_ttl_seconds=int(_number(environ, "CHRONOS_TOKEN_TTL_SECONDS", 3600, 60)),
        open_registration=_flag(environ, "CHRONOS_OPEN_REGISTRATION", True),
        queues=queues,
        queue_prefix=environ.get("CHRONOS_QUEUE_PREFIX", ""),
        enable_shell_jobs=_flag(environ, "CHRONOS_ENABLE_SHELL_JOBS", False),
        smtp_url=smtp_url,
        job_modules=_list(environ, "CHRONOS_JOB_MODULES", ()),
        poll_interval_seconds=_number(environ, "CHRONOS_POLL_INTERVAL_SECONDS", 1.0, 0.01),
        heartbeat_seconds=_number(environ, "CHRONOS_HEARTBEAT_SECONDS", 5.0, 0.1),
        lease_seconds=_number(environ, "CHRONOS_LEASE_SECONDS", 30.0, 1.0),
        run_retention_days=int(_number(environ, "CHRONOS_RUN_RETENTION_DAYS", 30, 1)),
        audit_retention_days=int(_number(environ, "CHRONOS_AUDIT_RETENTION_DAYS", 90, 1)),
        misfire_grace_seconds=_number(environ, "CHRONOS_MISFIRE_GRACE_SECONDS", 60.0, 0.0),
        max_body_bytes=int(
            _number(environ, "CHRONOS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024)
        ),
        http_allowed_networks=_networks(environ, "CHRONOS_HTTP_ALLOWED_NETWORKS"),
        login_attempts_per_minute=int(_number(environ, "CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE", 60, 1)),
        login_failures_per_user=int(_number(environ, "CHRONOS_LOGIN_FAILURES_PER_USER", 10, 1)),
        http_denied_networks=_networks(environ, "CHRONOS_HTTP_DENIED_NETWORKS"),
        prometheus_multiproc_dir=environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        scheduler_metrics_host=environ.get("CHRONOS_SCHEDULER_METRICS_HOST") or "0.0.0.0",  # noqa: S104
        scheduler_metrics_port=_port(environ, "CHRONOS_SCHEDULER_METRICS_PORT", 9192),
        log_format=load_log_format(environ),
        signups_per_minute=int(_number(environ, "CHRONOS_SIGNUPS_PER_MINUTE", 10, 1)),
        account_purge_seconds=_number(environ, "CHRONOS_ACCOUNT_PURGE_SECONDS", 10.0, 0.0),
        http_allowed_ports=_ports(environ, env),
        smtp_from=_address(environ, "CHRONOS_SMTP_FROM", "chronos@localhost"),
        email_max_recipients=int(_number(environ, "CHRONOS_EMAIL_MAX_RECIPIENTS", 50, 1)),
        email_per_minute=int(_number(environ, "CHRONOS_EMAIL_PER_MINUTE", 60, 1)),
        email_per_user_per_hour=_whole(environ, "CHRONOS_EMAIL_PER_USER_PER_HOUR", 200, 1),
        queue_backlog=int(_number(environ, "CHRONOS_QUEUE_BACKLOG", 500, 0)),
        max_catchup=int(_number(environ, "CHRONOS_MAX_CATCHUP", 100, 0)),
        dispatch_ahead_seconds=_number(
            environ, "CHRONOS_DISPATCH_AHEAD_SECONDS", 0.05, 0.0, maximum=1.0
        ),
        runs_per_message=_whole(environ, "CHRONOS_RUNS_PER_MESSAGE", 16, 1, maximum=64),
        min_messages_per_batch=_whole(environ, "CHRONOS_MIN_MESSAGES_PER_BATCH", 32, 1),
        test_crash_after_claim=env != "production"
        and _flag(environ, "CHRONOS_TEST_CRASH_AFTER_CLAIM", False),
        max_live_jobs_per_user=_whole(environ, "CHRONOS_MAX_LIVE_JOBS_PER_USER", 10000, 1),
        submits_per_minute=_whole(environ, "CHRONOS_SUBMITS_PER_MINUTE", 1000, 1),
        min_interval_seconds=_whole(environ, "CHRONOS_MIN_INTERVAL_SECONDS", 60, 1),
        max_user_priority=_whole(environ, "CHRONOS_MAX_USER_PRIORITY", 5, 0, maximum=9),
        ui_enabled=_flag(environ, "CHRONOS_UI_ENABLED", True),
        ui_read_only=_flag(environ, "CHRONOS_UI_READ_ONLY", False),
        ui_refresh_seconds=_whole(environ, "CHRONOS_UI_REFRESH_SECONDS", 5, 0, maximum=60),
    )


def _secret_file(environ: Mapping[str, str]) -> str:
    """``CHRONOS_JWT_SECRET_FILE``: a file holding the secret (a Docker secret, or the one
    compose generates on first start), read when CHRONOS_JWT_SECRET is not set."""
    path = environ.get("CHRONOS_JWT_SECRET_FILE", "")
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except OSError as error:
        raise SettingsError(
            f"CHRONOS_JWT_SECRET_FILE: cannot read {path!r}: {error.strerror}"
        ) from None


def _ports(environ: Mapping[str, str], env: str) -> frozenset[int]:
    """``CHRONOS_HTTP_ALLOWED_PORTS``: default 80 and 443 in production, any in development;
    ``any`` allows every port."""
    raw = environ.get("CHRONOS_HTTP_ALLOWED_PORTS", "").strip()
    if raw.lower() == "any" or (not raw and env != "production"):
        return frozenset()
    try:
        return parse_ports(raw or "80,443", "CHRONOS_HTTP_ALLOWED_PORTS")
    except NetworkPolicyError as error:
        raise SettingsError(str(error)) from None


def _address(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "").strip() or default
    if any(c in raw for c in "\r\n\x00") or "@" not in raw:
        raise SettingsError(f"{name}: expected an email address, got {raw!r}")
    return raw


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _number(environ, name, default, 0)
    if value != int(value) or value > 65535:
        raise SettingsError(f"{name}: expected a TCP port (0 to 65535, 0 turns it off)")
    return int(value)


def load_log_format(environ: Mapping[str, str]) -> str:
    """``CHRONOS_LOG_FORMAT``: ``text`` or ``json``. On its own too, for launchers'
    configuration files (``gunicorn.conf.py``) that need only this one setting."""
    raw = environ.get("CHRONOS_LOG_FORMAT", "")
    value = raw.strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise SettingsError(
            f"CHRONOS_LOG_FORMAT: expected one of {', '.join(LOG_FORMATS)}, got {raw!r}"
        )
    return value


def _networks(environ: Mapping[str, str], name: str) -> str:
    raw = environ.get(name, "")
    try:
        parse_networks(raw, name)
    except NetworkPolicyError as error:
        raise SettingsError(str(error)) from None
    return raw
