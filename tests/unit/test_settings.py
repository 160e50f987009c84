"""Settings from an explicit environ mapping, with DESIGN.md's defaults and production rules."""

from __future__ import annotations

import dataclasses
import logging
import pathlib

import pytest

from shared.settings import (
    DEVELOPMENT_JWT_SECRET,
    Settings,
    SettingsError,
    load_settings,
)

GOOD_SECRET = "p" * 32


def load_quietly(environ: dict[str, str]) -> Settings:
    """Settings with a real secret, so the development warning stays out of the way."""
    return load_settings({"CHRONOS_JWT_SECRET": GOOD_SECRET, **environ})


def assert_settings_error(environ: dict[str, str], variable: str) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert str(caught.value).startswith(f"{variable}: ")
    return caught.value


# --- defaults -------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_quietly({})

    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/chronos"
    assert settings.broker_url == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert settings.env == "development"
    assert settings.production is False
    assert settings.queues == ("default",)
    assert settings.queue_prefix == ""
    assert settings.enable_shell_jobs is False
    assert settings.open_registration is True
    assert settings.smtp_url is None
    assert settings.job_modules == ()
    assert settings.token_ttl_seconds == 3600
    assert settings.max_body_bytes == 256 * 1024


def test_default_timings() -> None:
    settings = load_quietly({})

    assert settings.poll_interval_seconds == 1.0
    assert settings.heartbeat_seconds == 5.0
    assert settings.lease_seconds == 30.0
    assert settings.run_retention_days == 30
    assert isinstance(settings.run_retention_days, int)
    assert settings.audit_retention_days == 90
    assert isinstance(settings.audit_retention_days, int)


def test_load_settings_with_a_mapping_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHRONOS_QUEUES", "from-os-environ")
    monkeypatch.setenv("CHRONOS_ENV", "production")
    monkeypatch.setenv("CHRONOS_DATABASE_URL", "postgresql://elsewhere/db")

    settings = load_quietly({})

    assert settings.queues == ("default",)
    assert settings.env == "development"
    assert settings.database_url == "postgresql+psycopg://postgres@127.0.0.1:5432/chronos"


def test_every_variable_is_read() -> None:
    settings = load_settings(
        {
            "CHRONOS_DATABASE_URL": "postgresql+psycopg://u:p@db:5432/x",
            "CHRONOS_BROKER_URL": "amqp://u:p@mq:5672/vh",
            "CHRONOS_ENV": "production",
            "CHRONOS_JWT_SECRET": "z" * 40,
            "CHRONOS_QUEUES": "default,emails",
            "CHRONOS_QUEUE_PREFIX": "staging.",
            "CHRONOS_ENABLE_SHELL_JOBS": "true",
            "CHRONOS_OPEN_REGISTRATION": "false",
            "CHRONOS_SMTP_URL": "smtp://mail:25",
            "CHRONOS_JOB_MODULES": "ops.jobs, ops.more_jobs",
            "CHRONOS_POLL_INTERVAL_SECONDS": "0.25",
            "CHRONOS_HEARTBEAT_SECONDS": "2",
            "CHRONOS_LEASE_SECONDS": "12.5",
            "CHRONOS_RUN_RETENTION_DAYS": "7",
            "CHRONOS_AUDIT_RETENTION_DAYS": "365",
            "CHRONOS_TOKEN_TTL_SECONDS": "600",
            "CHRONOS_MAX_BODY_BYTES": "2048",
            "CHRONOS_HTTP_ALLOWED_PORTS": "443, 8443",
            "CHRONOS_SMTP_FROM": "jobs@operator.example",
            "CHRONOS_EMAIL_MAX_RECIPIENTS": "10",
            "CHRONOS_EMAIL_PER_MINUTE": "30",
            "CHRONOS_EMAIL_PER_USER_PER_HOUR": "25",
            "CHRONOS_UI_REFRESH_SECONDS": "10",
            "CHRONOS_MAX_LIVE_JOBS_PER_USER": "50",
            "CHRONOS_SUBMITS_PER_MINUTE": "20",
            "CHRONOS_MIN_INTERVAL_SECONDS": "300",
            "CHRONOS_MAX_USER_PRIORITY": "4",
        }
    )

    assert settings == Settings(
        database_url="postgresql+psycopg://u:p@db:5432/x",
        broker_url="amqp://u:p@mq:5672/vh",
        env="production",
        jwt_secret="z" * 40,
        token_ttl_seconds=600,
        open_registration=False,
        queues=("default", "emails"),
        queue_prefix="staging.",
        enable_shell_jobs=True,
        smtp_url="smtp://mail:25",
        job_modules=("ops.jobs", "ops.more_jobs"),
        poll_interval_seconds=0.25,
        heartbeat_seconds=2.0,
        lease_seconds=12.5,
        run_retention_days=7,
        audit_retention_days=365,
        max_body_bytes=2048,
        http_allowed_ports=frozenset({443, 8443}),
        smtp_from="jobs@operator.example",
        email_max_recipients=10,
        email_per_minute=30,
        email_per_user_per_hour=25,
        ui_refresh_seconds=10,
        max_live_jobs_per_user=50,
        submits_per_minute=20,
        min_interval_seconds=300,
        max_user_priority=4,
    )
    assert settings.production is True


