"""Create an admin: ``python -m api.admin USERNAME [--promote-existing]``.

The password is read from CHRONOS_ADMIN_PASSWORD, or asked for at a prompt.

Registration is open, and the API may take traffic before this runs, so a username
that already exists may belong to whoever registered it first. It is therefore never
promoted silently: the tool shows when the account was created and its email, and
promotes it only with ``--promote-existing`` or a "yes" at the prompt, and then always
sets the new password (which also ends the account's earlier tokens). Otherwise it
refuses, with exit status 1.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from api.auth import hash_password
from shared import audit
from shared.clock import SystemClock
from shared.db import make_engine
from shared.errors import ChronosError
from shared.repository import Row
from shared.repository import audit as audit_repo
from shared.repository import users as user_repo
from shared.settings import load_settings
from shared.states import Role
from shared.validation import parse_password, parse_username


def _describe(user: Row) -> str:
    created = user["created_at"].isoformat(timespec="seconds")
    return f"{user['username']!r} (created {created}, email {user['email'] or 'none'})"


def _record(conn: Connection, change: audit.Change | None, now: datetime) -> None:
    """An operator at the command line: no actor, no request."""
    if change is not None:
        audit_repo.record_many(conn, [change], at=now, actor_id=None, request_id=None)


def main(
    argv: list[str] | None = None,
    *,
    ask: Callable[[str], str] = input,
    interactive: Callable[[], bool] = sys.stdin.isatty,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.admin", description=__doc__)
    parser.add_argument("username")
    parser.add_argument(
        "--promote-existing",
        action="store_true",
        help="if the user exists, make it an admin and set its password",
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    now = SystemClock().now()
    engine = make_engine(settings.database_url, pool_size=1, application_name="chronos-admin")
    try:
        username = parse_username(args.username)
        env_password = os.environ.get("CHRONOS_ADMIN_PASSWORD")
        with engine.begin() as conn:
            existing = user_repo.find_user_by_username(conn, username)
            if existing is not None:
                print(f"the user {_describe(existing)} already exists")
                if not args.promote_existing:
                    answer = (
                        ask("Promote it to admin and set a new password? [y/N] ")
                        if (interactive())
                        else ""
                    )
                    if answer.strip().lower() not in {"y", "yes"}:
                        print(
                            f"error: {username!r} exists and was not promoted; pass "
                            "--promote-existing if that account is yours",
                            file=sys.stderr,
                        )
                        return 1
                password = env_password or getpass.getpass(f"New password for {username}: ")
                changes = {
                    "role": Role.ADMIN,
                    "password_hash": hash_password(parse_password(password)),
                }
                user_repo.update_user(conn, existing["id"], changes, now)
                _record(conn, audit.user_updated(existing, changes), now)
                print(f"{existing['username']} is now an admin, with the new password")
                return 0
            password = env_password or getpass.getpass(f"Password for {username}: ")
            created = user_repo.insert_user(
                conn,
                username=username,
                email=None,
                password_hash=hash_password(parse_password(password)),
                role=Role.ADMIN,
                now=now,
            )
            _record(conn, audit.user_created(created, "cli"), now)
            print(f"created admin {username}")
            return 0
    except ChronosError as error:
        print(f"error: {error.description}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
