"""Field types that validate with the contract's wording and document the same rules.

Each factory takes the rule once (bounds, length, pattern, choices) and returns an
``Annotated`` type carrying both a validator, which raises the message a client sees
(``priority: must be between 0 and 9``), and the JSON Schema of the same rule. Nothing
here coerces: a string is not a number, ``true`` is not an integer, and ``3.0`` is the
integer 3 only because JSON Schema says so too.

``None`` is accepted wherever a field is optional: in Chronos a null field means its
default, and the model fills the default in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from shared.clock import format_time
from shared.text import UNSTORABLE

# The error type of every message written here; see shared.schemas.errors.
CHRONOS_ERROR = "chronos"
MAX_INT32 = 2**31 - 1
MAX_TIME_LENGTH = 64
# What every response time looks like: UTC, a Z and exactly three fractional digits.
RESPONSE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"

JsonSchema = dict[str, Any]
# Strings may hold anything PostgreSQL can store, which excludes NUL; the document says so
# wherever a field has no pattern of its own.
NO_NUL = r"^[^\x00]*$"


def invalid(message: str, at: str = "") -> PydanticCustomError:
    """The error a validator raises; its message is shown after the field's path.

    ``at`` extends that path, for a rule checked above the field it is about: an item of
    a list (``[2]``), a key of an object (``.X-Token``), or one field of a model whose
    validator sees them all (``.body``)."""
    if not at:
        return PydanticCustomError(CHRONOS_ERROR, message)
    return PydanticCustomError(CHRONOS_ERROR, "{at}" + message, {"at": at})


def _typed(kind: str | list[str], nullable: bool) -> str | list[str]:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return [*kinds, "null"] if nullable else (kinds[0] if len(kinds) == 1 else kinds)


def ecma_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """``pattern`` as JSON Schema reads it. Python's ``$`` also matches before a final
    newline and ECMA-262's does not, so the check uses ``\\Z`` for a trailing ``$``."""
    if pattern is None:
        return None
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