def test_the_per_user_limits_default_to_safe_values() -> None:
    """H2: on by default; a deployment that wants more says so."""
    settings = load_quietly({})
    assert settings.max_live_jobs_per_user == 10000
    assert settings.submits_per_minute == 1000
    assert settings.min_interval_seconds == 60
    assert settings.max_user_priority == 5


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("CHRONOS_MAX_LIVE_JOBS_PER_USER", "0"),
        ("CHRONOS_MAX_LIVE_JOBS_PER_USER", "12.5"),
        ("CHRONOS_SUBMITS_PER_MINUTE", "-1"),
        ("CHRONOS_SUBMITS_PER_MINUTE", "lots"),
        ("CHRONOS_MIN_INTERVAL_SECONDS", "0"),
        ("CHRONOS_MIN_INTERVAL_SECONDS", "inf"),
        ("CHRONOS_MAX_USER_PRIORITY", "10"),
        ("CHRONOS_MAX_USER_PRIORITY", "-1"),
        ("CHRONOS_MAX_USER_PRIORITY", "4.5"),
        ("CHRONOS_RUNS_PER_MESSAGE", "0"),
        ("CHRONOS_RUNS_PER_MESSAGE", "65"),
        ("CHRONOS_RUNS_PER_MESSAGE", "2.5"),
        ("CHRONOS_MIN_MESSAGES_PER_BATCH", "0"),
        ("CHRONOS_DISPATCH_AHEAD_SECONDS", "-0.01"),
        ("CHRONOS_DISPATCH_AHEAD_SECONDS", "1.5"),
        ("CHRONOS_DISPATCH_AHEAD_SECONDS", "soon"),
    ],
)
def test_a_bad_limit_names_its_variable(variable: str, raw: str) -> None:
    assert_settings_error({variable: raw}, variable)


def test_http_ports_default_to_80_and_443_in_production_and_any_in_development() -> None:
    """M8: CHRONOS_HTTP_ALLOWED_PORTS."""
    production = {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "z" * 40}
    assert load_settings(production).network_policy.ports == frozenset({80, 443})
    assert (
        load_settings({**production, "CHRONOS_HTTP_ALLOWED_PORTS": "any"}).network_policy.ports
        == frozenset()
    )
    assert load_quietly({}).network_policy.ports == frozenset()
    with pytest.raises(SettingsError, match="CHRONOS_HTTP_ALLOWED_PORTS"):
        load_quietly({"CHRONOS_HTTP_ALLOWED_PORTS": "80,http"})


