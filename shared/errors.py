"""The tree of domain errors. The API maps each branch to one HTTP status in one place."""

from __future__ import annotations


class ChronosError(Exception):
    """The root of every error Chronos raises on purpose."""

    title = "Error"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ValidationError(ChronosError):
    """Bad input. ``field`` is the dotted path at fault, e.g. ``schedule.cron``."""

    title = "Invalid input"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def within(self, prefix: str) -> ValidationError:
        """The same error, seen from an enclosing object (``payload`` → ``payload.url``)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        if self.field.startswith("["):
            field = f"{prefix}{self.field}"
        return ValidationError(field, self.message)


class NotFound(ChronosError):
    title = "Not found"


class Conflict(ChronosError):
    """The current state forbids the change (a finished job, a taken username, ...)."""

    title = "Conflict"


class Forbidden(ChronosError):
    title = "Forbidden"


class Unauthorized(ChronosError):
    title = "Unauthorized"


class TooManyRequests(ChronosError):
    """A client is over a limit. ``retry_after``, in whole seconds, when waiting is what
    lifts it (a rate); None when only the client can (too many live jobs)."""

    title = "Too many requests"

    def __init__(self, description: str, retry_after: int | None) -> None:
        super().__init__(description)
        self.retry_after = retry_after
