"""The run page's pure rules: a running run's heartbeat badge and lease countdown (X5),
and what a misfire policy did with a late occurrence, in words (X3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.dashboard.liveness import HeartbeatRule, Pulse, liveness, pulse_of, span
from api.dashboard.words import misfire_in_words

BEAT = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=5)
LEASE = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return BEAT + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("age", "pulse"),
    [
        (0, Pulse.FRESH),
        (4.999, Pulse.FRESH),
        (5, Pulse.LATE),  # one interval without a heartbeat: one is missing
        (29.999, Pulse.LATE),
        (30, Pulse.LATE),  # the rescuer takes only a heartbeat older than the lease
        (30.001, Pulse.EXPIRED),
        (3600, Pulse.EXPIRED),
    ],
)
def test_the_colour_rule_is_green_under_the_interval_amber_to_the_lease_red_past_it(
    age: float, pulse: Pulse
) -> None:
    assert pulse_of(timedelta(seconds=age), INTERVAL, LEASE) is pulse


@pytest.mark.parametrize(
    ("age", "words", "countdown"),
    [
        (0.4, "heartbeat just now", "in 30 s"),
        (3, "heartbeat 3 s ago", "in 27 s"),
        (12, "heartbeat 12 s ago: late", "in 18 s"),
        (12.5, "heartbeat 12 s ago: late", "in 18 s"),  # 17.5 s left: not yet 17
        (29.9, "heartbeat 29 s ago: late", "in 1 s"),
        (30, "heartbeat 30 s ago: late", "at the rescuer's next pass"),
        (41, "no heartbeat for 41 s: will be marked lost", "at the rescuer's next pass"),
    ],
)
def test_the_badge_and_the_countdown_say_the_state_in_words(
    age: float, words: str, countdown: str
) -> None:
    found = liveness(BEAT, at(age), interval=INTERVAL, lease=LEASE)
    assert (found.words, found.countdown) == (words, countdown)
    assert found.lost_at == at(30)
    assert found.age == timedelta(seconds=age)


def test_a_heartbeat_ahead_of_the_clock_is_fresh_not_negative() -> None:
    found = liveness(at(2), BEAT, interval=INTERVAL, lease=LEASE)
    assert (found.pulse, found.age, found.words) == (
        Pulse.FRESH,
        timedelta(0),
        "heartbeat just now",
    )
    assert found.countdown == "in 32 s"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (119, "119 s"), (125, "2 min 5 s"), (7199, "119 min 59 s"), (11040, "3 h 4 min")],
)
def test_spans_stay_short(seconds: int, words: str) -> None:
    assert span(seconds) == words


def run(state: str, **columns: Any) -> dict[str, Any]:
    return {"state": state, "heartbeat_at": None, "started_at": None, **columns}


def test_the_rule_applies_the_deployments_interval_and_lease_to_running_runs_only() -> None:
    rule = HeartbeatRule(interval_seconds=2, lease_seconds=10)
    running = rule(run("running", heartbeat_at=BEAT, started_at=at(-60)), at(3))
    assert running is not None
    assert (running.pulse, running.lost_at, running.countdown) == (Pulse.LATE, at(10), "in 7 s")
    expired = rule(run("running", heartbeat_at=BEAT), at(11))
    assert expired is not None
    assert expired.pulse is Pulse.EXPIRED
    for state in ("pending", "queued", "succeeded", "lost", "cancelled"):
        assert rule(run(state, heartbeat_at=BEAT), at(3)) is None
    # A running run without a heartbeat yet is judged from its start.
    unbeaten = rule(run("running", started_at=BEAT), at(1))
    assert unbeaten is not None
    assert unbeaten.words == "heartbeat 1 s ago"


# --- misfires -------------------------------------------------------------------------

GRACE = timedelta(seconds=60)


@pytest.mark.parametrize(
    ("policy", "ran", "done"),
    [
        ("skip", False, "misfire_policy skip recorded it as skipped instead of running it late"),
        ("run_once", True, "misfire_policy run_once ran it once, late, in place of every"),
        ("run_all", True, "misfire_policy run_all ran it late, and runs each occurrence missed"),
        ("run_all", False, "replays only the most recent missed occurrences"),
    ],
)
def test_a_misfire_says_how_late_and_what_the_policy_did(policy: str, ran: bool, done: str) -> None:
    words = misfire_in_words(policy, timedelta(seconds=3630), GRACE, ran=ran)
    assert words is not None
    assert words.startswith("3630 s late, past the 1 minute misfire grace: ")
    assert done in words


def test_within_the_grace_there_is_no_misfire() -> None:
    assert misfire_in_words("skip", GRACE, GRACE, ran=False) is None
    assert misfire_in_words("run_once", timedelta(seconds=3), GRACE, ran=True) is None


@pytest.mark.parametrize(("policy", "ran"), [("skip", True), ("run_once", False)])
def test_what_the_policy_could_not_have_done_is_not_claimed(policy: str, ran: bool) -> None:
    # A late run of a "skip" job ran (the policy changed since); a late "run_once"
    # occurrence was skipped (for overlap): only the lateness is told.
    words = misfire_in_words(policy, timedelta(seconds=90), GRACE, ran=ran)
    assert words == "90 s late, past the 1 minute misfire grace."
