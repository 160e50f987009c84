"""The job-type registry: a name, a payload model (or validator) and, on workers, a handler.

The API imports this module for the payloads only. The worker attaches handlers to the
same entries, so that an operator's module named in ``CHRONOS_JOB_MODULES`` can register
a whole type, payload and handler, in one call to :func:`register`. A type registered
with a pydantic model is validated by it and documented by it in ``/openapi.json``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from shared.run_context import JobFailed, Payload, RunContext
from shared.schemas import payloads
from shared.schemas.errors import translate

SCALARS = (str, int, float, bool, type(None))
Validator = Callable[[Mapping[str, Any]], Payload]
Handler = Callable[[Payload, RunContext], Mapping[str, Any] | None]

__all__ = ["REGISTRY", "JobFailed", "JobType", "Payload", "RunContext", "register"]


class PayloadValidator:
    """Validates a payload with its model and returns what is stored (``model.stored()``
    for a :class:`~shared.schemas.payloads.Payload`, else ``model_dump()``)."""

    def __init__(self, model: type[pydantic.BaseModel]) -> None:
        self.model = model
        self._empty: Payload | None = None

    def __call__(self, payload: Mapping[str, Any]) -> Payload:
        if not payload and self._empty is not None:
            # An empty payload (most submits of most types) always stores the same.
            return dict(self._empty)
        try:
            stored = self.store(self.model.model_validate(payload))
        except pydantic.ValidationError as error:
            raise translate(error) from None
        if not payload and all(isinstance(value, SCALARS) for value in stored.values()):
            self._empty = dict(stored)
        return stored

    def store(self, checked: pydantic.BaseModel) -> Payload:
        if isinstance(checked, payloads.Payload):
            return checked.stored()
        return checked.model_dump(mode="json", by_alias=True)


@dataclass
class JobType:
    name: str
    validate: Validator
    admin_only: bool = False
    handler: Handler | None = None

    @property
    def payload_model(self) -> type[pydantic.BaseModel] | None:
        """The payload's model, if it has one; a plain validator's payload is documented
        as a free-form object."""
        return self.validate.model if isinstance(self.validate, PayloadValidator) else None


REGISTRY: dict[str, JobType] = {}


def register(
    name: str,
    payload: type[pydantic.BaseModel] | Validator,
    handler: Handler | None = None,
    *,
    admin_only: bool = False,
) -> JobType:
    """Register (or replace) a job type. Operators call this from their own module, with
    a pydantic model of the payload (preferred: it is documented in ``/openapi.json``) or
    a function that returns the payload to store or raises ``ValidationError``."""
    validate: Validator = PayloadValidator(payload) if isinstance(payload, type) else payload
    job_type = JobType(name=name, validate=validate, admin_only=admin_only, handler=handler)
    REGISTRY[name] = job_type
    return job_type


def attach_handler(name: str, handler: Handler) -> None:
    REGISTRY[name].handler = handler


def load_job_modules(modules: tuple[str, ...]) -> None:
    """Import the operators' modules; each registers its types when imported."""
    for module in modules:
        importlib.import_module(module)


# The built-in types.
HTTP_METHODS = payloads.HTTP_METHODS
validate_http = PayloadValidator(payloads.HttpPayload)
validate_email = PayloadValidator(payloads.EmailPayload)
validate_shell = PayloadValidator(payloads.ShellPayload)
validate_sleep = PayloadValidator(payloads.SleepPayload)
validate_noop = PayloadValidator(payloads.NoopPayload)
validate_fail = PayloadValidator(payloads.FailPayload)

register("http", validate_http)
register("email", validate_email)
register("shell", validate_shell, admin_only=True)
register("sleep", validate_sleep)
register("noop", validate_noop)
register("fail", validate_fail)
