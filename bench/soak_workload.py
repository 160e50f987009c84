"""The soak's job mix: N jobs of every built-in kind that runs without outside services,
with schedules spread over the kill window so that runs are in flight whenever a
process is killed, and every schedule ending inside the window.

Each job is a ``POST /jobs/batch`` item. Its *kind* (the soak's label, finer than the
job type) is remembered so the report can show the mix.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.soak_e2e import rfc3339

# Fractions of N per kind; cron jobs are few (each fires at most once a minute).
MIX: dict[str, float] = {
    "noop now": 0.10,
    "noop later": 0.35,
    "sleep": 0.12,
    "http": 0.12,
    "fail": 0.10,
    "interval": 0.20,
    "cron": 0.01,
}
# One-off runs are due within this share of the window, recurring ones end within it:
# the rest of the window absorbs the delays that kills cause. With 10,000 jobs over 4
# minutes that is about 15,000 runs due at ~70/s: what 2 shared cores execute with
# processes being killed (the first full run, at ~130/s planned, built a backlog).
SPREAD_SHARE = 0.85
MAX_INTERVAL_RUNS = 3
# Half the recurring jobs use overlap_policy allow: under a backlog, forbid turns every
# occurrence whose predecessor is still queued into a skipped run (correct, but each
# skip materialises one more occurrence, which feeds the backlog).
OVERLAP_POLICIES = ("forbid", "allow")
CRON_EVERY_MINUTE = "* * * * *"
# The queues the jobs are spread over: one with a concurrency limit, and one that is
# paused for the first half of the kill window (bench.soak sets both up).
LIMITED_QUEUE = "limited"
PAUSED_QUEUE = "paused"
QUEUES = ("default", LIMITED_QUEUE, PAUSED_QUEUE)
QUEUE_WEIGHTS = (0.85, 0.10, 0.05)
LIMIT = 4


@dataclass
class Workload:
    specs: list[dict[str, Any]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    expected_runs: float = 0.0  # first attempts and retries, roughly, for the report

    def add(self, kind: str, spec: dict[str, Any], runs: float) -> None:
        self.specs.append(spec)
        self.kinds.append(kind)
        self.expected_runs += runs

    def counts(self) -> Counter[str]:
        return Counter(self.kinds)


def kind_sizes(jobs: int) -> dict[str, int]:
    """How many jobs of each kind: the fractions of MIX, summing to exactly ``jobs``."""
    sizes = {kind: math.floor(jobs * share) for kind, share in MIX.items()}
    sizes["noop later"] += jobs - sum(sizes.values())
    return sizes


def build(
    jobs: int, window_seconds: float, start_epoch: float, target_url: str, rng: random.Random
) -> Workload:
    """``jobs`` specs, shuffled, with times relative to ``start_epoch`` (about now)."""
    span = max(10.0, window_seconds * SPREAD_SHARE)

    def at(offset: float) -> dict[str, str]:
        return {"run_at": rfc3339(start_epoch + offset)}

    def later() -> float:
        return rng.uniform(0, span)

    # Cron * * * * * fires on minute boundaries: with max_runs k the last occurrence
    # comes at most 60 k seconds after submission; keep it inside the window.
    cron_runs = max(1, min(3, int(window_seconds // 60) - 1))

    workload = Workload()
    spec: dict[str, Any]
    for kind, count in kind_sizes(jobs).items():
        for _ in range(count):
            if kind == "noop now":
                workload.add(kind, {"type": "noop", "name": "soak-noop-now"}, 1)
            elif kind == "noop later":
                spec = {"type": "noop", "name": "soak-noop-later", "schedule": at(later())}
                workload.add(kind, spec, 1)
            elif kind == "sleep":
                seconds = round(rng.uniform(0.2, 2.0), 2)
                spec = {
                    "type": "sleep",
                    "name": "soak-sleep",
                    "payload": {"seconds": seconds},
                    "schedule": at(later()),
                    "max_attempts": 2,
                    "retry_backoff_seconds": 1,
                    "timeout_seconds": 30,
                }
                workload.add(kind, spec, 1)
            elif kind == "http":
                spec = {
                    "type": "http",
                    "name": "soak-http",
                    "payload": {"url": target_url, "method": "POST", "timeout_seconds": 10},
                    "schedule": at(later()),
                    "max_attempts": 2,
                    "retry_backoff_seconds": 1,
                }
                workload.add(kind, spec, 1)
            elif kind == "fail":
                attempts = rng.randint(2, 3)
                spec = {
                    "type": "fail",
                    "name": "soak-fail",
                    "payload": {"message": "soak: failing on purpose"},
                    "schedule": at(later()),
                    "max_attempts": attempts,
                    "retry_backoff_seconds": rng.randint(1, 3),
                }
                workload.add(kind, spec, attempts)
            elif kind == "interval":
                interval = rng.randint(5, int(min(20.0, span / 2)))
                first = rng.uniform(0, span / 4)
                most = max(2, min(MAX_INTERVAL_RUNS, int((span - first) // interval) + 1))
                runs = rng.randint(2, most)
                job_type = rng.choice(("noop", "noop", "sleep"))
                spec = {
                    "type": job_type,
                    "name": "soak-interval",
                    "schedule": {**at(first), "interval_seconds": interval, "max_runs": runs},
                    "overlap_policy": rng.choice(OVERLAP_POLICIES),
                }
                if job_type == "sleep":
                    spec["payload"] = {"seconds": round(rng.uniform(0.1, 0.5), 2)}
                workload.add(kind, spec, runs)
            elif kind == "cron":
                spec = {
                    "type": "noop",
                    "name": "soak-cron",
                    "schedule": {"cron": CRON_EVERY_MINUTE, "max_runs": cron_runs},
                }
                workload.add(kind, spec, cron_runs)
            else:  # pragma: no cover - MIX and this function name the same kinds
                raise ValueError(f"unknown kind {kind}")
    for spec in workload.specs:
        spec["queue"] = rng.choices(QUEUES, QUEUE_WEIGHTS)[0]
    order = list(range(len(workload.specs)))
    rng.shuffle(order)
    workload.specs = [workload.specs[index] for index in order]
    workload.kinds = [workload.kinds[index] for index in order]
    return workload
