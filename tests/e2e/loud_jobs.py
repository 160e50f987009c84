"""A job type that logs, for the JSON-logs test: named in CHRONOS_JOB_MODULES, as an
operator's own module would be."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from shared.jobtypes import RunContext, register

LIBRARY_LINE = "a library's line during the run"
HANDLER_LINE = "the loud job says hello"


def validate_loud(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def loud(payload: Mapping[str, Any], ctx: RunContext) -> dict[str, Any]:
    ctx.logger.info(HANDLER_LINE)
    logging.getLogger("tests.loud_library").warning(LIBRARY_LINE)
    return {"said": "hello"}


register("loud", validate_loud, loud)
