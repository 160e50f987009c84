"""Job types that misbehave, for the poison-process and uncooperative-handler tests:
named in CHRONOS_JOB_MODULES, as an operator's own module would be."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Mapping
from typing import Any

from shared.jobtypes import RunContext, register


def any_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def exits(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    os._exit(3)


def segfaults(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return {}


def ignores_cancellation(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    ends = time.monotonic() + 3600
    while time.monotonic() < ends:
        time.sleep(0.2)  # never looks at ctx.cancelled
    return {"finished": True}


def behaves(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    return {"pid": os.getpid()}


register("poison_exit", any_payload, exits)
register("poison_segv", any_payload, segfaults)
register("stuck", any_payload, ignores_cancellation)
register("custom_ok", any_payload, behaves)
