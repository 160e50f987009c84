"""The end-to-end harness of the test suite, as the soak uses it.

``tests/e2e/stack.py`` (the Procfile's processes, each in its own process group) and
``tests/e2e/client.py`` (the HTTP client) are imported at run time, not copied. They do
not pass ``mypy --strict`` themselves, so mypy is shown the protocols below instead of
following the imports: the soak is type-checked against the part of them it uses.
"""

from __future__ import annotations

import subprocess
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol


class ProcessView(Protocol):
    """``tests.e2e.stack.Process``: one Procfile line running in its own process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    def alive(self) -> bool: ...

    def kill(self) -> None:
        """SIGKILL the whole process group and reap the leader."""

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL what is left after a grace period."""

    def signal_group(self, signum: int) -> None: ...


class StackView(Protocol):
    """``tests.e2e.stack.Stack``: the API, schedulers and workers, by name."""

    url: str
    env: dict[str, str]
    processes: dict[str, ProcessView]
    history: list[ProcessView]

    def spawn(
        self, name: str, kind: str, extra_args: str = "", env: dict[str, str] | None = None
    ) -> ProcessView: ...

    def check_alive(self) -> None: ...

    def log_tails(self, lines: int = 60) -> str: ...


class ClientView(Protocol):
    """``tests.e2e.client.Client``: JSON over HTTP to the API."""

    base_url: str
    token: str | None

    def create_user(self, prefix: str = "user") -> tuple[str, str]: ...

    def expect(self, method: str, path: str, status: int, body: Any = None) -> Any: ...


if TYPE_CHECKING:

    def running_stack(env: dict[str, str], log_dir: Path) -> AbstractContextManager[StackView]:
        """Start API + scheduler + worker, yield the stack, always stop it after."""

    def new_client(base_url: str, token: str | None = None, timeout: float = 15.0) -> ClientView:
        """A client of the API, authenticated with ``token`` if given."""

    def rfc3339(epoch: float) -> str:
        """An RFC 3339 UTC time with millisecond precision."""

else:
    from tests.e2e.client import Client as new_client
    from tests.e2e.client import rfc3339
    from tests.e2e.stack import running_stack

__all__ = [
    "ClientView",
    "ProcessView",
    "StackView",
    "new_client",
    "rfc3339",
    "running_stack",
]
