"""The built-in job types' payloads.

Each model is the payload's whole contract: the API validates a submit with it, the
OpenAPI document shows it under its type, and :meth:`Payload.stored` is what is kept in
the job and handed to the handler.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.netpolicy import NetworkPolicy, NetworkPolicyError
from shared.schemas.fields import Rule, invalid, number, string_list, string_map, text

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Methods are matched without regard to case, and stored in upper case.
METHOD_PATTERN = (
    "^(?:" + "|".join("".join(f"[{c}{c.lower()}]" for c in m) for m in sorted(HTTP_METHODS)) + ")$"
)
METHOD_CHOICES = f"expected one of {', '.join(sorted(HTTP_METHODS))}"
# An email address as the server checks it: no white space or list separators, an `@`
# with something on both sides.
EMAIL_ADDRESS_PATTERN = r"^[^\x00\r\n<>,; ]+@[^\x00\r\n<>,; @]+$"
# Headers the target must get from the worker alone: framing (request smuggling),
# routing (Host) and hop-by-hop connection management.
FORBIDDEN_HEADERS = (
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
)
MAX_HEADERS = 100
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8192


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# An RFC 9110 token, and none of the forbidden names in any case.
HEADER_NAME_PATTERN = (
    "^(?!(?:"
    + "|".join(_any_case(name) for name in FORBIDDEN_HEADERS)
    + f")$)[!#$%&'*+.^_`|~0-9A-Za-z-]{{1,{MAX_HEADER_NAME}}}$"
)
# Tab, printable ASCII and the rest of Latin-1 (what HTTP/1.1 carries): no CR, LF, NUL
# or other control characters.
HEADER_VALUE_PATTERN = rf"^[\t\x20-\x7e\x80-\xff]{{0,{MAX_HEADER_VALUE}}}$"


def _header_map() -> Rule:
    names = re.compile(HEADER_NAME_PATTERN[:-1] + r"\Z")
    values = re.compile(HEADER_VALUE_PATTERN[:-1] + r"\Z")
    forbidden = frozenset(FORBIDDEN_HEADERS)

    def check(value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) > MAX_HEADERS:
            raise invalid("expected an object")
        for name, item in value.items():
            # Errors name the header, cut short, and never show its value (a secret).
            shown = name[:64]
            if name.lower() in forbidden:
                raise invalid("is set by the worker and may not be given", at=f".{shown}")
            if not names.match(name):
                raise invalid(
                    f"the header name must be 1 to {MAX_HEADER_NAME} token characters",
                    at=f".{shown}",
                )
            if not isinstance(item, str):
                raise invalid("expected a string", at=f".{shown}")
            if not values.match(item):
                raise invalid(
                    f"the value must be at most {MAX_HEADER_VALUE} characters, with no CR, "
                    "LF, NUL or other control characters",
                    at=f".{shown}",
                )
        return dict(value)

    schema = {
        "type": ["object", "null"],
        "additionalProperties": {"type": "string", "pattern": HEADER_VALUE_PATTERN},
        "propertyNames": {"pattern": HEADER_NAME_PATTERN},
        "maxProperties": MAX_HEADERS,
    }
    return Rule(check, schema, nullable=True)


class Payload(BaseModel):
    """A job type's payload. Unknown fields are refused by name."""

    model_config = ConfigDict(extra="forbid")
    # The names of optional fields that are stored only when the client gave them.
    only_when_given: ClassVar[frozenset[str]] = frozenset()

    def stored(self) -> dict[str, Any]:
        """What the job keeps and the handler receives, with every default filled in."""
        left_out = self.only_when_given - self.model_fields_set
        return self.model_dump(exclude=set(left_out))


