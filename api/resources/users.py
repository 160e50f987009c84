"""Users and tokens."""

from __future__ import annotations

import uuid
from typing import Any

import falcon

from api import serialize
from api.auth import (
    authenticated,
    hash_password,
    issue_token,
    token_claims,
    verify_password,
)
from api.resources.base import Resource, current_user
from api.throttle import LoginThrottle, SignupThrottle
from shared import accounts, audit
from shared.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError
from shared.repository import users as user_repo
from shared.schemas.users import Credentials, TokenResponse, UserCreated, UserUpdate
from shared.schemas.users import UserCreate as UserCreateBody
from shared.states import Role
from shared.usernames import fold_username, is_storable
from shared.validation import parse_body


class UserCreate(Resource):
    """Open registration by default; with CHRONOS_OPEN_REGISTRATION=false, admins only.

    Everything cheap comes before the argon2 hash, which costs 64 MiB and a tenth of a
    second: the per-address throttle, validation and the check that the name is free
    (a 409 reveals that anyway, by contract)."""

    auth_required = False

    def __init__(self, *args: Any, throttle: SignupThrottle) -> None:
        super().__init__(*args)
        self.throttle = throttle

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        now = self.clock.now()
        self.throttle.before_signup(req.remote_addr or "unknown", now)
        admin_id = None if self.settings.open_registration else self._require_admin(req)
        body: UserCreateBody = parse_body(UserCreateBody, self.body(req))
        with self.engine.connect() as conn:
            if user_repo.find_user_by_username(conn, body.username) is not None:
                raise Conflict(f"username: {body.username!r} is taken")
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
            # Who made it: the admin, while registration is closed; else the new user.
            actor_id = admin_id or user["id"]
            self.audit(conn, req, audit.user_created(user, "signup"), at=now, actor_id=actor_id)
        token = issue_token(self.settings, user["id"], user["role"], now, user["token_version"])
        created = UserCreated.model_construct(user=serialize.user(user), token=token)
        serialize.respond(resp, created, falcon.HTTP_201)

    def _require_admin(self, req: falcon.Request) -> uuid.UUID:
        """The id of the admin whose token the request carries."""
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: registration is closed; an admin token is required")
        claims = token_claims(self.settings, token.strip())
        with self.engine.connect() as conn:
            user = authenticated(conn, claims)
        if user["role"] != Role.ADMIN:
            raise Forbidden("registration is closed: only an admin may create users")
        admin_id: uuid.UUID = user["id"]
        return admin_id


class Token(Resource):
    auth_required = False

    def __init__(self, *args: Any, throttle: LoginThrottle) -> None:
        super().__init__(*args)
        self.throttle = throttle

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        credentials: Credentials = parse_body(Credentials, self.body(req))
        token = TokenResponse.model_construct(
            access_token=sign_in(self, req, self.throttle, credentials),
            token_type="bearer",  # noqa: S106 (the scheme's name, not a secret)
            expires_in=self.settings.token_ttl_seconds,
        )
        serialize.respond(resp, token)


def sign_in(
    resource: Resource, req: falcon.Request, throttle: LoginThrottle, credentials: Credentials
) -> str:
    """A token for the user whose password this is, or 401: the check behind both
    ``POST /auth/token`` and the dashboard's sign-in form, throttled alike."""
    username, password = credentials.username[:64], credentials.password
    address = req.remote_addr or "unknown"
    now = resource.clock.now()
    throttle.before_attempt(address, username, now)
    user = None
    if is_storable(fold_username(username)):  # no account has any other name
        with resource.transaction(req) as conn:
            user = user_repo.find_user_by_username(conn, username)
    stored = user["password_hash"] if user is not None else None
    # verify_password hashes even for an unknown user, so both failures take as long.
    if not verify_password(stored, password[:1024]) or user is None:
        raise Unauthorized("username or password: wrong credentials")
    throttle.after_success(address, username)
    return issue_token(resource.settings, user["id"], user["role"], now, user["token_version"])


class UserItem(Resource):
    """One user. Another user's id is 404, not 403: existence is never revealed."""

    def __init__(self, *args: Any, throttle: LoginThrottle) -> None:
        super().__init__(*args)
        self.throttle = throttle

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
        """A stolen token must not be enough to take the account for good: changing your
        own password needs the current one. An admin resetting someone else's does not."""
        self._visible(req, user_id)
        body: UserUpdate = parse_body(UserUpdate, self.body(req))
        given = body.model_fields_set - {"current_password"}
        me = current_user(req)
        if "role" in given and not me.is_admin:
            raise Forbidden("role: only an admin may change a role")
        if body.password is not None and me.id == user_id:
            self._check_current_password(req, user_id, body.current_password)
        changes: dict[str, Any] = {name: getattr(body, name) for name in given - {"password"}}
        if body.password is not None:
            changes["password_hash"] = hash_password(body.password)
        now = self.clock.now()
        with self.transaction(req) as conn:
            if changes.get("role", Role.ADMIN) != Role.ADMIN:
                accounts.guard_last_admin(conn, user_id)  # first: it locks the admins
            before = user_repo.get_user(conn, user_id, lock=True)
            user = None if before is None else user_repo.update_user(conn, user_id, changes, now)
            if before is None or user is None:
                raise NotFound("user_id: no such user")
            change = audit.user_updated(before, changes)
            if change is not None:
                self.audit(conn, req, change, at=now)
        serialize.respond(resp, serialize.user(user))

    def _check_current_password(
        self, req: falcon.Request, user_id: uuid.UUID, current_password: str | None
    ) -> None:
        if current_password is None:
            raise ValidationError("current_password", "required to change your own password")
        # A guess at the current password is a guess at a login: the same counters, so a
        # stolen token does not open an unthrottled way to the password.
        address, username = req.remote_addr or "unknown", current_user(req).username
        self.throttle.before_attempt(address, username, self.clock.now())
        with self.transaction(req) as conn:
            user = user_repo.get_user(conn, user_id)
        # The hash is checked outside the transaction: it takes a tenth of a second.
        if user is None or not verify_password(user["password_hash"], current_password):
            raise Forbidden("current_password: wrong password")
        self.throttle.after_success(address, username)

    def on_delete_delete(
        self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID
    ) -> None:
        """The account, its jobs and its live runs go at once; the run history goes in
        batches, within CHRONOS_ACCOUNT_PURGE_SECONDS here and later elsewhere
        (:mod:`shared.accounts`). A worker running one of the runs sees the cancel
        request, or the run vanish, at its next heartbeat and interrupts the handler."""
        self._visible(req, user_id)
        now = self.clock.now()
        with self.transaction(req) as conn:
            target = user_repo.get_user(conn, user_id)
            if target is None or not accounts.delete_account(conn, user_id, target["role"], now):
                raise NotFound("user_id: no such user")
            self.audit(conn, req, audit.user_deleted(target), at=now)
        accounts.purge_deleted_accounts(self.engine, self.settings.account_purge_seconds)
        resp.status = falcon.HTTP_204
