"""Keeping the worker's secrets from the processes it starts.

A shell job's child runs on the worker's host, and under the worker's uid unless the
worker is root. Linux lets a process of the same uid read ``/proc/<pid>/environ`` (the
database and broker URLs with their passwords) and attach a debugger, unless the process
is non-dumpable: then only a process with CAP_SYS_PTRACE can. The flag also turns off
core dumps, which would hold the same secrets.

Every process that holds them must be protected, not only the one that starts the
child: ``python -m shared.hardening worker ...`` runs Dramatiq's CLI (the same arguments
as ``dramatiq``) in a process made non-dumpable first, so the main process and every
worker process it forks are protected (the flag survives fork, not exec). The worker
module protects its own process too, for a plain ``dramatiq worker``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("chronos.hardening")

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def protect_process() -> bool:
    """Make this process non-dumpable; False where prctl is not available."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        done = bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        done = False
    if not done:
        log.warning("could not make the worker non-dumpable: shell jobs may read its secrets")
    return done


def dumpable() -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))


def main() -> None:
    """``dramatiq``'s command line, non-dumpable from the start."""
    protect_process()
    from dramatiq.cli import main as dramatiq_main

    sys.exit(dramatiq_main())  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