class HttpPayload(Payload):
    """An HTTP request; a 2xx answer is a success."""

    only_when_given = frozenset({"json", "body"})

    url: str = Field(
        description=(
            "An absolute http or https URL. Link-local and cloud-metadata addresses are "
            "refused, checked again by the worker after DNS resolution."
        ),
        json_schema_extra={
            "type": "string",
            "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00]*$",
            "maxLength": 8192,
        },
    )
    method: Annotated[str, text(pattern=METHOD_PATTERN, message=METHOD_CHOICES)] = Field(
        "POST", description="Default `POST`; any case, stored in upper case."
    )
    headers: Annotated[dict[str, str] | None, _header_map()] = Field(
        None,
        description=(
            "Request headers, checked at submit: names are RFC 9110 tokens, values have no "
            "CR, LF, NUL or other control character. `Host`, `Content-Length`, "
            "`Transfer-Encoding`, `Connection` and the other hop-by-hop headers are the "
            "worker's. Their values are stored in clear, and never shown in an error."
        ),
    )
    json_body: Any = Field(
        None,
        alias="json",
        description="A JSON value to send as the body. Give `json` or `body`, not both.",
    )
    body: Annotated[str | None, text(nullable=True)] = Field(None, description="A text body.")
    timeout_seconds: Annotated[float, number(0.1, 3600)] = Field(
        30.0, description="Seconds before the request is abandoned. Default 30."
    )

    # `json` and `body` are exclusive even when one of them is null, as the server checks.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"not": {"required": ["json", "body"]}}
    )

    @field_validator("url", mode="plain")
    @classmethod
    def _absolute_http_url(cls, value: Any) -> str:
        if value is None:
            raise invalid("required")
        if not isinstance(value, str):
            raise invalid("expected a string")
        if not value.strip():
            raise invalid("must not be empty")
        if len(value) > 8192:
            raise invalid("at most 8192 characters")
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise invalid("expected an absolute http or https URL")
        try:
            _ = parts.port
        except ValueError:
            raise invalid("invalid port") from None
        try:
            literal = ipaddress.ip_address(parts.hostname.strip("[]"))
        except ValueError:
            return value  # a name: the worker checks what it resolves to
        try:
            # The environment-independent part of the policy; the worker applies the rest.
            NetworkPolicy(allow_private=True).check(str(literal))
        except NetworkPolicyError as error:
            raise invalid(str(error)) from None
        return value

    @field_validator("method", mode="after")
    @classmethod
    def _upper_case(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="before")
    @classmethod
    def _json_or_body(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "json" in raw and "body" in raw:
            raise invalid("give json or body, not both", at=".body")
        return raw

    def stored(self) -> dict[str, Any]:
        kept: dict[str, Any] = {
            "url": self.url,
            "method": self.method,
            "headers": self.headers or {},
            "timeout_seconds": self.timeout_seconds,
        }
        if "json_body" in self.model_fields_set:
            kept["json"] = self.json_body
        if "body" in self.model_fields_set and self.body is not None:
            kept["body"] = self.body
        return kept


MAX_RECIPIENTS = 50


class EmailPayload(Payload):
    """A plain-text email, sent through `CHRONOS_SMTP_URL` from the operator's address
    (`CHRONOS_SMTP_FROM`): a job cannot choose its `From`. A worker may lower the number
    of recipients (`CHRONOS_EMAIL_MAX_RECIPIENTS`) and limits its messages per minute
    (`CHRONOS_EMAIL_PER_MINUTE`); a run past either fails."""

    to: Annotated[
        list[str],
        string_list(
            max_items=MAX_RECIPIENTS,
            max_length=320,
            item_pattern=EMAIL_ADDRESS_PATTERN,
            item_message="expected an email address",
        ),
    ] = Field(description="The recipients: a non-empty list of at most 50 addresses.")
    subject: Annotated[str, text(max_length=998, not_blank=True, single_line=True)] = Field(
        description="One line."
    )
    body: Annotated[str | None, text(nullable=True)] = Field(
        None, description="The text of the message."
    )

    def stored(self) -> dict[str, Any]:
        return {"to": self.to, "subject": self.subject, "body": self.body or ""}


class ShellPayload(Payload):
    """A command run without a shell; exit code 0 is a success (admins only)."""

    argv: Annotated[list[str], string_list()] = Field(description="The program and its arguments.")
    env: Annotated[dict[str, str] | None, string_map()] = Field(
        None, description="Environment variables for the command."
    )
    cwd: Annotated[str | None, text(max_length=4096, nullable=True)] = Field(
        None, description="The working directory."
    )

    def stored(self) -> dict[str, Any]:
        kept: dict[str, Any] = {"argv": self.argv, "env": self.env or {}}
        if self.cwd is not None:
            kept["cwd"] = self.cwd
        return kept


class SleepPayload(Payload):
    """Waits, and can be cancelled while it does. For demos and tests."""

    seconds: Annotated[float, number(0, 86400)] = Field(0.0, description="How long to wait.")


class NoopPayload(Payload):
    """Does nothing, successfully. For benchmarks."""


class FailPayload(Payload):
    """Always fails. For tests of retries."""

    message: Annotated[str | None, text(max_length=4096, nullable=True)] = Field(
        None, description="The error message. Default `failed on purpose`."
    )

    def stored(self) -> dict[str, Any]:
        return {"message": self.message or "failed on purpose"}
