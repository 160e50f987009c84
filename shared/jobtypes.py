"""The job-type registry: a name, a payload validator and (on workers) a handler.

The API imports this module for the validators only. The worker attaches handlers to
the same entries, so that an operator's module named in ``CHRONOS_JOB_MODULES`` can
register a whole type, validator and handler, in one call to :func:`register`.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shared.errors import ValidationError
from shared.netpolicy import NetworkPolicy, NetworkPolicyError

Payload = dict[str, Any]
Validator = Callable[[Mapping[str, Any]], Payload]


class JobFailed(Exception):
    """Raised by a handler for a failure it understands (an HTTP 500, a non-zero exit).

    ``kind`` is the run's ``error.kind``; ``result`` is kept as the run's result, so the
    user sees what the target answered."""

    def __init__(self, kind: str, message: str, result: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.result = dict(result) if result is not None else None


@dataclass
class RunContext:
    """What a handler gets besides its payload.

    ``cancelled`` is set when the run is cancelled or times out (``reason`` says which).
    Long handlers wait on it (``ctx.cancelled.wait(seconds)``) instead of sleeping, and
    register an interrupt with :meth:`on_interrupt` to abort blocking I/O (close a
    socket, terminate a child process).
    """

    run_id: uuid.UUID
    job_id: uuid.UUID
    attempt: int
    deadline: datetime
    logger: logging.Logger
    settings: Any = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None
    _interrupts: list[Callable[[], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def interrupt(self, reason: str) -> None:
        """Stop the handler: "cancelled" or "timeout". Only the first reason counts."""
        with self._lock:
            if self.reason is not None:
                return
            self.reason = reason
            callbacks = list(self._interrupts)
        self.cancelled.set()
        for callback in callbacks:
            try:
                callback()
            except Exception:
                self.logger.exception("an interrupt callback failed")

    def on_interrupt(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if self.reason is None:
                self._interrupts.append(callback)
                return
        callback()


Handler = Callable[[Payload, RunContext], Mapping[str, Any] | None]


@dataclass
class JobType:
    name: str
    validate: Validator
    admin_only: bool = False
    handler: Handler | None = None


REGISTRY: dict[str, JobType] = {}


def register(
    name: str, validate: Validator, handler: Handler | None = None, *, admin_only: bool = False
) -> JobType:
    """Register (or replace) a job type. Operators call this from their own module."""
    job_type = JobType(name=name, validate=validate, admin_only=admin_only, handler=handler)
    REGISTRY[name] = job_type
    return job_type


def attach_handler(name: str, handler: Handler) -> None:
    REGISTRY[name].handler = handler


def load_job_modules(modules: tuple[str, ...]) -> None:
    """Import the operators' modules; each registers its types when imported."""
    for module in modules:
        importlib.import_module(module)


# Payload field checks, each naming the field at fault.


def require_object(value: Any, name: str = "") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(name, "expected an object")
    return value


def reject_unknown(payload: Mapping[str, Any], known: set[str]) -> None:
    for key in payload:
        if key not in known:
            raise ValidationError(str(key), "unknown field")


def get_string(
    payload: Mapping[str, Any], key: str, *, required: bool = False, max_length: int = 65536
) -> str | None:
    value = payload.get(key)
    if value is None:
        if required:
            raise ValidationError(key, "required")
        return None
    if not isinstance(value, str):
        raise ValidationError(key, "expected a string")
    if required and not value.strip():
        raise ValidationError(key, "must not be empty")
    if len(value) > max_length:
        raise ValidationError(key, f"at most {max_length} characters")
    return value


def get_number(
    payload: Mapping[str, Any], key: str, default: float, minimum: float, maximum: float
) -> float:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(key, "expected a number")
    if not minimum <= value <= maximum:
        raise ValidationError(key, f"must be between {minimum:g} and {maximum:g}")
    return float(value)


def get_string_map(payload: Mapping[str, Any], key: str) -> dict[str, str]:
    value = payload.get(key)
    if value is None:
        return {}
    mapping = require_object(value, key)
    for name, item in mapping.items():
        if not isinstance(item, str):
            raise ValidationError(f"{key}.{name}", "expected a string")
    return dict(mapping)


def get_string_list(payload: Mapping[str, Any], key: str, *, required: bool = True) -> list[str]:
    value = payload.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise ValidationError(key, "expected a non-empty list of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{key}[{index}]", "expected a string")
    return list(value)


# The built-in types' validators.

HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def validate_http(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, {"url", "method", "headers", "json", "body", "timeout_seconds"})
    url = get_string(payload, "url", required=True, max_length=8192) or ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValidationError("url", "expected an absolute http or https URL")
    try:
        _ = parts.port
    except ValueError:
        raise ValidationError("url", "invalid port") from None
    try:
        literal = ipaddress.ip_address(parts.hostname.strip("[]"))
    except ValueError:
        literal = None  # a name: the worker checks what it resolves to
    if literal is not None:
        try:
            # The environment-independent part of the policy; the worker applies the rest.
            NetworkPolicy(allow_private=True).check(str(literal))
        except NetworkPolicyError as error:
            raise ValidationError("url", str(error)) from None
    method = (get_string(payload, "method") if "method" in payload else "POST") or ""
    method = method.upper()
    if method not in HTTP_METHODS:
        raise ValidationError("method", f"expected one of {', '.join(sorted(HTTP_METHODS))}")
    if "json" in payload and "body" in payload:
        raise ValidationError("body", "give json or body, not both")
    checked: Payload = {
        "url": url,
        "method": method,
        "headers": get_string_map(payload, "headers"),
        "timeout_seconds": get_number(payload, "timeout_seconds", 30, 0.1, 3600),
    }
    if "json" in payload:
        checked["json"] = payload["json"]
    body = get_string(payload, "body")
    if body is not None:
        checked["body"] = body
    return checked


def validate_email(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, {"to", "subject", "body", "from"})
    to = get_string_list(payload, "to")
    for index, address in enumerate(to):
        local, _, domain = address.rpartition("@")
        if not local or not domain or any(c in address for c in "\r\n<>,; "):
            raise ValidationError(f"to[{index}]", "expected an email address")
    subject = get_string(payload, "subject", required=True, max_length=998) or ""
    if "\r" in subject or "\n" in subject:
        raise ValidationError("subject", "must be a single line")
    checked: Payload = {"to": to, "subject": subject, "body": get_string(payload, "body") or ""}
    sender = get_string(payload, "from", max_length=320)
    if sender is not None:
        if "\r" in sender or "\n" in sender:
            raise ValidationError("from", "must be a single line")
        checked["from"] = sender
    return checked


def validate_shell(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, {"argv", "env", "cwd"})
    checked: Payload = {
        "argv": get_string_list(payload, "argv"),
        "env": get_string_map(payload, "env"),
    }
    cwd = get_string(payload, "cwd", max_length=4096)
    if cwd is not None:
        checked["cwd"] = cwd
    return checked


def validate_sleep(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, {"seconds"})
    return {"seconds": get_number(payload, "seconds", 0, 0, 86400)}


def validate_noop(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, set())
    return {}


def validate_fail(payload: Mapping[str, Any]) -> Payload:
    reject_unknown(payload, {"message"})
    return {"message": get_string(payload, "message", max_length=4096) or "failed on purpose"}


register("http", validate_http)
register("email", validate_email)
register("shell", validate_shell, admin_only=True)
register("sleep", validate_sleep)
register("noop", validate_noop)
register("fail", validate_fail)
