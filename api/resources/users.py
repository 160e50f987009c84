"""Users and tokens."""

from __future__ import annotations

import uuid
from typing import Any

import falcon

from api import serialize
from api.auth import hash_password, issue_token, token_subject, verify_password
from api.resources.base import Resource, current_user
from api.throttle import LoginThrottle
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.repository import users as user_repo
from shared.schemas.users import Credentials, TokenResponse, UserCreated, UserUpdate
from shared.schemas.users import UserCreate as UserCreateBody
from shared.states import Role
from shared.validation import parse_body


class UserCreate(Resource):
    """Open registration by default; with CHRONOS_OPEN_REGISTRATION=false, admins only."""

    auth_required = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.settings.open_registration:
            self._require_admin(req)
        body: UserCreateBody = parse_body(UserCreateBody, self.body(req))
        now = self.clock.now()
        password_hash = hash_password(body.password)  # slow by design: outside the transaction
        with self.transaction(req) as conn:
            user = user_repo.insert_user(
                conn,
                username=body.username,
                email=body.email,
                password_hash=password_hash,
                role=Role.USER,
                now=now,
            )
        token = issue_token(self.settings, user["id"], user["role"], now)
        created = UserCreated.model_construct(user=serialize.user(user), token=token)
        serialize.respond(resp, created, falcon.HTTP_201)

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
        credentials: Credentials = parse_body(Credentials, self.body(req))
        username, password = credentials.username[:64], credentials.password
        now = self.clock.now()
        self.throttle.before_attempt(req.remote_addr or "unknown", username, now)
        with self.transaction(req) as conn:
            user = user_repo.find_user_by_username(conn, username)
        stored = user["password_hash"] if user is not None else None
        # verify_password hashes even for an unknown user, so both failures take as long.
        if not verify_password(stored, password[:1024]) or user is None:
            self.throttle.after_failure(username, now)
            raise Unauthorized("username or password: wrong credentials")
        token = TokenResponse.model_construct(
            access_token=issue_token(self.settings, user["id"], user["role"], now),
            token_type="bearer",  # noqa: S106 (the scheme's name, not a secret)
            expires_in=self.settings.token_ttl_seconds,
        )
        serialize.respond(resp, token)


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
        serialize.respond(resp, serialize.user(user))

    def on_put_update(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        self._visible(req, user_id)
        body: UserUpdate = parse_body(UserUpdate, self.body(req))
        given = body.model_fields_set
        if "role" in given and not current_user(req).is_admin:
            raise Forbidden("role: only an admin may change a role")
        changes: dict[str, Any] = {name: getattr(body, name) for name in given - {"password"}}
        if body.password is not None:
            changes["password_hash"] = hash_password(body.password)
        with self.transaction(req) as conn:
            user = user_repo.update_user(conn, user_id, changes, self.clock.now())
        if user is None:
            raise NotFound("user_id: no such user")
        serialize.respond(resp, serialize.user(user))

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
