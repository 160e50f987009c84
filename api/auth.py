"""Passwords (argon2id) and bearer tokens (JWT, HS256 only), and the middleware that
turns a token into ``req.context.user``."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import falcon
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine

from api.media import buffer_body
from shared.errors import Unauthorized
from shared.repository import users as user_repo
from shared.settings import Settings

ALGORITHM = "HS256"
_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a login takes as long for an
# unknown user as for a wrong password and does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("chronos-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def issue_token(settings: Settings, user_id: uuid.UUID, role: str, now: datetime) -> str:
    claims = {
        "sub": str(user_id),
        "role": role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def token_subject(settings: Settings, token: str) -> uuid.UUID:
    """The user id a valid token names. Only HS256; ``exp``, ``iat`` and ``sub`` required."""
    try:
        subject, expires = _verified(settings.jwt_secret, token)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Authorization: the token has expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("Authorization: the token is invalid") from None
    if expires <= time.time():  # a remembered token expires like any other
        raise Unauthorized("Authorization: the token has expired")
    return subject


@lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[uuid.UUID, float]:
    """A token's subject and expiry, remembered once its signature checked out.

    Clients send the same token with every request, and checking it was a tenth of a
    submit's CPU. Only valid tokens are remembered (a failure raises, and lru_cache keeps
    no exceptions), keyed by the whole token, so a changed byte is checked afresh."""
    claims = jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]}
    )
    return uuid.UUID(str(claims["sub"])), float(claims["exp"])


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class Authentication:
    """Falcon middleware: every resource needs a bearer token unless it sets
    ``auth_required = False``. The user must still exist; their role is read from the
    database, so a demotion takes effect at once. The connection that read the user
    stays with the request (``req.context.conn``) and is closed with the response."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None or not getattr(resource, "auth_required", True):
            return
        header = req.get_header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: a bearer token is required")
        user_id = token_subject(self.settings, token.strip())
        # The body first: a client uploading slowly must not hold a pooled connection, and a
        # transaction, while it does.
        buffer_body(req, self.settings.max_body_bytes)
        # The request keeps this connection: the resource works in the same transaction
        # (Resource.transaction), which saves a checkout and a round trip or three.
        conn = self.engine.connect()
        req.context.conn = conn
        user = user_repo.get_user(conn, user_id)
        if user is None:
            raise Unauthorized("Authorization: the token's user no longer exists")
        req.context.user = CurrentUser(user["id"], user["username"], user["role"])

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        conn = req.context.get("conn")
        if conn is not None:
            req.context.conn = None
            conn.close()  # rolls back whatever the resource left uncommitted
