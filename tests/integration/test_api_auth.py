"""Bearer tokens: HS256 only, signed with CHRONOS_JWT_SECRET, with sub, role, iat and exp."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from tests.integration.helpers import bearer

ROUTES = [
    ("GET", "/jobs"),
    ("POST", "/jobs/submit"),
    ("POST", "/jobs/batch"),
    ("GET", "/jobs/{id}"),
    ("DELETE", "/jobs/{id}"),
    ("PUT", "/jobs/{id}/reschedule"),
    ("GET", "/jobs/{id}/runs"),
    ("POST", "/jobs/{id}/pause"),
    ("POST", "/jobs/{id}/resume"),
    ("POST", "/jobs/{id}/trigger"),
    ("GET", "/jobs/{id}/upcoming"),
    ("GET", "/users/{id}"),
    ("PUT", "/users/{id}/update"),
    ("DELETE", "/users/{id}/delete"),
    ("GET", "/audit"),
]


def claims_for(account: Any, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": account.id,
        "role": "user",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=10)).timestamp()),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{header}.{body}."


def call(client: Any, headers: dict[str, str] | None = None) -> Any:
    return client.simulate_get("/jobs", headers=headers or {})


def assert_unauthorized(result: Any) -> None:
    assert result.status_code == 401, result.text
    assert set(result.json) == {"title", "description"}, result.json
    challenge = result.headers.get("WWW-Authenticate", "")
    assert challenge.lower().startswith("bearer"), result.headers


def test_a_token_built_by_the_contract_is_accepted(client, user, settings):
    token = jwt.encode(claims_for(user), settings.jwt_secret, algorithm="HS256")
    result = call(client, bearer(token))
    assert result.status_code == 200, result.text
    assert result.json["items"] == []


def test_the_fixture_token_is_accepted(client, user):
    assert call(client, user.headers).status_code == 200


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_requires_a_token(client, user, method, path):
    target = path.replace("{id}", str(uuid.uuid4()))
    if target.startswith("/users/"):
        target = path.replace("{id}", user.id)
    body = {"type": "noop"} if method in {"POST", "PUT"} else None
    result = client.simulate_request(method, target, json=body)
    assert_unauthorized(result)


def test_no_token_on_users_routes_does_not_delete(client, user, engine):
    assert_unauthorized(client.simulate_delete(f"/users/{user.id}/delete"))
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM users WHERE id = :u"), {"u": user.id}
            ).scalar_one()
            == 1
        )


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Token abc",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer " + "x" * 10000,
    ],
)
def test_malformed_authorization_headers_are_rejected(client, header):
    assert_unauthorized(call(client, {"Authorization": header}))


def test_hs512_token_with_the_right_secret_is_rejected(client, user, settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = jwt.encode(claims_for(user), settings.jwt_secret, algorithm="HS512")
    assert_unauthorized(call(client, bearer(token)))


def test_hs384_token_with_the_right_secret_is_rejected(client, user, settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = jwt.encode(claims_for(user), settings.jwt_secret, algorithm="HS384")
    assert_unauthorized(call(client, bearer(token)))


def test_alg_none_token_is_rejected(client, user):
    assert_unauthorized(call(client, bearer(unsigned_token(claims_for(user)))))


def test_alg_none_header_with_an_hs256_signature_is_rejected(client, user, settings):
    real = jwt.encode(claims_for(user), settings.jwt_secret, algorithm="HS256")
    _, body, signature = real.split(".")
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert_unauthorized(call(client, bearer(f"{header}.{body}.{signature}")))


def test_token_without_exp_is_rejected(client, user, settings):
    claims = claims_for(user)
    del claims["exp"]
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_unauthorized(call(client, bearer(token)))


def test_expired_token_is_rejected(client, user, settings):
    past = datetime.now(UTC) - timedelta(hours=2)
    claims = claims_for(
        user,
        iat=int(past.timestamp()),
        exp=int((past + timedelta(hours=1)).timestamp()),
    )
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_unauthorized(call(client, bearer(token)))


def test_token_signed_with_another_secret_is_rejected(client, user, settings):
    token = jwt.encode(claims_for(user), settings.jwt_secret + "-other", algorithm="HS256")
    assert_unauthorized(call(client, bearer(token)))


def test_tampered_token_is_rejected(client, user, settings):
    real = jwt.encode(claims_for(user), settings.jwt_secret, algorithm="HS256")
    header, _, signature = real.split(".")
    forged = b64(json.dumps(claims_for(user, role="admin")).encode())
    assert_unauthorized(call(client, bearer(f"{header}.{forged}.{signature}")))


@pytest.mark.parametrize("sub", ["not-a-uuid", "", "123", None])
def test_token_with_a_bad_subject_is_rejected(client, user, settings, sub):
    claims = claims_for(user)
    if sub is None:
        del claims["sub"]
    else:
        claims["sub"] = sub
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_unauthorized(call(client, bearer(token)))


def test_token_of_an_unknown_user_is_rejected(client, settings):
    now = datetime.now(UTC)
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "admin",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert_unauthorized(call(client, bearer(token)))


def test_token_of_a_deleted_user_is_rejected(client, make_user):
    account = make_user()
    deleted = client.simulate_delete(f"/users/{account.id}/delete", headers=account.headers)
    assert deleted.status_code == 204, deleted.text
    assert_unauthorized(call(client, account.headers))
    assert_unauthorized(client.simulate_get(f"/users/{account.id}", headers=account.headers))
