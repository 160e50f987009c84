"""What the dashboard shows of a payload: every HTTP header's value, every variable of a
shell job's environment, any field whose name says it is a secret, and a URL's
credentials and secret-named query values, masked. (A run's error message and result
are shown as the handler wrote them.)

The JSON API returns a payload whole to its owner, who sent it. A dashboard is looked at
over shoulders, shared on screens and screenshotted into tickets, so it shows what a
value is for, not the value (as River's and Oban's dashboards hide job arguments).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "••••••"
# Objects whose every value is masked, whatever its name.
MASKED_OBJECTS = frozenset({"headers", "env"})
SECRET_NAME = re.compile(
    r"authorization|cookie|token|secret|password|passwd|api[-_]?key|signature|sig$|auth", re.I
)


def redacted(value: Any, *, masked: bool = False) -> Any:
    """``value`` with the secrets in it masked (all of it, with ``masked``)."""
    if isinstance(value, dict):
        return {key: _field(str(key), item, masked) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, masked=masked) for item in value]
    return MASK if masked else value


def _field(key: str, item: Any, masked: bool) -> Any:
    secret = masked or bool(SECRET_NAME.search(key))
    if isinstance(item, dict | list):
        return redacted(item, masked=secret or key in MASKED_OBJECTS)
    if secret:
        return MASK
    return _url(item) if isinstance(item, str) and "://" in item else item


def _url(value: str) -> str:
    """A URL with its credentials (``user:password@``) and its secret-named query
    values (``?api_key=``, ``&token=``) masked; anything else as it was."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value
    if not parts.scheme or not parts.netloc:
        return value
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    pieces = []
    for piece in parts.query.split("&") if parts.query else []:
        name, equals, _ = piece.partition("=")
        secret = equals and SECRET_NAME.search(unquote_plus(name))
        pieces.append(f"{name}={MASK}" if secret else piece)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(pieces), parts.fragment))