def test_the_jwt_secret_can_come_from_a_file(tmp_path: pathlib.Path) -> None:
    """H5: CHRONOS_JWT_SECRET_FILE, as compose's generated secret is passed."""
    path = tmp_path / "jwt_secret"
    path.write_text("s" * 64 + "\n")
    settings = load_settings({"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET_FILE": str(path)})
    assert settings.jwt_secret == "s" * 64
    with pytest.raises(SettingsError, match="CHRONOS_JWT_SECRET_FILE"):
        load_settings(
            {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET_FILE": str(tmp_path / "no")}
        )


def test_the_smtp_from_must_be_an_address() -> None:
    with pytest.raises(SettingsError, match="CHRONOS_SMTP_FROM"):
        load_quietly({"CHRONOS_SMTP_FROM": "x@y\r\nBcc: z@w"})


@pytest.mark.parametrize(
    "variable", ["CHRONOS_DATABASE_URL", "CHRONOS_BROKER_URL", "CHRONOS_SMTP_URL"]
)
def test_empty_urls_mean_the_default(variable: str) -> None:
    assert load_quietly({variable: ""}) == load_quietly({})


def test_settings_are_frozen() -> None:
    settings = load_quietly({})

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.queues = ("other",)  # type: ignore[misc]


# --- queues ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("default", ("default",)),
        ("default,emails", ("default", "emails")),
        (" default , emails ,reports ", ("default", "emails", "reports")),
        ("a,,b, ,c,", ("a", "b", "c")),
        ("", ("default",)),
        (" , ,", ("default",)),
    ],
)
def test_chronos_queues_parsing(raw: str, expected: tuple[str, ...]) -> None:
    assert load_quietly({"CHRONOS_QUEUES": raw}).queues == expected


def test_job_modules_parsing() -> None:
    assert load_quietly({"CHRONOS_JOB_MODULES": " a.b ,c,, "}).job_modules == ("a.b", "c")
    assert load_quietly({"CHRONOS_JOB_MODULES": ""}).job_modules == ()


def test_queue_name_applies_the_prefix() -> None:
    settings = load_quietly({"CHRONOS_QUEUE_PREFIX": "chronos-test-1a2b."})

    assert settings.queue_name("default") == "chronos-test-1a2b.default"
    assert settings.queue_name("emails") == "chronos-test-1a2b.emails"


def test_queue_name_without_a_prefix_is_the_queue() -> None:
    assert load_quietly({}).queue_name("default") == "default"
    assert Settings(queue_prefix="p-").queue_name("q") == "p-q"


# --- the JWT secret -------------------------------------------------------------------------


def test_production_without_a_secret_refuses_to_start() -> None:
    error = assert_settings_error({"CHRONOS_ENV": "production"}, "CHRONOS_JWT_SECRET")
    assert "production" in str(error)


