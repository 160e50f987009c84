"""Throttles for the unauthenticated routes: logins and sign-ups get 429 with Retry-After.

Logins have two limits, and neither lets one client lock another out:
- every attempt counts against the client's address (a flood from one place;
  CHRONOS_LOGIN_ATTEMPTS_PER_MINUTE);
- every failure counts against the pair (username, address) (a guess at one account
  from one place; CHRONOS_LOGIN_FAILURES_PER_USER per 15 minutes). A per-username limit
  let anyone lock any account, admin included, and refused the right password too; a
  pair only ever locks the address that failed.
Sign-ups count against the address (CHRONOS_SIGNUPS_PER_MINUTE), before any hashing:
each sign-up costs an argon2 hash, and unthrottled they starve every other request.

An IPv6 client usually holds a whole /64, so IPv6 addresses are counted per /64. Each
counter is checked and counted in one statement (an upsert that returns the new count),
so concurrent guesses cannot all pass a check made before any of them was counted: a
login is counted as a failure before the password is checked, and forgiven after it
proved right. The counters live in PostgreSQL, so they hold across API processes and
hosts. Behind a reverse proxy every client shares the proxy's address: raise the
limits accordingly or terminate the flood at the proxy.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from sqlalchemy import Engine

from shared.errors import TooManyRequests
from shared.repository import Row
from shared.repository import throttle as throttle_repo
from shared.usernames import fold_username

ADDRESS_WINDOW = timedelta(minutes=1)
PAIR_WINDOW = timedelta(minutes=15)
SIGNUP_WINDOW = timedelta(minutes=1)


def _retry_after(counter: Row, window: timedelta, now: datetime) -> int:
    window_end: datetime = counter["window_start"] + window
    return max(1, math.ceil((window_end - now).total_seconds()))


def address_bucket(address: str) -> str:
    """The unit an address is counted in: an IPv4 address, or an IPv6 /64 (an IPv4-mapped
    IPv6 address counts as its IPv4 address). Anything else (no address) as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, engine: Engine, *, per_address: int, failures_per_username: int) -> None:
        self.engine = engine
        self.per_address = per_address
        self.failures_per_username = failures_per_username

    def before_attempt(self, address: str, username: str, now: datetime) -> None:
        """Count the attempt against the address, and against the pair as a failure until
        :meth:`after_success` forgives it; refuse if either limit is passed."""
        bucket = address_bucket(address)
        with self.engine.begin() as conn:
            by_address = throttle_repo.count_attempt(conn, [f"ip:{bucket}"], now, ADDRESS_WINDOW)[
                f"ip:{bucket}"
            ]
            pair_key = self.pair_key(username, bucket)
            by_pair = throttle_repo.count_attempt(conn, [pair_key], now, PAIR_WINDOW)[pair_key]
        if by_address["attempts"] > self.per_address:
            raise TooManyRequests(
                "too many login attempts from this address; retry later",
                _retry_after(by_address, ADDRESS_WINDOW, now),
            )
        if by_pair["attempts"] > self.failures_per_username:
            raise TooManyRequests(
                "username: too many failed logins for this user from this address; retry later",
                _retry_after(by_pair, PAIR_WINDOW, now),
            )

    def after_success(self, address: str, username: str) -> None:
        """The password was right: this attempt was no failure, and neither were the
        ones before it from this address."""
        with self.engine.begin() as conn:
            throttle_repo.forget(conn, self.pair_key(username, address_bucket(address)))

    @staticmethod
    def pair_key(username: str, bucket: str) -> str:
        return f"user:{fold_username(username)}|{bucket}"


class SignupThrottle:
    def __init__(self, engine: Engine, *, per_minute: int) -> None:
        self.engine = engine
        self.per_minute = per_minute

    def before_signup(self, address: str, now: datetime) -> None:
        key = f"signup:{address_bucket(address)}"
        with self.engine.begin() as conn:
            counter = throttle_repo.count_attempt(conn, [key], now, SIGNUP_WINDOW)[key]
        if counter["attempts"] > self.per_minute:
            raise TooManyRequests(
                "too many sign-ups from this address; retry later",
                _retry_after(counter, SIGNUP_WINDOW, now),
            )
