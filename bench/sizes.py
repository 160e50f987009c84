"""How much work each benchmark does: the full run, and ``--quick`` (the CI smoke run)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    l1_single: int
    l1_batched: int
    l1_batch_size: int
    l2_messages: int
    c1_runs: int
    c2_runs: int
    c3_slow_runs: int  # at 50/s
    c3_fast_runs: int  # at 500/s
    c4_seconds: float
    c4_batch_seconds: float
    c4_batch_size: int
    c5_small_future: int
    c5_large_future: int
    c5_due: int
    c5_owners: int  # owners with due runs, for the many-owners claim
    c5_owner_due: int  # due runs of each of them
    c5_rss_runs: int
    c5_tries: int
    c6_burst: int
    c7_a_runs: int  # owner A's burst
    c7_b_runs: int  # owner B's few runs, due at the same instant
    c7_repeats: int
    c8_runs: int  # sleep runs of 0.05 s in a queue limited to 4
    c9_runs: int  # due at once, every 20th a sleep of 0.2 s
    c10_runs: int  # C2's burst, measured from PostgreSQL's side
    c11_runs: int  # driven through the database's statements alone
    p1_runs: int  # finished runs past retention, for the pruner
    u1_runs: int  # finished runs in the table while the dashboard's pages are timed
    # Seconds between inserting a workload and its first due time.
    lead_seconds: float
    # How long to wait for a workload to finish before calling it a failure.
    patience_seconds: float


FULL = Sizes(
    l1_single=3_000,
    l1_batched=30_000,
    l1_batch_size=500,
    l2_messages=3_000,
    c1_runs=5_000,
    c2_runs=3_000,
    c3_slow_runs=300,
    c3_fast_runs=3_000,
    c4_seconds=10.0,
    c4_batch_seconds=8.0,
    c4_batch_size=1_000,
    c5_small_future=10_000,
    c5_large_future=1_000_000,
    c5_due=500,
    c5_owners=1_000,
    c5_owner_due=1_000,
    c5_rss_runs=100_000,
    c5_tries=7,
    c6_burst=3_000,
    c7_a_runs=20_000,
    c7_b_runs=20,
    c7_repeats=3,
    c8_runs=500,
    c9_runs=3_000,
    c10_runs=3_000,
    c11_runs=20_000,
    p1_runs=200_000,
    u1_runs=1_000_000,
    lead_seconds=2.0,
    patience_seconds=180.0,
)

QUICK = Sizes(
    l1_single=200,
    l1_batched=2_000,
    l1_batch_size=500,
    l2_messages=300,
    c1_runs=500,
    c2_runs=300,
    c3_slow_runs=20,
    c3_fast_runs=100,
    c4_seconds=0.5,
    c4_batch_seconds=0.5,
    c4_batch_size=200,
    c5_small_future=10_000,
    c5_large_future=30_000,
    c5_due=500,
    c5_owners=100,
    c5_owner_due=100,
    c5_rss_runs=2_000,
    c5_tries=3,
    c6_burst=300,
    c7_a_runs=1_000,
    c7_b_runs=20,
    c7_repeats=1,
    c8_runs=40,
    c9_runs=300,
    c10_runs=300,
    c11_runs=1_000,
    p1_runs=20_000,
    u1_runs=20_000,
    lead_seconds=0.4,
    patience_seconds=60.0,
)
