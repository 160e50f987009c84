"""Reading JSON bodies with the errors API.md promises: 413, 415 and 400."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import falcon

from shared.errors import ValidationError
from shared.text import UNSTORABLE

# Deeper nesting is refused rather than risk Python's recursion limit in json.
MAX_DEPTH = 64
# What in a body's text can decode to something PostgreSQL cannot store: an escaped NUL or
# UTF-16 surrogate, or a number too large for a float (1e999, or 309 digits and more). JSON
# text cannot carry them otherwise (a raw control character or an unpaired surrogate is
# not valid JSON text), so a body without any of these is not walked value by value.
MAY_BE_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|[eE]\+?\d{3}|\d{300}")


def _depth_ok(raw: bytes) -> bool:
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


def is_json(req: falcon.Request) -> bool:
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def has_body(req: falcon.Request) -> bool:
    chunked = "chunked" in (req.get_header("Transfer-Encoding") or "")
    return bool(req.content_length) or (req.content_length is None and chunked)


def buffer_body(req: falcon.Request, max_bytes: int) -> None:
    """Read a JSON body now, before the request takes a database connection, so that a
    slow upload holds no pooled connection (or transaction) while it trickles in."""
    if is_json(req) and has_body(req):
        _raw_body(req, max_bytes)


def read_json(req: falcon.Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object body."""
    if not is_json(req):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description="Content-Type: expected application/json",
        )
    raw = _raw_body(req, max_bytes)
    if not _depth_ok(raw):
        raise ValidationError("body", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValidationError("body", f"not valid JSON ({error.__class__.__name__})") from None
    if not isinstance(body, dict):
        raise ValidationError("body", "expected a JSON object")
    if MAY_BE_UNSTORABLE.search(raw):
        reject_unstorable(body, "")
    return body


def _raw_body(req: falcon.Request, max_bytes: int) -> bytes:
    """The body's bytes, read once (and kept for a second call), never more than one byte
    over ``max_bytes``."""
    kept: bytes | None = req.context.get("raw_body")
    if kept is not None:
        return kept
    if req.content_length is not None and req.content_length > max_bytes:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"body: at most {max_bytes} bytes"
        )
    if req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or ""):
        # No length announced: read the chunked body itself, never more than the limit.
        raw = req.stream.read(max_bytes + 1)
    else:
        raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise falcon.HTTPContentTooLarge(
            title="Body too large", description=f"body: at most {max_bytes} bytes"
        )
    req.context.raw_body = raw
    return raw


def reject_unstorable(value: Any, path: str) -> None:
    """PostgreSQL cannot store an infinite number, a NUL character, nor a lone UTF-16
    surrogate (which JSON's ``\\ud800`` escape can smuggle in), in text or JSONB: refuse
    them up front, with the field named, rather than fail at the database."""
    if isinstance(value, float) and not math.isfinite(value):
        # 1e999 is valid JSON, but Python reads it as infinity, which JSONB cannot store.
        raise ValidationError(path or "body", "number out of range")
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise ValidationError(
                path or "body", "NUL and lone surrogate characters are not allowed"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if UNSTORABLE.search(key):
                raise ValidationError(child, "NUL and lone surrogate characters are not allowed")
            reject_unstorable(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_unstorable(item, f"{path}[{index}]")
