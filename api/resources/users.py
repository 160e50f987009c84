"""Users and tokens."""

from __future__ import annotations

import uuid
from typing import Any

import falcon

from api import serialize
from api.auth import hash_password, issue_token, token_subject, verify_password
from api.resources.base import Resource, current_user
from api.throttle import LoginThrottle
from shared.errors import Forbidden, NotFound, Unauthorized, ValidationError
from shared.repository import users as user_repo
from shared.states import Role
from shared.validation import parse_email, parse_password, parse_username, reject_unknown


class UserCreate(Resource):
    """Open registration by default; with CHRONOS_OPEN_REGISTRATION=false, admins only."""

    auth_required = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.settings.open_registration:
            self._require_admin(req)
        body = self.body(req)
        reject_unknown(body, {"username", "password", "email"})
        username = parse_username(body.get("username"))
        password = parse_password(body.get("password"))
        email = parse_email(body.get("email"))
        now = self.clock.now()
        password_hash = hash_password(password)  # slow by design: outside the transaction
        with self.transaction(req) as conn:
            user = user_repo.insert_user(
                conn,
                username=username,
                email=email,
                password_hash=password_hash,
                role=Role.USER,
                now=now,
            )
        token = issue_token(self.settings, user["id"], user["role"], now)
        resp.status = falcon.HTTP_201
        resp.media = {"user": serialize.user(user), "token": token}

    def _require_admin(self, req: falcon.Request) -> None:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: registration is closed; an admin token is required")
        with self.transaction(req) as conn:
            user = user_repo.get_user(conn, token_subject(self.settings, token.strip()))
        if user is None:
            raise Unauthorized("Authorization: the token's user no longer exists")
        if user["role"] != Role.ADMIN:
            raise Forbidden("registration is closed: only an admin may create users")


class Token(Resource):
    auth_required = False

    def __init__(self, *args: Any, throttle: LoginThrottle) -> None:
        super().__init__(*args)
        self.throttle = throttle

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req)
        reject_unknown(body, {"username", "password"})
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not username:
            raise ValidationError("username", "required")
        if not isinstance(password, str) or not password:
            raise ValidationError("password", "required")
        username = username[:64]
        now = self.clock.now()
        self.throttle.before_attempt(req.remote_addr or "unknown", username, now)
        with self.transaction(req) as conn:
            user = user_repo.find_user_by_username(conn, username)
        stored = user["password_hash"] if user is not None else None
        # verify_password hashes even for an unknown user, so both failures take as long.
        if not verify_password(stored, password[:1024]) or user is None:
            self.throttle.after_failure(username, now)
            raise Unauthorized("username or password: wrong credentials")
        resp.media = {
            "access_token": issue_token(self.settings, user["id"], user["role"], now),
            "token_type": "bearer",
            "expires_in": self.settings.token_ttl_seconds,
        }


class UserItem(Resource):
    """One user. Another user's id is 404, not 403: existence is never revealed."""

    def _visible(self, req: falcon.Request, user_id: uuid.UUID) -> None:
        me = current_user(req)
        if me.id != user_id and not me.is_admin:
            raise NotFound("user_id: no such user")

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        self._visible(req, user_id)
        with self.transaction(req) as conn:
            user = user_repo.get_user(conn, user_id)
        if user is None:
            raise NotFound("user_id: no such user")
        resp.media = serialize.user(user)

    def on_put_update(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        self._visible(req, user_id)
        body = self.body(req)
        reject_unknown(body, {"username", "email", "password", "role"})
        changes: dict[str, Any] = {}
        if "username" in body:
            changes["username"] = parse_username(body["username"])
        if "email" in body:
            changes["email"] = parse_email(body["email"])
        if "password" in body:
            changes["password_hash"] = hash_password(parse_password(body["password"]))
        if "role" in body:
            if not current_user(req).is_admin:
                raise Forbidden("role: only an admin may change a role")
            if body["role"] not in list(Role):
                raise ValidationError("role", "expected user or admin")
            changes["role"] = body["role"]
        with self.transaction(req) as conn:
            user = user_repo.update_user(conn, user_id, changes, self.clock.now())
        if user is None:
            raise NotFound("user_id: no such user")
        resp.media = serialize.user(user)

    def on_delete_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID
    ) -> None:
        """Deleting a user deletes their jobs and runs. A worker running one of their runs
        sees the run vanish at its next heartbeat and interrupts the handler."""
        self._visible(req, user_id)
        with self.transaction(req) as conn:
            if not user_repo.delete_user(conn, user_id):
                raise NotFound("user_id: no such user")
        resp.status = falcon.HTTP_204
