"""Signing in to the dashboard, and the CSRF check on its forms.

The session is a cookie holding the same JWT that ``POST /auth/token`` issues:
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it),
``Path=/ui``, and ``Secure`` outside development. Its user is read fresh on every
request, exactly as the bearer token's is (api.auth.authenticated), so a password or
role change, or a deleted account, ends the session too.

Every form post carries a CSRF token: a random value the server sets as a cookie of its
own and writes into each form (double submit). A post whose field and cookie differ is
refused, and so is one whose ``Origin`` names another site, whatever the cookies say.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

import falcon

from shared.errors import Forbidden
from shared.settings import Settings

actions_log = logging.getLogger("chronos.api.dashboard")

PREFIX = "/ui"
SESSION_COOKIE = "chronos_session"
CSRF_COOKIE = "chronos_csrf"
CSRF_FIELD = "csrf_token"
CSRF_BYTES = 32


def set_session(resp: falcon.Response, settings: Settings, token: str) -> None:
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.token_ttl_seconds,
        path=PREFIX,
        secure=settings.production,
        http_only=True,
        same_site="Strict",
    )


def end_session(resp: falcon.Response) -> None:
    resp.unset_cookie(SESSION_COOKIE, path=PREFIX, same_site="Strict")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path, never another site (``//x``,
    ``/ui@evil``, a scheme) or anything odd."""
    if (
        target
        and target.startswith(PREFIX)
        and (len(target) == len(PREFIX) or target[len(PREFIX)] in "/?")
        and "\\" not in target
        and target.isprintable()
        and len(target) <= 2000
    ):
        return target
    return f"{PREFIX}/"


def sign_in_first(req: falcon.Request) -> falcon.HTTPError | falcon.HTTPSeeOther:
    """The redirect to the sign-in page, which comes back here (a page, not a post).

    A fragment that htmx polls (a live panel) gets a 401 that tells htmx to send the
    whole page to sign in (``HX-Redirect``), and to come back to the page it was on:
    following a 303 itself, htmx would put the sign-in form inside the panel."""
    if req.get_header("HX-Request") == "true":
        current = urlsplit(req.get_header("HX-Current-URL") or "")
        back = safe_next(current.path + (f"?{current.query}" if current.query else ""))
        login = f"{PREFIX}/login?next={quote(back, safe='')}"
        return falcon.HTTPUnauthorized(
            title="Signed out",
            description="session: sign in again",
            headers={"HX-Redirect": login},
        )
    back = safe_next(req.relative_uri if req.method in ("GET", "HEAD") else None)
    return falcon.HTTPSeeOther(f"{PREFIX}/login?next={quote(back, safe='')}")


def session_token(req: falcon.Request) -> str | None:
    values = req.get_cookie_values(SESSION_COOKIE) or []
    return values[0] if values and values[0] else None


def csrf_token(req: falcon.Request, resp: falcon.Response, settings: Settings) -> str:
    """The browser's CSRF token, set now if it has none (or a malformed one)."""
    values = req.get_cookie_values(CSRF_COOKIE) or []
    token = values[0] if values else ""
    if len(token) < CSRF_BYTES or not token.isascii():
        token = secrets.token_urlsafe(CSRF_BYTES)
        resp.set_cookie(
            CSRF_COOKIE,
            token,
            path=PREFIX,
            secure=settings.production,
            http_only=True,
            same_site="Strict",
        )
    req.context.csrf_token = token
    return token


def same_origin(req: falcon.Request) -> bool:
    """Whether the post came from a page of this site: its ``Origin`` (or, without one,
    its ``Referer``) names this host. A browser sends one of them with every form post;
    a request with neither is not a browser's cross-site post."""
    origin = req.get_header("Origin") or req.get_header("Referer")
    if origin is None:
        return True
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.netloc.lower() == req.netloc.lower()


def check_csrf(req: falcon.Request, form: Mapping[str, str]) -> None:
    values = req.get_cookie_values(CSRF_COOKIE) or []
    expected = values[0] if values else ""
    sent = form.get(CSRF_FIELD, "")
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden(f"{CSRF_FIELD}: missing or wrong; reload the page and try again")
    if not same_origin(req):
        raise Forbidden("Origin: the form was posted from another site")


def log_action(req: falcon.Request, action: str, target: str, count: int = 1) -> None:
    """One line per dashboard action (who, what, on what, how many), beside the audit
    rows the action wrote: a log search finds what an operator did from the UI, and a
    bulk action is one line with its count, not a thousand."""
    user = req.context.get("user")
    actions_log.info(
        "dashboard %s on %s (%d) by %s",
        action,
        target,
        count,
        user.username if user is not None else "-",
        extra={
            "ui_user": str(user.id) if user is not None else None,
            "ui_action": action,
            "ui_target": target,
            "ui_count": count,
        },
    )
