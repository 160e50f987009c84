"""Users: registration, login, reading, updating and deleting accounts."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from tests.integration.helpers import TIME, assert_error, bearer, create_job, parse

USER_KEYS = {"id", "username", "email", "role", "created_at", "updated_at"}
PASSWORD = "a long enough password"


def new_name(prefix: str = "user") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def register(client: Any, **body: Any) -> Any:
    return client.simulate_post("/users/create", json=body)


def login(client: Any, username: str, password: str) -> Any:
    return client.simulate_post("/auth/token", json={"username": username, "password": password})


def assert_user_shape(user: dict[str, Any]) -> None:
    assert set(user) == USER_KEYS, set(user) ^ USER_KEYS
    uuid.UUID(user["id"])
    assert user["role"] in {"user", "admin"}
    assert TIME.match(user["created_at"]), user
    assert TIME.match(user["updated_at"]), user


def assert_no_secrets(result: Any, *passwords: str) -> None:
    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            found = {str(key).lower() for key in value}
            for item in value.values():
                found |= keys(item)
            return found
        if isinstance(value, list):
            return set().union(*(keys(item) for item in value)) if value else set()
        return set()

    if result.text:
        found = keys(result.json)
        assert "password" not in found, result.text
        assert "password_hash" not in found, result.text
        assert "$argon2" not in result.text
        for password in passwords:
            assert password not in result.text


def count(engine: Any, statement: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(statement), params).scalar_one())


# --- registration -------------------------------------------------------------------------------


def test_register_returns_the_user_and_a_working_token(client, settings):
    username = new_name()
    before = datetime.now(UTC) - timedelta(seconds=2)
    result = register(client, username=username, password=PASSWORD, email="me@example.test")

    assert result.status_code == 201, result.text
    assert set(result.json) == {"user", "token"}
    user = result.json["user"]
    assert_user_shape(user)
    assert user["username"] == username
    assert user["email"] == "me@example.test"
    assert user["role"] == "user"
    created = parse(user["created_at"])
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=2)
    assert_no_secrets(result, PASSWORD)

    token = result.json["token"]
    assert isinstance(token, str)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == user["id"]
    assert claims["role"] == "user"
    assert {"iat", "exp"} <= set(claims)

    fetched = client.simulate_get(f"/users/{user['id']}", headers=bearer(token))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json == user


def test_register_without_email(client):
    result = register(client, username=new_name(), password=PASSWORD)
    assert result.status_code == 201, result.text
    assert result.json["user"]["email"] is None


def test_register_taken_username_is_a_conflict(client):
    username = new_name()
    assert register(client, username=username, password=PASSWORD).status_code == 201
    assert_error(register(client, username=username, password=PASSWORD), 409)


def test_register_taken_username_in_other_case_is_a_conflict(client):
    username = new_name("Mixed")
    assert register(client, username=username, password=PASSWORD).status_code == 201
    assert_error(register(client, username=username.lower(), password=PASSWORD), 409)
    assert_error(register(client, username=username.upper(), password=PASSWORD), 409)


@pytest.mark.parametrize(
    "username",
    ["ab", "x" * 65, "has space", "slash/name", "émile_x", "semi;colon", "", 12345, None, ["a"]],
)
def test_register_bad_username_is_rejected(client, username):
    body: dict[str, Any] = {"password": PASSWORD}
    if username is not None:
        body["username"] = username
    assert_error(register(client, **body), 400, "username")


@pytest.mark.parametrize("username", ["abc", "x" * 64, "A.b-c_9"])
def test_register_username_bounds_are_accepted(client, username):
    # Make the name unique while keeping its length and alphabet.
    suffix = uuid.uuid4().hex[:3]
    candidate = username[: len(username) - 3] + suffix
    result = register(client, username=candidate, password=PASSWORD)
    assert result.status_code == 201, result.text
    assert result.json["user"]["username"] == candidate


@pytest.mark.parametrize("password", ["short", "1234567", "", 12345678, None, ["password1"]])
def test_register_bad_password_is_rejected(client, password):
    body: dict[str, Any] = {"username": new_name()}
    if password is not None:
        body["password"] = password
    result = register(client, **body)
    assert_error(result, 400, "password")
    assert_no_secrets(result)


def test_register_eight_character_password_is_accepted(client):
    result = register(client, username=new_name(), password="12345678")
    assert result.status_code == 201, result.text


def test_register_unknown_field_is_rejected(client):
    assert_error(register(client, username=new_name(), password=PASSWORD, foo=1), 400, "foo")


def test_register_cannot_make_itself_admin(client):
    username = new_name()
    result = register(client, username=username, password=PASSWORD, role="admin")
    assert result.status_code in {400, 403}, result.text
    assert_error(result, result.status_code)
    assert login(client, username, PASSWORD).status_code == 401


# --- login ----------------------------------------------------------------------------------


def test_login_returns_a_bearer_token(client, user, settings):
    result = login(client, user.username, user.password)

    assert result.status_code == 200, result.text
    assert set(result.json) == {"access_token", "token_type", "expires_in"}
    assert result.json["token_type"] == "bearer"
    expires_in = result.json["expires_in"]
    assert isinstance(expires_in, int)
    assert not isinstance(expires_in, bool)
    assert expires_in > 0
    claims = jwt.decode(result.json["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == user.id
    assert claims["role"] == "user"
    assert abs((claims["exp"] - claims["iat"]) - expires_in) <= 1
    assert_no_secrets(result, user.password)

    me = client.simulate_get(f"/users/{user.id}", headers=bearer(result.json["access_token"]))
    assert me.status_code == 200, me.text


def test_wrong_password_and_unknown_user_get_the_same_401(client, user):
    wrong = login(client, user.username, "not the password")
    unknown = login(client, new_name("ghost"), "not the password")

    assert_error(wrong, 401)
    assert_error(unknown, 401)
    assert wrong.json == unknown.json


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "abc"}, {"password": PASSWORD}, {"username": 5, "password": PASSWORD}],
)
def test_login_with_missing_fields_fails_without_a_token(client, body):
    result = client.simulate_post("/auth/token", json=body)
    assert result.status_code in {400, 401}, result.text
    assert_error(result, result.status_code)


# --- read -----------------------------------------------------------------------------------


def test_get_self(client, user):
    result = client.simulate_get(f"/users/{user.id}", headers=user.headers)

    assert result.status_code == 200, result.text
    assert_user_shape(result.json)
    assert result.json["id"] == user.id
    assert result.json["username"] == user.username
    assert result.json["role"] == "user"
    assert_no_secrets(result, user.password)


def test_get_another_user_is_not_found(client, user, other_user):
    assert_error(client.simulate_get(f"/users/{other_user.id}", headers=user.headers), 404)


def test_admin_can_get_any_user(client, user, admin):
    result = client.simulate_get(f"/users/{user.id}", headers=admin.headers)
    assert result.status_code == 200, result.text
    assert result.json["username"] == user.username
    assert_no_secrets(result, user.password)


def test_get_unknown_or_malformed_user_is_not_found(client, user, admin):
    assert_error(client.simulate_get(f"/users/{uuid.uuid4()}", headers=admin.headers), 404)
    assert_error(client.simulate_get("/users/not-a-uuid", headers=user.headers), 404)


def test_get_user_requires_a_token(client, user):
    result = client.simulate_get(f"/users/{user.id}")
    assert_error(result, 401)
    assert "bearer" in result.headers.get("WWW-Authenticate", "").lower()


# --- update ---------------------------------------------------------------------------------


def update(client: Any, account: Any, user_id: str, body: Any) -> Any:
    return client.simulate_put(f"/users/{user_id}/update", json=body, headers=account.headers)


def test_update_username_email_and_password(client, user):
    new_username = new_name("renamed")
    new_password = "a brand new password"
    result = update(
        client,
        user,
        user.id,
        {
            "username": new_username,
            "email": "new@example.test",
            "password": new_password,
            "current_password": user.password,
        },
    )

    assert result.status_code == 200, result.text
    assert_user_shape(result.json)
    assert result.json["id"] == user.id
    assert result.json["username"] == new_username
    assert result.json["email"] == "new@example.test"
    assert result.json["role"] == "user"
    assert result.json["updated_at"] >= result.json["created_at"]
    assert_no_secrets(result, new_password, user.password)

    assert_error(login(client, new_username, user.password), 401)
    assert_error(login(client, user.username, new_password), 401)
    fresh = login(client, new_username, new_password)
    assert fresh.status_code == 200

    headers = {"Authorization": f"Bearer {fresh.json['access_token']}"}
    fetched = client.simulate_get(f"/users/{user.id}", headers=headers)
    assert fetched.json["username"] == new_username


def test_update_only_email_keeps_the_rest(client, user):
    result = update(client, user, user.id, {"email": "only@example.test"})
    assert result.status_code == 200, result.text
    assert result.json["username"] == user.username
    assert result.json["email"] == "only@example.test"
    assert login(client, user.username, user.password).status_code == 200


def test_update_role_by_a_user_is_forbidden(client, user):
    assert_error(update(client, user, user.id, {"role": "admin"}), 403)
    fetched = client.simulate_get(f"/users/{user.id}", headers=user.headers)
    assert fetched.json["role"] == "user"


def test_admin_may_set_a_role(client, user, admin):
    result = update(client, admin, user.id, {"role": "admin"})
    assert result.status_code == 200, result.text
    assert result.json["role"] == "admin"
    fetched = client.simulate_get(f"/users/{user.id}", headers=admin.headers)
    assert fetched.json["role"] == "admin"


def test_admin_setting_an_unknown_role_is_rejected(client, user, admin):
    assert_error(update(client, admin, user.id, {"role": "root"}), 400, "role")


def test_update_another_user_is_not_found(client, user, other_user):
    assert_error(update(client, user, other_user.id, {"email": "x@example.test"}), 404)
    fetched = client.simulate_get(f"/users/{other_user.id}", headers=other_user.headers)
    assert fetched.json["email"] is None


def test_admin_can_update_another_user(client, user, admin):
    result = update(client, admin, user.id, {"email": "set-by-admin@example.test"})
    assert result.status_code == 200, result.text
    assert result.json["email"] == "set-by-admin@example.test"


def test_update_to_a_taken_username_is_a_conflict(client, user, other_user):
    assert_error(update(client, user, user.id, {"username": other_user.username.upper()}), 409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "no"}, "username"),
        ({"username": "bad name"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": 12345678}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"foo": "bar"}, "foo"),
    ],
)
def test_update_bad_fields_are_rejected(client, user, body, field):
    assert_error(update(client, user, user.id, body), 400, field)


def test_update_malformed_id_is_not_found(client, user):
    assert_error(update(client, user, "nope", {"email": "a@example.test"}), 404)


# --- delete ---------------------------------------------------------------------------------


def delete(client: Any, account: Any, user_id: str) -> Any:
    return client.simulate_delete(f"/users/{user_id}/delete", headers=account.headers)


def test_delete_self_removes_the_user_their_jobs_and_token(client, user, engine):
    for _ in range(2):
        create_job(client, user)
    assert count(engine, "SELECT count(*) FROM jobs WHERE owner_id = :u", u=user.id) == 2

    result = delete(client, user, user.id)

    assert result.status_code == 204, result.text
    assert result.text == ""
    assert count(engine, "SELECT count(*) FROM users WHERE id = :u", u=user.id) == 0
    assert count(engine, "SELECT count(*) FROM jobs WHERE owner_id = :u", u=user.id) == 0
    assert (
        count(
            engine,
            "SELECT count(*) FROM runs r LEFT JOIN jobs j ON j.id = r.job_id WHERE j.id IS NULL",
        )
        == 0
    )
    gone = client.simulate_get("/jobs", headers=user.headers)
    assert_error(gone, 401)
    assert "bearer" in gone.headers.get("WWW-Authenticate", "").lower()
    assert_error(login(client, user.username, user.password), 401)


def test_delete_another_user_is_not_found(client, user, other_user, engine):
    assert_error(delete(client, user, other_user.id), 404)
    assert count(engine, "SELECT count(*) FROM users WHERE id = :u", u=other_user.id) == 1


def test_admin_can_delete_any_user(client, user, admin, engine):
    result = delete(client, admin, user.id)
    assert result.status_code == 204, result.text
    assert count(engine, "SELECT count(*) FROM users WHERE id = :u", u=user.id) == 0
    assert_error(delete(client, admin, user.id), 404)


def test_delete_malformed_id_is_not_found(client, user):
    assert_error(delete(client, user, "nope"), 404)


def test_concurrent_registrations_of_one_username_create_one_user(client):
    username = new_name("race")
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(
            pool.map(lambda _: register(client, username=username, password=PASSWORD), range(5))
        )
    statuses = sorted(result.status_code for result in results)
    assert statuses == [201] + [409] * 4, [result.text for result in results]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nul\u0000@example.test"},
        {"email": "sur\ud800@example.test"},
        {"username": "nul\u0000name"},
        {"password": "p" * 100_000},
        {"password": "nul\u0000password"},
        {"email": "x" * 5000 + "@example.test"},
    ],
    ids=["email-nul", "email-surrogate", "username-nul", "huge-password", "password-nul", "long"],
)
def test_odd_user_fields_never_fail_the_server(client, user, body):
    created = client.simulate_post(
        "/users/create",
        body=json.dumps({"username": new_name(), "password": PASSWORD, **body}),
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code in {201, 400}, created.text
    updated = client.simulate_put(
        f"/users/{user.id}/update",
        body=json.dumps(body),
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert updated.status_code in {200, 400}, updated.text
    if updated.status_code == 400:
        assert_error(updated, 400, next(iter(body)))


def test_password_update_stores_a_new_hash_not_the_password(client, user, engine):
    def stored_hash() -> str:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT password_hash FROM users WHERE id = :u"), {"u": user.id}
            ).scalar_one()

    before = stored_hash()
    new_password = "another good password"
    body = {"password": new_password, "current_password": user.password}
    assert update(client, user, user.id, body).status_code == 200
    after = stored_hash()
    assert after != before
    assert new_password not in after


def test_passwords_and_hashes_never_reach_the_logs(client, user, engine, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "a secret password 123"
    username = new_name()
    created = register(client, username=username, password=secret)
    assert created.status_code == 201, created.text
    login(client, username, secret)
    login(client, username, secret + "-wrong")
    new_secret = "a new secret password 456"
    update(client, user, user.id, {"password": new_secret})
    register(client, username=username, password=secret)  # 409
    with engine.connect() as conn:
        hashes = conn.execute(
            text("SELECT password_hash FROM users WHERE id IN (:a, :b)"),
            {"a": created.json["user"]["id"], "b": user.id},
        ).scalars()
        hashes = list(hashes)
    for needle in [secret, new_secret, user.password, *hashes]:
        assert needle not in caplog.text


def test_admin_login_token_carries_the_admin_role(client, admin, settings):
    result = login(client, admin.username, admin.password)
    assert result.status_code == 200, result.text
    claims = jwt.decode(result.json["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "admin"
    assert claims["sub"] == admin.id


@pytest.fixture
def closed_client(settings, engine):
    from falcon import testing

    from api.app import create_app

    closed = dataclasses.replace(settings, open_registration=False)
    return testing.TestClient(create_app(closed, engine=engine))


def test_closed_registration_is_admin_only(closed_client, user, admin):
    body = {"username": new_name("closed"), "password": PASSWORD}
    anonymous = closed_client.simulate_post("/users/create", json=body)
    assert anonymous.status_code == 401, anonymous.text
    as_user = closed_client.simulate_post("/users/create", json=body, headers=user.headers)
    assert_error(as_user, 403)
    as_admin = closed_client.simulate_post("/users/create", json=body, headers=admin.headers)
    assert as_admin.status_code == 201, as_admin.text
    assert as_admin.json["user"]["username"] == body["username"]
