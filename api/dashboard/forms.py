"""Reading the dashboard's form posts: URL-encoded, bounded, checked for CSRF.

A form arrives as ``application/x-www-form-urlencoded`` (what a browser sends for a
``<form method=post>``). The body is read up to the API's ``CHRONOS_MAX_BODY_BYTES``;
anything else is a 4xx naming what was wrong, as for a JSON body.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import falcon

from shared.errors import ValidationError

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000


@dataclass(frozen=True)
class Form:
    pairs: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        return next((value for key, value in self.pairs if key == name), default)

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def optional(self, name: str) -> str | None:
        """The field's value stripped, or None when it is absent or blank."""
        value = self.get(name).strip()
        return value or None


def buffer_form(req: falcon.Request, max_bytes: int) -> None:
    """Read a form post's body now, before the request takes a database connection, so
    that a slow upload holds no pooled connection while it trickles in (as
    api.media.buffer_body does for JSON)."""
    if req.method == "POST" and "form_body" not in req.context:
        req.context.form_body = _raw(req, max_bytes)


def _raw(req: falcon.Request, max_bytes: int) -> bytes:
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type", description=f"Content-Type: expected {FORM}"
        )
    if req.content_length is not None and req.content_length > max_bytes:
        raise falcon.HTTPContentTooLarge(description=f"body: larger than {max_bytes} bytes")
    raw: bytes = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise falcon.HTTPContentTooLarge(description=f"body: larger than {max_bytes} bytes")
    return raw


def read_form(req: falcon.Request, max_bytes: int) -> Form:
    buffer_form(req, max_bytes)
    raw: bytes = req.context.form_body
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise ValidationError("body", "a form must be UTF-8") from None
    except ValueError:
        raise ValidationError("body", f"more than {MAX_FIELDS} fields") from None
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise ValidationError("body", "a field holds a NUL character")
    return Form(tuple(pairs))