def test_production_with_an_empty_secret_refuses_to_start() -> None:
    assert_settings_error(
        {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": ""}, "CHRONOS_JWT_SECRET"
    )


def test_production_with_a_31_byte_secret_refuses_to_start() -> None:
    error = assert_settings_error(
        {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "x" * 31}, "CHRONOS_JWT_SECRET"
    )
    assert "32 bytes" in str(error)


def test_production_with_a_32_byte_secret_starts() -> None:
    settings = load_settings({"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "x" * 32})

    assert settings.jwt_secret == "x" * 32
    assert settings.production is True


def test_secret_length_is_counted_in_bytes_not_characters() -> None:
    # 16 characters, 32 bytes in UTF-8.
    assert load_settings(
        {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "é" * 16}
    ).jwt_secret == ("é" * 16)
    # 16 characters, 31 bytes.
    assert_settings_error(
        {"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "é" * 15 + "x"},
        "CHRONOS_JWT_SECRET",
    )


def test_production_never_falls_back_to_the_development_secret() -> None:
    with pytest.raises(SettingsError):
        load_settings({"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": ""})
    settings = load_settings({"CHRONOS_ENV": "production", "CHRONOS_JWT_SECRET": "y" * 64})
    assert settings.jwt_secret != DEVELOPMENT_JWT_SECRET


def test_development_without_a_secret_uses_the_fixed_secret_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="chronos.settings")

    first = load_settings({})
    second = load_settings({"CHRONOS_ENV": "development"})

    assert first.jwt_secret == DEVELOPMENT_JWT_SECRET
    assert second.jwt_secret == first.jwt_secret
    assert len(first.jwt_secret.encode()) >= 32
    warnings = [
        r for r in caplog.records if r.name == "chronos.settings" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2
    assert "CHRONOS_JWT_SECRET" in warnings[0].getMessage()
    assert "DEVELOPMENT" in warnings[0].getMessage()


def test_development_with_an_empty_secret_falls_back_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chronos.settings")

    assert load_settings({"CHRONOS_JWT_SECRET": ""}).jwt_secret == DEVELOPMENT_JWT_SECRET
    assert any("CHRONOS_JWT_SECRET" in r.getMessage() for r in caplog.records)


def test_development_with_a_secret_uses_it_without_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="chronos.settings")

    settings = load_settings({"CHRONOS_JWT_SECRET": GOOD_SECRET})

    assert settings.jwt_secret == GOOD_SECRET
    assert [r for r in caplog.records if r.name == "chronos.settings"] == []


def test_development_with_a_short_secret_uses_it_but_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="chronos.settings")

    settings = load_settings({"CHRONOS_JWT_SECRET": "short"})

    assert settings.jwt_secret == "short"
    assert [r.levelno for r in caplog.records if r.name == "chronos.settings"] == [logging.WARNING]


@pytest.mark.parametrize("env", ["staging", "prod", "Production", "test"])
def test_unknown_env_is_refused(env: str) -> None:
    assert_settings_error({"CHRONOS_ENV": env, "CHRONOS_JWT_SECRET": GOOD_SECRET}, "CHRONOS_ENV")


def test_empty_env_means_development() -> None:
    assert load_quietly({"CHRONOS_ENV": ""}).env == "development"


# --- numbers and booleans -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHRONOS_POLL_INTERVAL_SECONDS", "fast"),
        ("CHRONOS_POLL_INTERVAL_SECONDS", "1s"),
        ("CHRONOS_POLL_INTERVAL_SECONDS", "0"),
        ("CHRONOS_HEARTBEAT_SECONDS", "five"),
        ("CHRONOS_HEARTBEAT_SECONDS", "-5"),
        ("CHRONOS_LEASE_SECONDS", "0.5"),
        ("CHRONOS_LEASE_SECONDS", "30 seconds"),
        ("CHRONOS_RUN_RETENTION_DAYS", "0"),
        ("CHRONOS_RUN_RETENTION_DAYS", "a month"),
        ("CHRONOS_AUDIT_RETENTION_DAYS", "0"),
        ("CHRONOS_AUDIT_RETENTION_DAYS", "-90"),
        ("CHRONOS_AUDIT_RETENTION_DAYS", "90d"),
        ("CHRONOS_TOKEN_TTL_SECONDS", "59"),
        ("CHRONOS_TOKEN_TTL_SECONDS", "1h"),
        ("CHRONOS_MAX_BODY_BYTES", "1023"),
        ("CHRONOS_MAX_BODY_BYTES", "256KiB"),
        ("CHRONOS_MISFIRE_GRACE_SECONDS", "-1"),
    ],
)
def test_bad_numbers_name_the_variable(variable: str, value: str) -> None:
    error = assert_settings_error({"CHRONOS_JWT_SECRET": GOOD_SECRET, variable: value}, variable)
    assert repr(value) in str(error)


@pytest.mark.parametrize(
    ("variable", "value", "attribute", "expected"),
    [
        ("CHRONOS_POLL_INTERVAL_SECONDS", "0.01", "poll_interval_seconds", 0.01),
        ("CHRONOS_HEARTBEAT_SECONDS", "0.1", "heartbeat_seconds", 0.1),
        ("CHRONOS_LEASE_SECONDS", "1", "lease_seconds", 1.0),
        ("CHRONOS_RUN_RETENTION_DAYS", "1", "run_retention_days", 1),
        ("CHRONOS_AUDIT_RETENTION_DAYS", "1", "audit_retention_days", 1),
        ("CHRONOS_TOKEN_TTL_SECONDS", "60", "token_ttl_seconds", 60),
        ("CHRONOS_MAX_BODY_BYTES", "1024", "max_body_bytes", 1024),
        ("CHRONOS_POLL_INTERVAL_SECONDS", "", "poll_interval_seconds", 1.0),
    ],
)
def test_numbers_at_their_minimum_are_accepted(
    variable: str, value: str, attribute: str, expected: float
) -> None:
    assert getattr(load_quietly({variable: value}), attribute) == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHRONOS_POLL_INTERVAL_SECONDS", "nan"),
        ("CHRONOS_LEASE_SECONDS", "nan"),
        ("CHRONOS_RUN_RETENTION_DAYS", "nan"),
        ("CHRONOS_RUN_RETENTION_DAYS", "inf"),
        ("CHRONOS_AUDIT_RETENTION_DAYS", "nan"),
        ("CHRONOS_TOKEN_TTL_SECONDS", "inf"),
        ("CHRONOS_MAX_BODY_BYTES", "1e400"),
    ],
)
def test_non_finite_numbers_are_settings_errors(variable: str, value: str) -> None:
    assert_settings_error({"CHRONOS_JWT_SECRET": GOOD_SECRET, variable: value}, variable)


