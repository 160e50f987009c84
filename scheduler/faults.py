"""Fault points for the fault tests, kept out of the dispatch code: the dispatcher only
calls the hook it was given. Each is a setting that production never turns on."""

from __future__ import annotations

import logging
import os

from scheduler.dispatcher import AfterClaim
from scheduler.publisher import Outgoing
from shared.settings import Settings

log = logging.getLogger("chronos.scheduler.faults")


def after_claim(settings: Settings) -> AfterClaim | None:
    """``CHRONOS_TEST_CRASH_AFTER_CLAIM``: die between a claim's commit and its publish,
    the crash that recovery (``Dispatcher.recover``) exists for."""
    return _crash_after_claim if settings.test_crash_after_claim else None


def _crash_after_claim(queued: list[Outgoing]) -> None:
    log.critical("test fault point CHRONOS_TEST_CRASH_AFTER_CLAIM: crashing after the claim")
    os._exit(17)
