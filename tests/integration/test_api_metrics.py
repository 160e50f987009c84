"""GET /metrics through Falcon's TestClient: labels that clients cannot multiply, and the
live-run gauges read from PostgreSQL, cached between scrapes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from falcon import testing
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, event, text

from api.app import create_app
from api.metrics import LiveRunsCollector
from shared.clock import FixedClock
from shared.db import make_engine
from shared.repository.runs import COUNT_LIVE_BY_QUEUE
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import create_job, execute, sent, set_runs_queued, set_runs_running


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and label set."""
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def scrape(client: testing.TestClient) -> str:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200, result.text
    assert result.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return result.text


# --- request metrics ----------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_and_status(client):
    before = value(
        scrape(client), "chronos_http_requests_total", method="GET", route="/health", status="200"
    )
    for _ in range(3):
        client.simulate_get("/health")
    after = value(
        scrape(client), "chronos_http_requests_total", method="GET", route="/health", status="200"
    )
    assert after == (before or 0) + 3
    job_id = uuid.uuid4()
    client.simulate_get(f"/jobs/{job_id}")  # 401 without a token: still counted, by template
    text = scrape(client)
    assert str(job_id) not in text
    assert value(
        text,
        "chronos_http_request_duration_seconds_count",
        method="GET",
        route="/jobs/{job_id:uuid}",
    )


# Falcon's test client validates the WSGI environ, and warns of methods it does not know.
@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")
def test_unknown_methods_share_one_label(client):
    before = samples(scrape(client))
    for method in ("BREW", "PROPFIND", "M1", "M2"):
        client.simulate_request(method, "/health")
    text = scrape(client)
    for method in ("BREW", "PROPFIND", "M1", "M2"):
        assert f'method="{method}"' not in text
    other = {
        key: count
        for key, count in samples(text).items()
        if key[0] == "chronos_http_requests_total" and ("method", "other") in key[1]
    }
    assert sum(other.values()) - sum(
        count for key, count in before.items() if key in other
    ) == pytest.approx(4)


def test_unknown_routes_share_one_label(client):
    paths = [f"/no/such/route/{uuid.uuid4().hex}" for _ in range(3)]
    before = value(
        scrape(client), "chronos_http_requests_total", method="GET", route="unmatched", status="404"
    )
    for path in paths:
        assert client.simulate_get(path).status_code == 404
    text = scrape(client)
    for path in paths:
        assert path not in text
    after = value(
        text, "chronos_http_requests_total", method="GET", route="unmatched", status="404"
    )
    assert after == (before or 0) + 3


def test_metrics_need_no_token(client):
    assert client.simulate_get("/metrics").status_code == 200


# --- live-run gauges ----------------------------------------------------------------------------