@pytest.mark.parametrize("variable", ["CHRONOS_ENABLE_SHELL_JOBS", "CHRONOS_OPEN_REGISTRATION"])
@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "tru", "y n"])
def test_bad_booleans_name_the_variable(variable: str, value: str) -> None:
    error = assert_settings_error({"CHRONOS_JWT_SECRET": GOOD_SECRET, variable: value}, variable)
    assert repr(value) in str(error)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans(value: str, expected: bool) -> None:
    assert load_quietly({"CHRONOS_ENABLE_SHELL_JOBS": value}).enable_shell_jobs is expected
    assert load_quietly({"CHRONOS_OPEN_REGISTRATION": value}).open_registration is expected


def test_empty_booleans_mean_the_default() -> None:
    settings = load_quietly({"CHRONOS_ENABLE_SHELL_JOBS": "", "CHRONOS_OPEN_REGISTRATION": ""})

    assert settings.enable_shell_jobs is False
    assert settings.open_registration is True


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_scheduler_metrics_port_defaults_to_9192_and_zero_turns_it_off():
    assert load_settings({}).scheduler_metrics_port == 9192
    assert load_settings({"CHRONOS_SCHEDULER_METRICS_PORT": "0"}).scheduler_metrics_port == 0
    assert load_settings({"CHRONOS_SCHEDULER_METRICS_PORT": "9300"}).scheduler_metrics_port == 9300


@pytest.mark.parametrize("raw", ["70000", "-1", "9192.5", "port"])
def test_scheduler_metrics_port_must_be_a_port(raw):
    with pytest.raises(SettingsError, match="CHRONOS_SCHEDULER_METRICS_PORT"):
        load_settings({"CHRONOS_SCHEDULER_METRICS_PORT": raw})


def test_the_multiprocess_directory_is_prometheus_clients_own_variable():
    assert load_settings({}).prometheus_multiproc_dir is None
    settings = load_settings({"PROMETHEUS_MULTIPROC_DIR": "/run/chronos-metrics"})
    assert settings.prometheus_multiproc_dir == "/run/chronos-metrics"


def test_the_dispatch_settings_default_and_read() -> None:
    defaults = load_quietly({})
    assert (defaults.runs_per_message, defaults.min_messages_per_batch) == (16, 32)
    assert defaults.dispatch_ahead_seconds == 0.05
    chosen = load_quietly(
        {
            "CHRONOS_RUNS_PER_MESSAGE": "1",
            "CHRONOS_MIN_MESSAGES_PER_BATCH": "64",
            "CHRONOS_DISPATCH_AHEAD_SECONDS": "0",
        }
    )
    assert (chosen.runs_per_message, chosen.min_messages_per_batch) == (1, 64)
    assert chosen.dispatch_ahead_seconds == 0


def test_only_the_process_that_signs_tokens_needs_the_jwt_secret() -> None:
    """The scheduler, the workers and the migrations run without CHRONOS_JWT_SECRET in
    production, each with a random secret of its own that no API would accept."""
    production = {"CHRONOS_ENV": "production"}
    with pytest.raises(SettingsError, match="CHRONOS_JWT_SECRET"):
        load_settings(production)
    first = load_settings(production, signs_tokens=False)
    second = load_settings(production, signs_tokens=False)
    assert len(first.jwt_secret.encode()) >= 32
    assert first.jwt_secret != second.jwt_secret
    assert DEVELOPMENT_JWT_SECRET not in (first.jwt_secret, second.jwt_secret)
    given = load_settings({**production, "CHRONOS_JWT_SECRET": "s" * 40}, signs_tokens=False)
    assert given.jwt_secret == "s" * 40  # one that is given is used, and checked
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        load_settings({**production, "CHRONOS_JWT_SECRET": "short"}, signs_tokens=False)
