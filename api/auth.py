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
from sqlalchemy import Connection, Engine

from api.dashboard import forms, session
from api.media import buffer_body
from shared.errors import Unauthorized
from shared.repository import Row
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


def issue_token(
    settings: Settings, user_id: uuid.UUID, role: str, now: datetime, version: int = 0
) -> str:
    """A token for the user. ``ver`` is the user's ``token_version`` when it was issued:
    a password or role change raises the stored one and so ends this token."""
    claims = {
        "sub": str(user_id),
        "role": role,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


# Hosts' clocks differ: a token issued by one API host a few seconds "in the future" of
# another must not be refused there (an ``iat`` ahead of the clock), nor one expire early.
LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class TokenClaims:
    subject: uuid.UUID
    version: int


def token_claims(settings: Settings, token: str) -> TokenClaims:
    """The user id and token version of a valid token. Only HS256; ``exp``, ``iat`` and
    ``sub`` required. Compare ``version`` with the user row's: see :func:`authenticated`."""
    try:
        subject, expires, version = _verified(settings.jwt_secret, token)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Authorization: the token has expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("Authorization: the token is invalid") from None
    if expires + LEEWAY_SECONDS <= time.time():  # a remembered token expires like any other
        raise Unauthorized("Authorization: the token has expired")
    return TokenClaims(subject, version)


def token_subject(settings: Settings, token: str) -> uuid.UUID:
    """The user id a valid token names (its version unchecked)."""
    return token_claims(settings, token).subject


def authenticated(conn: Connection, claims: TokenClaims) -> Row:
    """The token's user, read fresh: 401 if the account is gone, or if the token predates
    the account's last password or role change (its version is behind the row's). The
    verified-token cache above cannot remember a revocation, so this check is made
    against the row on every request."""
    user = user_repo.get_user(conn, claims.subject)
    if user is None:
        raise Unauthorized("Authorization: the token's user no longer exists")
    if user["token_version"] != claims.version:
        raise Unauthorized("Authorization: the token was revoked; sign in again")
    return user


@lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[uuid.UUID, float, int]:
    """A token's subject, expiry and version, remembered once its signature checked out.

    Clients send the same token with every request, and checking it was a tenth of a
    submit's CPU. Only valid tokens are remembered (a failure raises, and lru_cache keeps
    no exceptions), keyed by the whole token, so a changed byte is checked afresh. A
    token from before versions existed has no ``ver``: it is version 0."""
    claims = jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        options={"require": ["exp", "iat", "sub"]},
        leeway=LEEWAY_SECONDS,
    )
    version = claims.get("ver", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise jwt.InvalidTokenError("ver: expected an integer")
    return uuid.UUID(str(claims["sub"])), float(claims["exp"]), version


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
    database, so a demotion takes effect at once, and the token's version must match the
    row's, so a password or role change ends older tokens (no extra query: the same row).
    The connection that read the user stays with the request (``req.context.conn``) and
    is closed with the response."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None or not getattr(resource, "auth_required", True):
            return
        if getattr(resource, "session_cookie", False):
            self._from_session(req)
            return
        header = req.get_header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: a bearer token is required")
        claims = token_claims(self.settings, token.strip())
        # The body first: a client uploading slowly must not hold a pooled connection, and a
        # transaction, while it does.
        buffer_body(req, self.settings.max_body_bytes)
        # The request keeps this connection: the resource works in the same transaction
        # (Resource.transaction), which saves a checkout and a round trip or three.
        conn = self.engine.connect()
        req.context.conn = conn
        user = authenticated(conn, claims)
        req.context.user = CurrentUser(user["id"], user["username"], user["role"])

    def _from_session(self, req: falcon.Request) -> None:
        """The dashboard's pages: the same token, from the session cookie; without a
        valid one, the browser is sent to sign in (and brought back after)."""
        token = session.session_token(req)
        try:
            if token is None:
                raise Unauthorized("session: not signed in")
            claims = token_claims(self.settings, token)
            forms.buffer_form(req, self.settings.max_body_bytes)
            conn = self.engine.connect()
            req.context.conn = conn
            user = authenticated(conn, claims)
        except Unauthorized:
            raise session.sign_in_first(req) from None
        req.context.user = CurrentUser(user["id"], user["username"], user["role"])

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        conn = req.context.get("conn")
        if conn is not None:
            req.context.conn = None
            conn.close()  # rolls back whatever the resource left uncommitted
