"""Operations endpoints: health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import re

import pytest

ROUTES = {
    "/users/create": {"post"},
    "/auth/token": {"post"},
    "/users/{user_id}": {"get"},
    "/users/{user_id}/update": {"put"},
    "/users/{user_id}/delete": {"delete"},
    "/jobs/submit": {"post"},
    "/jobs/{job_id}": {"get", "delete"},
    "/jobs/{job_id}/reschedule": {"put"},
    "/jobs": {"get"},
    "/jobs/{job_id}/runs": {"get"},
    "/jobs/{job_id}/pause": {"post"},
    "/jobs/{job_id}/resume": {"post"},
    "/jobs/{job_id}/trigger": {"post"},
    "/jobs/{job_id}/upcoming": {"get"},
    "/jobs/batch": {"post"},
    "/audit": {"get"},
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
}


def test_health_is_ok_without_a_token(client):
    result = client.simulate_get("/health")
    assert result.status_code == 200, result.text
    assert result.json == {"status": "ok"}


def test_ready_is_200_when_the_database_is_reachable(client):
    result = client.simulate_get("/ready")
    assert result.status_code == 200, result.text


def test_metrics_are_prometheus_text(client, admin):
    client.simulate_get("/health")
    result = client.simulate_get("/metrics", headers=admin.headers)
    assert result.status_code == 200, result.text
    assert result.headers["Content-Type"].startswith("text/plain")
    assert re.search(r"^# TYPE \w+ (counter|gauge|histogram|summary|untyped)$", result.text, re.M)
    # Every sample line is `name{labels} value`, optionally with a timestamp.
    sample = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+0-9.eE]+|NaN|[+-]Inf)( -?\d+)?$")
    samples = [line for line in result.text.splitlines() if line and not line.startswith("#")]
    assert samples, result.text
    for line in samples:
        assert sample.match(line), line
    # The contract's names (API.md, Operations).
    for family in (
        "chronos_http_requests_total",
        "chronos_http_request_duration_seconds",
        "chronos_runs",
        "chronos_overdue_jobs",
        "chronos_database_up",
    ):
        assert re.search(rf"^# TYPE {family} (counter|gauge|histogram)$", result.text, re.M), family


@pytest.fixture
def openapi(client, admin):
    result = client.simulate_get("/openapi.json", headers=admin.headers)
    assert result.status_code == 200, result.text
    assert result.headers["Content-Type"].startswith("application/json")
    return result.json


def test_openapi_is_version_3_1(openapi):
    assert isinstance(openapi["openapi"], str)
    assert openapi["openapi"].startswith("3.1")
    assert isinstance(openapi["info"]["title"], str)
    assert isinstance(openapi["info"]["version"], str)


@pytest.mark.parametrize(("path", "methods"), sorted(ROUTES.items()))
def test_openapi_documents_every_route(openapi, path, methods):
    paths = openapi["paths"]
    assert path in paths, sorted(paths)
    assert methods <= set(paths[path]), (path, sorted(paths[path]))


def test_openapi_documents_the_bearer_scheme(openapi):
    schemes = openapi["components"]["securitySchemes"]
    assert any(
        scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
        for scheme in schemes.values()
    ), schemes
