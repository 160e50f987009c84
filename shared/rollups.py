"""What the per-minute rollups count: the fixed lag buckets, shared by the rollup table
(``run_stats_minute.lag_buckets``) and the workers' Prometheus histogram, so that the
dashboard and the metrics agree on what "late" means."""

from __future__ import annotations

# started_at - scheduled_for, in seconds: from a dispatch that kept up (milliseconds) to a
# backlog or an outage (minutes); a retry's lag includes its backoff. A rollup's
# histogram has one more bucket than bounds: the last counts everything above an hour.
LAG_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
    3600.0,
)  # fmt: skip
# The end states a rollup counts, each a column of run_stats_minute.
COUNTED_STATES = ("succeeded", "failed", "skipped", "lost", "cancelled")
