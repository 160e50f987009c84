"""The shipped deployment files are secure by default (H5, L6): read, not run (no
Docker engine is needed), with PyYAML for compose.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shared.settings import DEVELOPMENT_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
CHRONOS = ("api", "scheduler", "worker", "migrate")
# A value with no default: compose refuses to start and prints the message.
REQUIRED = re.compile(r"^\$\{[A-Z_]+:\?.+\}$")


def environment(service: str) -> dict[str, str]:
    return {key: str(value) for key, value in SERVICES[service]["environment"].items()}


def test_chronos_runs_in_production_with_a_generated_secret_the_api_alone_reads() -> None:
    for service in CHRONOS:
        env = environment(service)
        assert env["CHRONOS_ENV"] == "${CHRONOS_ENV:-production}", service
        assert "CHRONOS_JWT_SECRET" not in env, service
    api = environment("api")
    assert api["CHRONOS_JWT_SECRET_FILE"] == "/run/chronos/jwt_secret"
    assert "chronos-secrets:/run/chronos:ro" in SERVICES["api"]["volumes"]
    assert "secrets" in SERVICES["api"]["depends_on"]
    assert {"postgres", "rabbitmq", "migrate"} <= set(SERVICES["api"]["depends_on"])
    # The processes that run users' jobs, and the migrations, never see it.
    for service in ("scheduler", "worker", "migrate"):
        assert "CHRONOS_JWT_SECRET_FILE" not in environment(service), service
        assert "chronos-secrets:/run/chronos:ro" not in SERVICES[service].get("volumes", [])
    generator = "\n".join(SERVICES["secrets"]["command"])
    assert "secrets.token_urlsafe(48)" in generator
    assert "0o400" in generator
    text = (ROOT / "compose.yaml").read_text()
    assert DEVELOPMENT_JWT_SECRET not in text


def test_no_known_password_is_shipped() -> None:
    passwords = [
        environment("postgres")["POSTGRES_PASSWORD"],
        environment("rabbitmq")["RABBITMQ_DEFAULT_PASS"],
    ]
    for password in passwords:
        assert REQUIRED.match(password), password
    for service in CHRONOS:
        env = environment(service)
        assert "${CHRONOS_DB_PASSWORD:?" in env["CHRONOS_DATABASE_URL"]
        assert "${CHRONOS_BROKER_PASSWORD:?" in env["CHRONOS_BROKER_URL"]
        assert "guest" not in env["CHRONOS_BROKER_URL"]


def test_only_the_proxy_is_published_and_management_is_on_loopback() -> None:
    published = {
        name: [str(port) for port in service.get("ports", [])]
        for name, service in SERVICES.items()
        if service.get("ports")
    }
    assert published == {"rabbitmq": ["127.0.0.1:15672:15672"], "proxy": ["8000:8000"]}
    assert "ports" not in SERVICES["api"]


def test_slow_clients_are_bounded() -> None:
    """L6: gthread workers with timeouts, behind a buffering proxy with client timeouts."""
    config: dict[str, Any] = {}
    source = (ROOT / "gunicorn.conf.py").read_text()
    tail = source[source.index('worker_class = "gthread"') :]
    exec(compile(tail, "gunicorn.conf.py", "exec"), {"os": __import__("os")}, config)  # noqa: S102
    assert config["worker_class"] == "gthread"
    assert config["threads"] >= 2
    assert config["timeout"] <= 60
    assert config["keepalive"] <= 10
    assert config["limit_request_line"] <= 8190
    assert config["limit_request_fields"] <= 100
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in (
        "client_header_timeout 10s",
        "client_body_timeout 10s",
        "proxy_request_buffering on",
        # The dashboard's CSRF check compares Origin with Host, port included.
        "proxy_set_header Host $http_host",
    ):
        assert directive in nginx
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in SERVICES["proxy"]["volumes"]


def test_the_image_defaults_to_production() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "CHRONOS_ENV=production" in dockerfile
    assert "USER chronos" in dockerfile


def test_workers_start_non_dumpable() -> None:
    """M9: the Dramatiq main process holds the secrets too (a shell job's grandparent),
    so the Procfile and compose start the CLI through shared.hardening."""
    procfile = (ROOT / "Procfile").read_text()
    [worker] = [line for line in procfile.splitlines() if line.startswith("worker:")]
    assert "exec python -m shared.hardening worker " in worker
    assert SERVICES["worker"]["command"][:4] == ["python", "-m", "shared.hardening", "worker"]
