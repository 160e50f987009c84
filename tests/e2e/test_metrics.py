"""Metrics as Prometheus scrapes them from the real processes.

A stack of this module's own (database, queue prefix, API port, metrics ports and
multiprocess directories), so that its counts are only its own: the API runs under
gunicorn with three workers, as the Procfile starts it.
"""

from __future__ import annotations

import inspect
import shutil
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dramatiq.middleware.prometheus
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.client import Client
from tests.e2e.flow import wait_status
from tests.e2e.stack import Stack, own_stack
from tests.e2e.waiting import wait_for
from tests.ops_metrics import docs_metrics, missing_from_scrape, scraped_names

API_WORKERS = 3
REQUESTS = 60
SCRAPES = 20

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def fetch(url: str) -> str:
    """One GET on a fresh connection (urllib closes it after each request)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text: str = response.read().decode()
        return text


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metrics_stack(
    database_url: str,
    stack_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    # One thread per worker process, so that concurrent requests must spread over the
    # processes (a threaded worker could take them all) and the test sees the sum.
    env = {"CHRONOS_API_WORKERS": str(API_WORKERS), "CHRONOS_API_THREADS": "1"}
    log_dir = tmp_path_factory.mktemp("chronos-metrics-logs")
    with own_stack(stack_env, database_url, "metrics", log_dir, env) as stack:
        wait_every_api_worker_serving(stack)
        yield stack


def wait_every_api_worker_serving(stack: Stack) -> None:
    """/health answered by one worker says nothing of the others, which may still be
    booting on a loaded machine: send concurrent requests until each worker process has
    counted one (its own file in the multiprocess directory)."""
    directory = stack.processes["api"].metrics_dir
    assert directory is not None

    def all_serving() -> bool:
        with ThreadPoolExecutor(API_WORKERS * 2) as pool:
            list(pool.map(lambda _: fetch(f"{stack.url}/health"), range(API_WORKERS * 4)))
        return len(list(directory.glob("counter_*.db"))) >= API_WORKERS

    wait_for(all_serving, timeout=60, interval=0.2, message="every API worker to serve")


HEALTH = {"method": "GET", "route": "/health", "status": "200"}


def health_by_process(directory: Path, scratch: Path) -> dict[str, float]:
    """GET /health responses counted by each API worker process, read from its own file
    in the multiprocess directory (each file copied alone into a scratch directory)."""
    counted: dict[str, float] = {}
    for path in sorted(directory.glob("counter_*.db")):
        alone = scratch / path.stem
        alone.mkdir()
        shutil.copy(path, alone / path.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counted[path.stem] = registry.get_sample_value("chronos_http_requests_total", HEALTH) or 0
    return counted


def test_every_scrape_through_any_api_worker_counts_the_whole_api(
    metrics_stack: Stack, tmp_path: Path
) -> None:
    api = metrics_stack.processes["api"]
    assert api.metrics_dir is not None
    metrics_url = f"{metrics_stack.url}/metrics"
    before = value(samples(fetch(metrics_url)), "chronos_http_requests_total", **HEALTH)

    # Concurrent, each on a fresh connection, so that gunicorn's workers share them.
    with ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda _: fetch(f"{metrics_stack.url}/health"), range(REQUESTS)))
    assert len(bodies) == REQUESTS

    by_process = health_by_process(api.metrics_dir, tmp_path)
    serving = {process: n for process, n in by_process.items() if n > 0}
    assert len(serving) >= 2, f"the requests did not spread over the workers: {by_process}"
    assert sum(by_process.values()) == before + REQUESTS

    reported = [
        value(samples(fetch(metrics_url)), "chronos_http_requests_total", **HEALTH)
        for _ in range(SCRAPES)
    ]
    assert reported == [before + REQUESTS] * SCRAPES


def test_runs_show_in_the_worker_and_scheduler_metrics(metrics_stack: Stack) -> None:
    worker = metrics_stack.processes["worker"].metrics_url
    scheduler = metrics_stack.processes["scheduler"].metrics_url
    assert worker is not None
    assert scheduler is not None
    # The stack's readiness noop is "succeeded" as soon as its outcome commits; the
    # worker counts it just after. Start counting once it has.
    wait_for(
        lambda: (
            value(
                samples(fetch(worker)),
                "chronos_runs_finished_total",
                queue="default",
                type="noop",
                state="succeeded",
            )
            >= 1
        ),
        timeout=10,
        message="the worker to count the readiness noop",
    )
    worker_before = samples(fetch(worker))
    scheduler_before = samples(fetch(scheduler))
    client = Client(metrics_stack.url).as_new_user()
    jobs = [client.submit(type="noop")["id"] for _ in range(3)]
    jobs.append(client.submit(type="sleep", payload={"seconds": 0.3})["id"])
    failing = client.submit(type="fail", payload={"message": "on purpose"})["id"]
    for job_id in jobs:
        wait_status(client, job_id, "succeeded", timeout=60)
    wait_status(client, failing, "failed", timeout=60)

    def grew(before: Samples, name: str, **labels: str) -> float:
        return value(samples(fetch(worker)), name, **labels) - value(before, name, **labels)

    default = {"queue": "default"}
    wait_for(
        lambda: grew(worker_before, "chronos_run_lag_seconds_count", **default) >= 5,
        timeout=10,
        message="the worker's metrics to count the five runs",
    )
    after = samples(fetch(worker))

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(worker_before, name, **labels)

    finished = "chronos_runs_finished_total"
    assert delta(finished, **default, type="noop", state="succeeded") == 3
    assert delta(finished, **default, type="sleep", state="succeeded") == 1
    assert delta(finished, **default, type="fail", state="failed") == 1
    assert delta("chronos_run_lag_seconds_count", **default) == 5
    assert delta("chronos_run_duration_seconds_count", **default, type="noop") == 3
    assert delta("chronos_run_duration_seconds_count", **default, type="sleep") == 1
    assert delta("chronos_run_duration_seconds_sum", **default, type="sleep") >= 0.3
    queue_name = f"{metrics_stack.env['CHRONOS_QUEUE_PREFIX']}default"
    dramatiq = {"queue_name": queue_name, "actor_name": "execute_run"}
    assert delta("dramatiq_messages_total", **dramatiq) >= 5
    assert any(name.startswith("dramatiq_message_duration_milliseconds") for name, _ in after)

    scheduled = samples(fetch(scheduler))

    def scheduler_delta(name: str, **labels: str) -> float:
        return value(scheduled, name, **labels) - value(scheduler_before, name, **labels)

    assert scheduler_delta("chronos_scheduler_claimed_total") == 5
    assert scheduler_delta("chronos_scheduler_published_total") == 5
    assert scheduler_delta("chronos_scheduler_pass_seconds_count", **{"pass": "dispatch"}) > 0
    for name in ("republished", "rescued", "pruned"):
        assert (f"chronos_scheduler_{name}_total", frozenset()) in scheduled, name
    # The worker consumes the queue; the scheduler sees it through a passive declare.
    assert value(scheduled, "chronos_queue_consumers", **default) >= 1
    assert (("chronos_queue_messages", frozenset(default.items()))) in scheduled


def test_every_metric_the_dashboard_and_alerts_query_is_in_a_live_scrape(
    metrics_stack: Stack,
) -> None:
    """docs/grafana and docs/prometheus query only what the running stack serves: the
    API, a worker and a scheduler, scraped after a run went through all three."""
    client = Client(metrics_stack.url).as_new_user()
    wait_status(client, client.submit(type="noop")["id"], "succeeded", timeout=60)
    worker = metrics_stack.processes["worker"].metrics_url
    scheduler = metrics_stack.processes["scheduler"].metrics_url
    assert worker is not None
    assert scheduler is not None
    scraped = set()
    for url in (f"{metrics_stack.url}/metrics", worker, scheduler):
        scraped |= scraped_names(fetch(url))
    queried = docs_metrics()
    assert len(queried) > 10
    missing = missing_from_scrape(queried, scraped)
    # A labelled counter appears with its first increment. Dramatiq counts a message
    # error only when the actor itself raises (Chronos records a failed run instead),
    # which a healthy stack never does: that family must at least be Dramatiq's own.
    event_only = {"dramatiq_message_errors_total"}
    assert missing <= event_only
    source = inspect.getsource(dramatiq.middleware.prometheus)
    for name in event_only:
        assert name.removeprefix("dramatiq_").removesuffix("_total") in source, name