@dataclass(frozen=True, eq=False)  # hashed by identity, as typing needs
class Rule:
    """A field's rule, as ``Annotated`` metadata: ``Annotated[int | None, integer(0, 9)]``.

    pydantic calls :meth:`check` instead of its own validation (nothing is coerced), and
    documents the field with :attr:`schema`. A ``nullable`` rule lets None through; where
    null means "the default", the model drops it first (:class:`NullMeansDefault`), so
    the annotation may say ``int`` while the document says ``["integer", "null"]``."""

    check: Callable[[Any], Any]
    schema: JsonSchema
    nullable: bool

    def validate(self, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        return self.check(value)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchema:
        return dict(self.schema)


def integer(low: int, high: int, *, nullable: bool = False) -> Rule:
    """An integer from ``low`` to ``high``; a whole float (3.0) counts, a boolean does not."""

    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON does not tell 3 from 3.0, and JSON Schema calls both integers
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid("expected an integer")
        if not low <= value <= high:
            raise invalid(f"must be between {low} and {high}")
        return value

    schema = {"type": _typed("integer", nullable), "minimum": low, "maximum": high}
    return Rule(check, schema, nullable)


def boolean(*, nullable: bool = False) -> Rule:
    """``true`` or ``false``; neither ``0``, ``1`` nor ``"true"``."""

    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise invalid("expected true or false")
        return value

    return Rule(check, {"type": _typed("boolean", nullable)}, nullable)


def number(low: float, high: float, *, nullable: bool = False) -> Rule:
    """A finite number from ``low`` to ``high``, as a float; a boolean is not a number."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid("expected a number")
        if not low <= value <= high:
            raise invalid(f"must be between {low:g} and {high:g}")
        return float(value)

    schema = {"type": _typed("number", nullable), "minimum": low, "maximum": high}
    return Rule(check, schema, nullable)


def text(
    *,
    min_length: int = 0,
    max_length: int = 65536,
    pattern: str | None = None,
    message: str | None = None,
    single_line: bool = False,
    not_blank: bool = False,
    nullable: bool = False,
) -> Rule:
    """A string. ``message`` replaces the length and pattern messages with one that
    says the whole rule (``expected 1 to 64 characters of a-z, 0-9, _ and -``).
    ``single_line`` refuses CR and LF; ``not_blank`` refuses white space alone."""
    if pattern is None and not (single_line or not_blank):
        pattern = NO_NUL
    if pattern is None:
        # The document states these rules as a pattern too, and the check below applies it.
        line = r"[^\x00\r\n]*" if single_line else r"[^\x00]*"
        pattern = f"^{line}\\S{line}$" if not_blank else f"^{line}$"
    compiled = ecma_pattern(pattern)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise invalid("expected a string")
        if UNSTORABLE.search(value):
            # PostgreSQL cannot store them; a query string can carry them past read_json.
            raise invalid("NUL and lone surrogate characters are not allowed")
        if not_blank and not value.strip():
            raise invalid(message or "must not be empty")
        if len(value) < min_length:
            raise invalid(message or f"at least {min_length} characters")
        if len(value) > max_length:
            raise invalid(message or f"at most {max_length} characters")
        if single_line and ("\r" in value or "\n" in value):
            raise invalid("must be a single line")
        if compiled is not None and not compiled.search(value):
            raise invalid(message or "does not match the pattern")
        return value

    schema: JsonSchema = {"type": _typed("string", nullable), "maxLength": max_length}
    if min_length:
        schema["minLength"] = min_length
    if pattern is not None:
        schema["pattern"] = pattern
    return Rule(check, schema, nullable)


def choice(values: Iterable[str], *, nullable: bool = False) -> Rule:
    """One of ``values``, spelt exactly."""
    allowed = [str(value) for value in values]
    members = frozenset(allowed)
    message = f"expected one of {', '.join(allowed)}"

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in members:
            raise invalid(message)
        return value

    schema = {"type": _typed("string", nullable), "enum": [*allowed, None] if nullable else allowed}
    return Rule(check, schema, nullable)


def string_list(
    *,
    max_items: int = 1000,
    max_length: int = 65536,
    required: bool = True,
    item_pattern: str | None = None,
    item_message: str = "expected a string",
) -> Rule:
    """A list of strings; ``required`` lists must not be empty."""
    compiled = ecma_pattern(item_pattern)
    message = "expected a non-empty list of strings" if required else "expected a list of strings"

    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or (required and not value) or len(value) > max_items:
            raise invalid(message)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise invalid("expected a string", at=f"[{index}]")
            if len(item) > max_length or (compiled is not None and not compiled.search(item)):
                raise invalid(item_message, at=f"[{index}]")
        return list(value)

    item: JsonSchema = {
        "type": "string",
        "maxLength": max_length,
        "pattern": item_pattern or NO_NUL,
    }
    schema: JsonSchema = {
        "type": _typed("array", not required),
        "items": item,
        "maxItems": max_items,
    }
    if required:
        schema["minItems"] = 1
    return Rule(check, schema, nullable=not required)


def string_map(*, max_items: int = 1000) -> Rule:
    """An object whose values are strings (headers, environment variables)."""

    def check(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) > max_items:
            raise invalid("expected an object")
        for name, item in value.items():
            if not isinstance(item, str):
                raise invalid("expected a string", at=f".{name}")
        return dict(value)

    schema = {
        "type": ["object", "null"],
        "additionalProperties": {"type": "string", "pattern": NO_NUL},
        "propertyNames": {"pattern": NO_NUL},
        "maxProperties": max_items,
    }
    return Rule(check, schema, nullable=True)


def json_object(*, nullable: bool = True) -> Rule:
    """A free-form JSON object."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid("expected an object")
        return value

    return Rule(check, {"type": _typed("object", nullable)}, nullable)


def parse_time(value: Any) -> datetime:
    """An RFC 3339 time with an offset, in UTC. A time with no offset is refused, not
    guessed: Chronos does not guess time zones."""
    if not isinstance(value, str):
        raise invalid("expected an RFC 3339 time string")
    if len(value) > MAX_TIME_LENGTH or "T" not in value.upper():
        raise invalid("expected an RFC 3339 time such as 2026-12-01T09:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid("expected an RFC 3339 time such as 2026-12-01T09:00:00Z") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid("the time has no offset; add Z or +HH:MM")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise invalid("out of range") from None


def request_time(*, nullable: bool = True) -> Rule:
    """A time in a request: RFC 3339 with an offset; null means the default."""
    schema = {"type": _typed("string", nullable), "format": "date-time", "maxLength": 64}
    return Rule(parse_time, schema, nullable)


def _response_time_schema(nullable: bool) -> JsonSchema:
    return {
        "type": _typed("string", nullable),
        "format": "date-time",
        "pattern": RESPONSE_TIME_PATTERN,
        "examples": ["2026-12-01T08:00:00.000Z"],
    }


# Times in responses: RFC 3339 in UTC, with a Z and milliseconds.
ResponseTime = Annotated[
    datetime,
    PlainSerializer(format_time, return_type=str),
    WithJsonSchema(_response_time_schema(False)),
]
OptionalResponseTime = Annotated[
    datetime | None,
    PlainSerializer(format_time, return_type=str | None),
    WithJsonSchema(_response_time_schema(True)),
]
Id = Annotated[
    uuid.UUID,
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]


class Closed(BaseModel):
    """A request body: unknown fields are refused by name, so a typo is never ignored."""

    model_config = ConfigDict(extra="forbid")


class NullMeansDefault(Closed):
    """A request body in which a null field means its default, as if it were omitted."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and None in raw.values():
            return {key: value for key, value in raw.items() if value is not None}
        return raw
