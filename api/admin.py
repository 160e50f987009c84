"""Create the first admin, or promote a user: ``python -m api.admin USERNAME``.

The password is read from CHRONOS_ADMIN_PASSWORD, or asked for at a prompt. An existing
user is promoted to admin (and given the new password only if one was supplied through
the environment).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from api.auth import hash_password
from shared.clock import SystemClock
from shared.db import make_engine
from shared.errors import ChronosError
from shared.repository import users as user_repo
from shared.settings import load_settings
from shared.states import Role
from shared.validation import parse_password, parse_username


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.admin", description=__doc__)
    parser.add_argument("username")
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
                changes: dict[str, str] = {"role": Role.ADMIN}
                if env_password:
                    changes["password_hash"] = hash_password(parse_password(env_password))
                user_repo.update_user(conn, existing["id"], changes, now)
                print(f"{username} is now an admin")
                return 0
            password = env_password or getpass.getpass(f"Password for {username}: ")
            user_repo.insert_user(
                conn,
                username=username,
                email=None,
                password_hash=hash_password(parse_password(password)),
                role=Role.ADMIN,
                now=now,
            )
            print(f"created admin {username}")
            return 0
    except ChronosError as error:
        print(f"error: {error.description}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
