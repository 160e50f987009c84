"""pydantic's errors, in the contract's words: ``schedule.cron: expected 5 fields, got 3``.

A client gets one error, the first, with the path of the field at fault. The messages of
Chronos's own field types (:mod:`shared.schemas.fields`) pass through as they are;
pydantic's structural ones (an unknown field, a missing one, an array where an object
belongs) get the wording the API has always used.
"""

from __future__ import annotations

from collections.abc import Sequence

import pydantic
from pydantic_core import ErrorDetails

from shared.errors import ValidationError
from shared.schemas.fields import CHRONOS_ERROR

STRUCTURAL_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
}


def field_path(loc: Sequence[int | str], prefix: str = "") -> str:
    """``("jobs", 17, "schedule", "cron")`` → ``jobs[17].schedule.cron``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = part
    return path


def message_of(detail: ErrorDetails) -> tuple[str, str]:
    """The error's path suffix (an index inside a list field) and its message."""
    if detail["type"] == CHRONOS_ERROR:
        context = detail.get("ctx") or {}
        suffix = str(context.get("at", ""))
        return suffix, detail["msg"][len(suffix) :]
    return "", STRUCTURAL_MESSAGES.get(detail["type"], detail["msg"])


def translate(
    error: pydantic.ValidationError, prefix: str = "", *, skip: int = 0
) -> ValidationError:
    """The first error of ``error`` as a :class:`ValidationError`. ``skip`` drops leading
    parts of its location that a client never wrote (a tagged union's tag)."""
    detail = error.errors(include_url=False)[0]
    suffix, message = message_of(detail)
    loc = tuple(detail["loc"])[skip:]
    path = (field_path(loc, prefix) + suffix).lstrip(".")
    return ValidationError(path, message)
