"""Login throttling: a flood of password guesses gets 429 with Retry-After.

Two limits: every attempt counts against the client's address (a flood from one place;
CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE), and every failed attempt counts against the username
(a slow guess at one account from many places; CHRONOS_LOGIN_FAILURES_PER_USER per 15
minutes). The counters live in PostgreSQL, so they hold across API processes and
hosts. Behind a reverse proxy, every client shares the proxy's address: raise
CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE accordingly or terminate the flood at the proxy.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import Engine

from shared.errors import TooManyRequests
from shared.repository import Row
from shared.repository import throttle as throttle_repo

ADDRESS_WINDOW = timedelta(minutes=1)
USERNAME_WINDOW = timedelta(minutes=15)


def _retry_after(counter: Row, window: timedelta, now: datetime) -> int:
    window_end: datetime = counter["window_start"] + window
    return max(1, math.ceil((window_end - now).total_seconds()))


class LoginThrottle:
    def __init__(self, engine: Engine, *, per_address: int, failures_per_username: int) -> None:
        self.engine = engine
        self.per_address = per_address
        self.failures_per_username = failures_per_username

    def before_attempt(self, address: str, username: str, now: datetime) -> None:
        """Count the attempt against the address; refuse if either limit is reached."""
        with self.engine.begin() as conn:
            counters = throttle_repo.count_attempt(conn, [f"ip:{address}"], now, ADDRESS_WINDOW)
            failures = throttle_repo.current(conn, self.user_key(username), now, USERNAME_WINDOW)
        by_address = counters[f"ip:{address}"]
        if by_address["attempts"] > self.per_address:
            raise TooManyRequests(
                "too many login attempts from this address; retry later",
                _retry_after(by_address, ADDRESS_WINDOW, now),
            )
        if failures is not None and failures["attempts"] >= self.failures_per_username:
            raise TooManyRequests(
                "username: too many failed logins for this user; retry later",
                _retry_after(failures, USERNAME_WINDOW, now),
            )

    def after_failure(self, username: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            throttle_repo.count_attempt(conn, [self.user_key(username)], now, USERNAME_WINDOW)

    @staticmethod
    def user_key(username: str) -> str:
        return f"user:{username.lower()}"
