"""Deleting an account without a request that outlives gunicorn's timeout.

One cascading DELETE of an account with millions of runs took longer than the worker's
30 s: gunicorn killed it, the transaction rolled back, and the account could never be
deleted. So a deletion is two parts. :func:`delete_account` does at once, in one
transaction, what the contract promises at once (the account is gone from every lookup,
its tokens end, its jobs are cancelled). :func:`purge_deleted_accounts` then deletes the
run history in short batches, each its own transaction, for as long as its budget
allows; the request spends what is left of its budget on it, and any later call (another
deletion, ``python -m api.admin --purge-deleted`` or a maintenance pass) resumes where
it stopped. Several purges may run at once: SKIP LOCKED keeps them on different
accounts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine

from shared.errors import Conflict
from shared.repository import users as user_repo
from shared.states import Role

PURGE_BATCH = 5000


def guard_last_admin(conn: Connection, user_id: uuid.UUID) -> None:
    """409 if ``user_id`` is the only admin: nobody could then administer Chronos
    without the CLI. Call it in the transaction that demotes or deletes the account."""
    admins = user_repo.lock_admins(conn)
    if admins == [user_id]:
        raise Conflict("role: this is the last admin; make another admin first")


def delete_account(conn: Connection, user_id: uuid.UUID, role: str, now: datetime) -> bool:
    """Delete the account as far as anyone can see; False if there is none."""
    if role == Role.ADMIN:
        guard_last_admin(conn, user_id)
    return user_repo.mark_deleted(conn, user_id, now)


def purge_deleted_accounts(
    engine: Engine,
    budget_seconds: float,
    *,
    batch: int = PURGE_BATCH,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Purge deleted accounts batch by batch until none is left or the budget is spent
    (at least one batch runs). Returns how many accounts were removed completely."""
    deadline = monotonic() + budget_seconds
    removed = 0
    while True:
        with engine.begin() as conn:
            pending = user_repo.deleted_users(conn, 1)
            if not pending:
                return removed
            user_id = pending[0]
            if user_repo.purge_runs(conn, user_id, batch) < batch:
                user_repo.delete_user(conn, user_id)  # the last runs; the jobs cascade
                removed += 1
        if monotonic() >= deadline:
            return removed
