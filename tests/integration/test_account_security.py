"""Accounts and tokens under a hostile user (issue 10): revocation, the current password,
the last admin, the admin CLI, and deleting an account too big for one transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from falcon import testing
from sqlalchemy import Engine, text

from api import admin as admin_cli
from api.app import create_app
from shared import accounts
from shared.settings import Settings
from tests.integration.conftest import Account
from tests.integration.helpers import create_job, later, sent


def update(client: testing.TestClient, who: Account, user_id: str, body: dict[str, Any]) -> Any:
    return client.simulate_put(f"/users/{user_id}/update", json=body, headers=who.headers)


def me(client: testing.TestClient, who: Account) -> int:
    return client.simulate_get(f"/users/{who.id}", headers=who.headers).status_code


# --- M1: tokens end on a password or role change; the current password -----------------


def test_a_password_change_ends_earlier_tokens(client: testing.TestClient, user: Account) -> None:
    body = {"password": "a brand new password", "current_password": user.password}
    assert update(client, user, user.id, body).status_code == 200
    answer = client.simulate_get(f"/users/{user.id}", headers=user.headers)
    assert answer.status_code == 401
    assert "revoked" in answer.json["description"]
    fresh = client.simulate_post(
        "/auth/token", json={"username": user.username, "password": "a brand new password"}
    )
    headers = {"Authorization": f"Bearer {fresh.json['access_token']}"}
    assert client.simulate_get(f"/users/{user.id}", headers=headers).status_code == 200


def test_a_role_change_ends_earlier_tokens(
    client: testing.TestClient, user: Account, admin: Account
) -> None:
    assert update(client, admin, user.id, {"role": "admin"}).status_code == 200
    assert me(client, user) == 401
    assert me(client, admin) == 200  # the admin's own tokens are untouched


def test_an_unchanged_role_or_an_email_change_keeps_tokens(
    client: testing.TestClient, user: Account, admin: Account
) -> None:
    assert update(client, admin, user.id, {"role": "user"}).status_code == 200
    assert update(client, user, user.id, {"email": "kept@example.test"}).status_code == 200
    assert me(client, user) == 200


def test_changing_your_own_password_needs_the_current_one(
    client: testing.TestClient, user: Account
) -> None:
    missing = update(client, user, user.id, {"password": "a brand new password"})
    assert missing.status_code == 400
    assert missing.json["description"].startswith("current_password:")
    wrong = update(
        client,
        user,
        user.id,
        {"password": "a brand new password", "current_password": "not the password"},
    )
    assert wrong.status_code == 403
    assert wrong.json["description"].startswith("current_password:")
    assert "not the password" not in wrong.text
    not_text = update(client, user, user.id, {"password": "a new password", "current_password": 5})
    assert not_text.status_code == 400
    assert "current_password" in not_text.json["description"]
    assert me(client, user) == 200  # nothing changed


def test_guesses_at_the_current_password_are_throttled_like_logins(
    settings: Settings, engine: Engine, user: Account
) -> None:
    """A stolen token gives no unthrottled way to guess the password."""
    limited = dataclasses.replace(settings, login_failures_per_user=2)
    client = testing.TestClient(create_app(limited, engine=engine))
    body = {"password": "a brand new password", "current_password": "a wrong guess"}
    statuses = [update(client, user, user.id, body).status_code for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_an_admin_resets_another_users_password_without_it(
    client: testing.TestClient, user: Account, admin: Account
) -> None:
    assert update(client, admin, user.id, {"password": "reset by the admin"}).status_code == 200
    assert me(client, user) == 401


def test_an_admin_changing_their_own_password_needs_the_current_one(
    client: testing.TestClient, admin: Account
) -> None:
    assert update(client, admin, admin.id, {"password": "a brand new password"}).status_code == 400


def test_a_deleted_users_token_ends_at_once(client: testing.TestClient, user: Account) -> None:
    assert (
        client.simulate_delete(f"/users/{user.id}/delete", headers=user.headers).status_code == 204
    )
    assert me(client, user) == 401


# --- L7: the last admin ----------------------------------------------------------------


@pytest.fixture
def only_admin(engine: Engine, admin: Account) -> Iterator[Account]:
    """``admin`` as the only admin (other tests' admins are users meanwhile)."""
    with engine.begin() as conn:
        others = (
            conn.execute(
                text(
                    "UPDATE users SET role = 'user' WHERE role = 'admin' AND id <> :me RETURNING id"
                ),
                {"me": admin.id},
            )
            .scalars()
            .all()
        )
    yield admin
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = ANY(:ids)"), {"ids": others})


def test_the_last_admin_cannot_demote_or_delete_itself(
    client: testing.TestClient, only_admin: Account, make_user: Callable[..., Account]
) -> None:
    demoted = update(client, only_admin, only_admin.id, {"role": "user"})
    assert demoted.status_code == 409
    assert "last admin" in demoted.json["description"]
    deleted = client.simulate_delete(f"/users/{only_admin.id}/delete", headers=only_admin.headers)
    assert deleted.status_code == 409
    assert me(client, only_admin) == 200
    # With a second admin, either may go.
    second = make_user(role="admin")
    assert update(client, only_admin, only_admin.id, {"role": "user"}).status_code == 200
    assert update(client, second, second.id, {"role": "user"}).status_code == 409


# --- H4: the admin CLI never promotes an existing account silently ---------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("CHRONOS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CHRONOS_JWT_SECRET", settings.jwt_secret)
    monkeypatch.setenv("CHRONOS_ADMIN_PASSWORD", "the operator's password")


def role_of(engine: Engine, user_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(text("SELECT role FROM users WHERE id = :id"), {"id": user_id}))


def test_the_cli_refuses_to_promote_a_squatted_account(
    cli_env: None, engine: Engine, user: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    status = admin_cli.main([user.username.upper()], interactive=lambda: False)
    assert status == 1
    assert "--promote-existing" in capsys.readouterr().err
    assert role_of(engine, user.id) == "user"
    # At a prompt, anything but yes refuses too.
    assert admin_cli.main([user.username], ask=lambda _: "", interactive=lambda: True) == 1
    assert role_of(engine, user.id) == "user"


def test_the_cli_promotes_on_request_and_resets_the_password(
    cli_env: None, engine: Engine, client: testing.TestClient, user: Account
) -> None:
    assert admin_cli.main([user.username, "--promote-existing"]) == 0
    assert role_of(engine, user.id) == "admin"
    assert me(client, user) == 401  # the squatter's token is over
    old = client.simulate_post(
        "/auth/token", json={"username": user.username, "password": user.password}
    )
    assert old.status_code == 401
    new = client.simulate_post(
        "/auth/token", json={"username": user.username, "password": "the operator's password"}
    )
    assert new.status_code == 200
    other = f"a{uuid.uuid4().hex[:10]}"
    assert admin_cli.main([other], ask=lambda _: "yes", interactive=lambda: True) == 0


# --- L8: deleting a large account is bounded -------------------------------------------


def test_deleting_an_account_with_many_runs_is_bounded(
    settings: Settings, engine: Engine, make_user: Callable[..., Account]
) -> None:
    """The request purges at most one batch when its budget is spent; the account is gone
    for everyone at once, and a later pass purges the rest."""
    client = testing.TestClient(
        create_app(dataclasses.replace(settings, account_purge_seconds=0), engine=engine)
    )
    owner = make_user()
    job = create_job(client, owner, schedule={"run_at": sent(later(days=1))})
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, job_id, attempt, origin, priority, scheduled_for, due_at, "
                "state, queued_at, started_at, finished_at, created_at) "
                "SELECT gen_random_uuid(), :job, 1, 'schedule', 0, now() - g * interval '1 s', "
                "now(), 'succeeded', "
                "now(), now(), now(), now() FROM generate_series(1, 20000) AS g"
            ),
            {"job": job["id"]},
        )

    def runs_left() -> int:
        with engine.connect() as conn:
            return int(
                conn.scalar(text("SELECT count(*) FROM runs WHERE job_id = :j"), {"j": job["id"]})
            )

    deleted = client.simulate_delete(f"/users/{owner.id}/delete", headers=owner.headers)
    assert deleted.status_code == 204
    assert runs_left() >= 20000 - accounts.PURGE_BATCH  # the request did one batch at most
    assert me(client, owner) == 401
    again = client.simulate_post(
        "/users/create", json={"username": owner.username, "password": "a fresh password"}
    )
    assert again.status_code == 201  # the name is free at once

    while accounts.purge_deleted_accounts(engine, 60) == 0 and runs_left():
        pass
    assert runs_left() == 0
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM users WHERE id = :id"), {"id": owner.id}) == 0
        assert conn.scalar(text("SELECT count(*) FROM jobs WHERE id = :id"), {"id": job["id"]}) == 0
