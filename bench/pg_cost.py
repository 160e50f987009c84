"""What PostgreSQL did for a workload, read from its cumulative statistics: commits to
the bench database (``pg_stat_database``), row writes to ``runs`` and ``jobs``
(``pg_stat_user_tables``) and the WAL the database's own records took (``pg_walinspect``).

The statistics are cumulative and flushed lazily: a backend sends its counts at most
once a second, and an idle one up to 10 s after its last transaction (PostgreSQL 15's
PGSTAT_IDLE_INTERVAL). So a reading is only complete once every other backend has
flushed: they have been idle that long, or they have exited. The bench's own readings
go through one autocommit connection (:class:`CostProbe`) that counts its statements,
so that its own commits can be taken out, and that forces its own flush before each
reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, event, text

COUNTERS = text(
    """
    SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())
               AS commits,
           t.relname, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd
    FROM pg_stat_user_tables AS t WHERE t.relname IN ('runs', 'jobs')
    """
)

# This database's WAL records between two positions: those that touch one of its
# relations (block_ref names "rel <tablespace>/<database>/<relation>"), and the commit
# records of the transactions that wrote them.
OWN_WAL = text(
    """
    WITH record AS (
        SELECT xid, record_length, fpi_length,
               resource_manager = 'Transaction' AND record_type = 'COMMIT' AS commit,
               coalesce(block_ref, '') LIKE '%/' || :database || '/%' AS ours
        FROM pg_get_wal_records_info(CAST(:start AS pg_lsn), CAST(:end AS pg_lsn))
    ), writer AS (
        SELECT DISTINCT xid::text AS xid FROM record WHERE ours AND xid::text <> '0'
    )
    SELECT count(*) AS records, coalesce(sum(record_length), 0) AS bytes,
           coalesce(sum(fpi_length), 0) AS fpi_bytes, count(*) FILTER (WHERE commit) AS commits
    FROM record WHERE ours OR xid::text IN (SELECT xid FROM writer)
    """
)


@dataclass(frozen=True)
class Writes:
    """Row writes to one table: inserts, updates, and the updates that were HOT."""

    inserts: int = 0
    updates: int = 0
    hot_updates: int = 0

    def __sub__(self, earlier: Writes) -> Writes:
        return Writes(
            self.inserts - earlier.inserts,
            self.updates - earlier.updates,
            self.hot_updates - earlier.hot_updates,
        )

    @property
    def hot_percent(self) -> float:
        """Of the updates, the share that were HOT (no new index entries), in percent."""
        return 100.0 * self.hot_updates / self.updates if self.updates else 0.0


@dataclass(frozen=True)
class Counters:
    commits: int
    runs: Writes
    jobs: Writes

    def __sub__(self, earlier: Counters) -> Counters:
        return Counters(
            self.commits - earlier.commits, self.runs - earlier.runs, self.jobs - earlier.jobs
        )


@dataclass(frozen=True)
class Wal:
    records: int
    bytes: int
    fpi_bytes: int  # of which full-page images
    commits: int  # commit records: the transactions that wrote


def per_run(total: float, runs: int) -> float:
    if runs <= 0:
        raise ValueError("no runs to divide by")
    return total / runs


class CostProbe:
    """The bench's one connection to the database while a cost is measured. In
    autocommit every statement is one transaction: :attr:`statements` is how many
    commits of the database's count are the probe's own."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self.statements = 0
        event.listen(self.conn, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.statements += 1

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.conn.scalar(text(sql), params or {})

    def counters(self) -> tuple[Counters, int]:
        """The counters, and how many of the probe's own statements they include: every
        one up to the flush that precedes the reading."""
        self.scalar("SELECT pg_stat_force_next_flush()")
        own = self.statements
        rows = self.conn.execute(COUNTERS).mappings().all()
        tables = {
            row["relname"]: Writes(row["n_tup_ins"], row["n_tup_upd"], row["n_tup_hot_upd"])
            for row in rows
        }
        commits = int(rows[0]["commits"]) if rows else 0
        return Counters(commits, tables.get("runs", Writes()), tables.get("jobs", Writes())), own

    def wal_position(self) -> str:
        return str(self.scalar("SELECT pg_current_wal_lsn()"))

    def own_wal(self, start: str, end: str) -> Wal:
        """The database's own WAL between two positions. Needs pg_walinspect (a contrib
        module; creating it in the bench database needs a superuser)."""
        self.conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_walinspect"))
        database = self.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
        row = self.conn.execute(
            OWN_WAL, {"database": str(database), "start": start, "end": end}
        ).one()
        return Wal(int(row.records), int(row.bytes), int(row.fpi_bytes), int(row.commits))

    def wal_between(self, start: str, end: str) -> int:
        """Every database's WAL between two positions (the whole cluster's)."""
        return int(
            self.scalar(
                "SELECT pg_wal_lsn_diff(CAST(:end AS pg_lsn), CAST(:start AS pg_lsn))",
                {"start": start, "end": end},
            )
        )


@dataclass(frozen=True)
class RunCost:
    """A workload's database cost per run, from the counters' change across it."""

    commits: float  # transactions committed by everyone but the bench, per run
    run_updates: float
    run_inserts: float  # rows inserted into runs after the workload's own (retries, next)
    run_hot_percent: float
    job_updates: float
    job_hot_percent: float

    @property
    def run_writes(self) -> float:
        """Writes to a run's row per run, once it exists: each insert or update."""
        return self.run_updates + self.run_inserts


def cost_per_run(change: Counters, own_commits: int, runs: int, inserted: int) -> RunCost:
    """``change`` is the counters after the workload minus before it; the bench itself
    committed ``own_commits`` transactions meanwhile and inserted ``inserted`` jobs with
    one run each, which are not the cost of running them."""
    return RunCost(
        commits=per_run(change.commits - own_commits, runs),
        run_updates=per_run(change.runs.updates, runs),
        run_inserts=per_run(change.runs.inserts - inserted, runs),
        run_hot_percent=change.runs.hot_percent,
        job_updates=per_run(change.jobs.updates, runs),
        job_hot_percent=change.jobs.hot_percent,
    )
