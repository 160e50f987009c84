"""Passwords (argon2id) and bearer tokens (HS256 JWTs). Tokens are built with PyJWT directly.

PyJWT checks ``exp`` and ``iat`` against the real clock, so valid tokens here are issued at a
fixed moment in the past with a lifetime long enough to still be valid, and expired ones at a
fixed moment long gone: no test depends on when it runs, and none sleeps.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from api import auth
from api.auth import hash_password, issue_token, token_subject, verify_password
from shared.errors import Unauthorized
from shared.settings import Settings

SECRET = "unit-test-secret-" + "s" * 47  # 64 bytes: long enough for HS512 without a warning
OTHER_SECRET = "another-secret-" + "o" * 49
ISSUED = datetime(2025, 1, 1, tzinfo=UTC)
ISSUED_TS = 1735689600
CENTURY = 100 * 365 * 86400
USER_ID = uuid.UUID("6f1c2a9e-3b7d-4e8a-9c51-0d2f4b6a8e13")

SETTINGS = Settings(jwt_secret=SECRET, token_ttl_seconds=CENTURY)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": str(USER_ID),
        "role": "user",
        "iat": ISSUED_TS,
        "exp": ISSUED_TS + CENTURY,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_rejected(token: str, settings: Settings = SETTINGS) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        token_subject(settings, token)
    assert str(caught.value).startswith("Authorization: ")
    return caught.value


# --- tokens ---------------------------------------------------------------------------------


def test_issue_token_then_token_subject_round_trips_the_user_id() -> None:
    token = issue_token(SETTINGS, USER_ID, "user", ISSUED)

    assert token_subject(SETTINGS, token) == USER_ID


def test_issued_token_carries_exactly_sub_role_ver_iat_and_exp() -> None:
    token = issue_token(SETTINGS, USER_ID, "admin", ISSUED, 7)

    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert decoded == {
        "sub": str(USER_ID),
        "role": "admin",
        "ver": 7,
        "iat": ISSUED_TS,
        "exp": ISSUED_TS + CENTURY,
    }


def test_token_lifetime_follows_the_settings() -> None:
    settings = Settings(jwt_secret=SECRET, token_ttl_seconds=3600)
    token = issue_token(settings, USER_ID, "user", ISSUED)

    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert decoded["exp"] - decoded["iat"] == 3600


def test_a_token_built_by_pyjwt_with_the_secret_is_accepted() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")

    assert token_subject(SETTINGS, token) == USER_ID


def test_expired_token_is_unauthorized_and_says_so() -> None:
    settings = Settings(jwt_secret=SECRET, token_ttl_seconds=3600)
    token = issue_token(settings, USER_ID, "user", datetime(2020, 1, 1, tzinfo=UTC))

    error = assert_rejected(token, settings)
    assert "expired" in str(error)


def test_expired_token_built_by_pyjwt_is_unauthorized() -> None:
    token = jwt.encode(claims(iat=1577836800, exp=1577840400), SECRET, algorithm="HS256")

    assert "expired" in str(assert_rejected(token))


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    expires = ISSUED_TS + CENTURY
    token = jwt.encode(claims(exp=expires), SECRET, algorithm="HS256")
    assert token_subject(SETTINGS, token) == USER_ID  # checked, and remembered
    assert token_subject(SETTINGS, token) == USER_ID

    monkeypatch.setattr(auth.time, "time", lambda: expires + auth.LEEWAY_SECONDS + 1.0)
    assert "expired" in str(assert_rejected(token))


def test_a_remembered_token_is_not_valid_under_another_secret() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert token_subject(SETTINGS, token) == USER_ID
    other = Settings(jwt_secret=OTHER_SECRET, token_ttl_seconds=CENTURY)

    assert "invalid" in str(assert_rejected(token, other))


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = jwt.encode(claims(), OTHER_SECRET, algorithm="HS256")

    error = assert_rejected(token)
    assert "invalid" in str(error)
    assert "expired" not in str(error)


def test_token_issued_under_another_settings_secret_is_rejected() -> None:
    other = Settings(jwt_secret=OTHER_SECRET, token_ttl_seconds=CENTURY)
    token = issue_token(other, USER_ID, "user", ISSUED)

    assert_rejected(token)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_rejected_even_with_the_right_secret(algorithm: str) -> None:
    token = jwt.encode(claims(), SECRET, algorithm=algorithm)

    assert jwt.decode(token, SECRET, algorithms=[algorithm])["sub"] == str(USER_ID)
    assert_rejected(token)


def test_alg_none_is_rejected() -> None:
    token = jwt.encode(claims(), None, algorithm="none")

    assert token.endswith(".")
    assert_rejected(token)


def test_hand_made_alg_none_token_is_rejected() -> None:
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims())}."
        assert_rejected(token)


def test_header_claiming_hs256_with_a_stripped_signature_is_rejected() -> None:
    header, payload, _signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")

    assert_rejected(f"{header}.{payload}.")


def test_tampered_claims_are_rejected() -> None:
    header, _payload, signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")
    forged = b64(claims(sub=str(uuid.UUID(int=1)), role="admin"))

    assert_rejected(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("missing", ["exp", "sub", "iat"])
def test_a_token_missing_a_required_claim_is_rejected(missing: str) -> None:
    payload = claims()
    del payload[missing]
    token = jwt.encode(payload, SECRET, algorithm="HS256")

    assert_rejected(token)


@pytest.mark.parametrize("sub", ["alice", "", "6f1c2a9e-3b7d-4e8a-9c51", "1" * 40])
def test_a_subject_that_is_not_a_uuid_is_rejected(sub: str) -> None:
    token = jwt.encode(claims(sub=sub), SECRET, algorithm="HS256")

    assert_rejected(token)


@pytest.mark.parametrize("sub", [12345, ["x"], {"id": "x"}, True, None])
def test_a_subject_that_is_not_a_string_is_rejected(sub: Any) -> None:
    # jwt.encode refuses a non-string sub, so sign the raw claims with PyJWS instead.
    raw = {"sub": sub, "iat": ISSUED_TS, "exp": ISSUED_TS + CENTURY}
    token = jwt.PyJWS().encode(json.dumps(raw).encode(), SECRET, algorithm="HS256")

    assert jwt.PyJWS().decode(token, SECRET, algorithms=["HS256"]) == json.dumps(raw).encode()
    assert_rejected(token)


def test_a_token_issued_by_a_host_a_few_seconds_ahead_is_accepted() -> None:
    """M3: clocks differ between hosts; 30 s of leeway on iat, nbf and exp."""
    now = int(datetime.now(UTC).timestamp())
    ahead = jwt.encode(claims(iat=now + 20, exp=now + 3600), SECRET, algorithm="HS256")
    just_expired = jwt.encode(claims(iat=now - 3600, exp=now - 20), SECRET, algorithm="HS256")

    assert token_subject(SETTINGS, ahead) == USER_ID
    assert token_subject(SETTINGS, just_expired) == USER_ID
    expired = jwt.encode(claims(iat=now - 3600, exp=now - 120), SECRET, algorithm="HS256")
    assert "expired" in str(assert_rejected(expired))


def test_the_token_version_is_carried_and_checked_as_an_integer() -> None:
    versioned = jwt.encode(claims(ver=3), SECRET, algorithm="HS256")
    assert auth.token_claims(SETTINGS, versioned).version == 3
    # A token from before versions existed is version 0, which a new account has too.
    assert auth.token_claims(SETTINGS, jwt.encode(claims(), SECRET, algorithm="HS256")).version == 0
    assert_rejected(jwt.encode(claims(ver="3"), SECRET, algorithm="HS256"))
    assert_rejected(jwt.encode(claims(ver=True), SECRET, algorithm="HS256"))


def test_a_token_not_yet_issued_is_rejected() -> None:
    token = jwt.encode(claims(iat=4102444800, exp=4102444800 + 3600), SECRET, algorithm="HS256")

    assert_rejected(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "not.a.token",
        "a.b.c.d",
        "Bearer x",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\x00\xff",
        "é.é.é",
    ],
)
def test_garbage_is_rejected(token: str) -> None:
    error = assert_rejected(token)
    assert str(error) == "Authorization: the token is invalid"


def test_token_uuid_is_canonicalised() -> None:
    token = jwt.encode(claims(sub=str(USER_ID).upper()), SECRET, algorithm="HS256")

    assert token_subject(SETTINGS, token) == USER_ID


# --- passwords ------------------------------------------------------------------------------


PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)


def test_hash_is_argon2id() -> None:
    assert HASH.startswith("$argon2id$")
    assert PASSWORD not in HASH


def test_hashes_are_salted() -> None:
    other = hash_password(PASSWORD)

    assert other != HASH
    assert verify_password(other, PASSWORD) is True


def test_verify_password_accepts_the_right_password() -> None:
    assert verify_password(HASH, PASSWORD) is True


@pytest.mark.parametrize("attempt", ["Correct horse battery staple", PASSWORD + " "])
def test_verify_password_refuses_a_wrong_password(attempt: str) -> None:
    assert verify_password(HASH, attempt) is False


def test_verify_password_for_an_unknown_user_is_false() -> None:
    assert verify_password(None, "x") is False
    assert verify_password(None, PASSWORD) is False


def test_the_timing_equaliser_password_does_not_log_in_an_unknown_user() -> None:
    assert verify_password(None, "chronos-timing-equaliser") is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$garbage", "$2b$12$abcdef"])
def test_verify_password_against_a_corrupt_hash_is_false(stored: str) -> None:
    assert verify_password(stored, PASSWORD) is False