class Statements:
    """Counts the SQL statements an engine executes."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


class Ticker:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def own_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, pool_size=2)
    yield engine
    engine.dispose()


def test_gauges_read_the_database_once_per_interval(settings, own_engine):
    statements = Statements(own_engine)
    ticker = Ticker()
    collector = LiveRunsCollector(
        own_engine, FixedClock(datetime.now(UTC)), settings.queues, every=5.0, monotonic=ticker
    )
    list(collector.collect())
    first = statements.count
    assert first > 0
    ticker.now += 4.9
    for _ in range(20):
        list(collector.collect())
    assert statements.count == first, "a scrape within the interval read the database"
    ticker.now += 0.2
    list(collector.collect())
    assert statements.count == 2 * first


def test_scrapes_through_the_app_share_one_read(settings, own_engine):
    statements = Statements(own_engine)
    client = testing.TestClient(create_app(settings, engine=own_engine))
    scrape(client)
    first = statements.count
    assert first > 0
    scrape(client)
    scrape(client)
    assert statements.count == first


@pytest.fixture
def queues() -> tuple[str, str]:
    return f"metrics-{uuid.uuid4().hex[:8]}", f"overdue-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def moment() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def ours(settings: Settings, queues: tuple[str, str]) -> Settings:
    return dataclasses.replace(settings, queues=(*settings.queues, *queues))


def app_at(settings: Settings, engine: Engine, moment: datetime) -> testing.TestClient:
    """A fresh app (so its first scrape reads the database) whose clock says ``moment``."""
    return testing.TestClient(create_app(settings, clock=FixedClock(moment), engine=engine))


def test_live_runs_by_queue_and_state(ours, engine, user: Account, queues, moment):
    queue, _ = queues
    submitter = app_at(ours, engine, moment)

    def job(run_at: datetime) -> str:
        body = {"queue": queue, "schedule": {"run_at": sent(run_at)}}
        job_id: str = create_job(submitter, user, **body)["id"]
        return job_id

    job(moment)  # pending, due
    job(moment + timedelta(hours=1))  # pending, in the future
    set_runs_queued(engine, job(moment))  # queued, not yet published
    published = job(moment)
    set_runs_queued(engine, published)
    execute(engine, "UPDATE runs SET published_at = now() WHERE job_id = :job", job=published)
    set_runs_running(engine, job(moment))

    text = scrape(app_at(ours, engine, moment + timedelta(seconds=1)))
    found = {
        state: value(text, "chronos_runs", queue=queue, state=state)
        for state in ("pending_due", "pending_future", "queued", "running")
    }
    assert found == {"pending_due": 1, "pending_future": 1, "queued": 2, "running": 1}
    assert value(text, "chronos_database_up") == 1


def test_overdue_recurring_jobs(ours, engine, user: Account, queues, moment):
    _, queue = queues
    late = moment + timedelta(minutes=2)
    baseline = value(scrape(app_at(ours, engine, late)), "chronos_overdue_jobs")
    assert baseline is not None
    submitter = app_at(ours, engine, moment)

    def job(run_at: datetime, **schedule: Any) -> str:
        body = {"queue": queue, "schedule": {"run_at": sent(run_at), **schedule}}
        job_id: str = create_job(submitter, user, **body)["id"]
        return job_id

    job(moment, interval_seconds=3600)  # its due run has waited two minutes: overdue
    job(moment + timedelta(seconds=90), interval_seconds=3600)  # due 30 s ago: not yet
    job(moment + timedelta(hours=1), interval_seconds=3600)  # in the future
    job(moment)  # one-off: never overdue
    paused = job(moment, interval_seconds=3600)
    paused_now = submitter.simulate_post(f"/jobs/{paused}/pause", headers=user.headers)
    assert paused_now.status_code == 200, paused_now.text
    stopped = job(moment + timedelta(hours=1), interval_seconds=3600)
    execute(
        engine,
        "UPDATE runs SET state = 'skipped', finished_at = now() WHERE job_id = :job",
        job=stopped,
    )  # no pending run left at all: overdue
    set_runs_running(engine, job(moment, interval_seconds=3600))  # a last run in flight

    text = scrape(app_at(ours, engine, late))
    assert value(text, "chronos_overdue_jobs") == baseline + 2


def test_a_database_outage_reports_down_instead_of_failing(settings):
    unreachable = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", pool_size=1)
    try:
        client = testing.TestClient(create_app(settings, engine=unreachable))
        text = scrape(client)
    finally:
        unreachable.dispose()
    assert value(text, "chronos_database_up") == 0
    assert value(text, "chronos_runs", queue="default", state="queued") is None
    assert "chronos_http_requests_total" in text


def test_the_live_count_reads_live_runs_not_history(engine, user: Account, settings, moment):
    """With a long history and few live runs, the count uses the live-runs index."""
    job_id = create_job(app_at(settings, engine, moment), user)["id"]
    with engine.connect() as conn:
        transaction = conn.begin()  # rolled back: the history and its statistics go away
        try:
            conn.execute(
                text(
                    "INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, "
                    "due_at, state, queued_at, started_at, finished_at, created_at) "
                    "SELECT gen_random_uuid(), :job, n, 'schedule', 5, now(), now(), "
                    "'succeeded', now(), now(), now(), now() "
                    "FROM generate_series(2, 30001) AS n"
                ),
                {"job": job_id},
            )
            conn.execute(text("ANALYZE runs"))
            plan = conn.scalar(
                text(f"EXPLAIN (FORMAT JSON) {COUNT_LIVE_BY_QUEUE.text}"), {"now": moment}
            )
        finally:
            transaction.rollback()
    scans = list(plan_nodes(plan[0]["Plan"]))
    on_runs = [node for node in scans if node.get("Relation Name") == "runs"]
    assert on_runs, scans
    assert all(node["Node Type"] != "Seq Scan" for node in on_runs), on_runs
    assert any(node.get("Index Name") == "ix_runs_live" for node in on_runs), on_runs


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.filterwarnings("ignore::wsgiref.validate.WSGIWarning")
def test_hostile_methods_paths_and_statuses_create_no_series(client, user: Account):
    """Review L4: a client picks the method, the path and (through its input) the status,
    and none of them may add a series. A second round of requests, all different from the
    first, leaves the set of series as it was."""

    def series(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        return {key for key in samples(text) if key[0].startswith("chronos_http_")}

    def hostile_round(tag: str) -> None:
        for index in range(40):
            method = f"X{tag}{index}"
            for path in ("/health", "/jobs", f"/jobs/{uuid.uuid4()}", f"/{tag}/{index}/../x"):
                client.simulate_request(method, path, headers=user.headers)
            client.simulate_get(f"/no/{tag}{index}", headers=user.headers)
            client.simulate_get("/jobs", params={"limit": f"{tag}{index}"}, headers=user.headers)
            client.simulate_get(f"/jobs/{tag}{index}", headers=user.headers)

    hostile_round("A")
    scrape(client)  # a scrape counts itself after it answers
    first = series(scrape(client))
    hostile_round("B")
    second = series(scrape(client))
    assert second == first
    for _, labels in second:
        label = dict(labels)
        assert label["method"] in {
            "GET",
            "HEAD",
            "POST",
            "PUT",
            "PATCH",
            "DELETE",
            "OPTIONS",
            "other",
        }
        assert label["route"] == "unmatched" or label["route"].startswith("/")
        for sent_text in ("XA", "XB", "/A/", "/B/", "/no/"):
            assert sent_text not in label["route"]
            assert sent_text not in label["method"]
