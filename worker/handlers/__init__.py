"""The built-in job types' handlers, attached to the registry's entries on import."""

from __future__ import annotations

from shared.jobtypes import attach_handler
from worker.handlers import basic, email, http, shell


def install() -> None:
    attach_handler("noop", basic.noop)
    attach_handler("sleep", basic.sleep)
    attach_handler("fail", basic.fail)
    attach_handler("http", http.call)
    attach_handler("email", email.send)
    attach_handler("shell", shell.run)
