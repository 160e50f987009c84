"""The run state machine of DESIGN.md, and the status vocabularies of API.md."""

from __future__ import annotations

import itertools

import pytest

from shared.states import (
    ACTIVE_RUN_STATES,
    FINAL_JOB_STATUSES,
    FINISHED_JOB_STATUSES,
    TERMINAL_RUN_STATES,
    TRANSITIONS,
    ErrorKind,
    InvalidTransition,
    JobStatus,
    MisfirePolicy,
    OverlapPolicy,
    Role,
    RunOrigin,
    RunState,
    can_transition,
    sources_of,
)

# The diagram of DESIGN.md, written out by hand: source -> the states it may move to.
ALLOWED: dict[str, set[str]] = {
    "pending": {"queued", "skipped", "cancelled"},
    "queued": {"running", "cancelled"},
    "running": {"succeeded", "failed", "cancelled", "lost"},
    "succeeded": set(),
    "failed": set(),
    "cancelled": set(),
    "skipped": set(),
    "lost": set(),
}
ALL_STATES = list(ALLOWED)
TERMINAL = {"succeeded", "failed", "cancelled", "skipped", "lost"}


def test_run_states_are_exactly_those_of_the_api() -> None:
    assert [state.value for state in RunState] == [
        "pending",
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "skipped",
        "lost",
    ]


def test_run_states_are_strings() -> None:
    assert RunState("lost") is RunState.LOST
    assert RunState.PENDING == "pending"
    assert f"{RunState.RUNNING}" == "running"


def test_transition_table_is_the_design() -> None:
    assert set(TRANSITIONS) == set(RunState)
    assert {
        source.value: {t.value for t in targets} for source, targets in TRANSITIONS.items()
    } == (ALLOWED)


@pytest.mark.parametrize(
    ("source", "targets"),
    [
        (RunState.PENDING, {RunState.QUEUED, RunState.SKIPPED, RunState.CANCELLED}),
        (RunState.QUEUED, {RunState.RUNNING, RunState.CANCELLED}),
        (
            RunState.RUNNING,
            {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST},
        ),
    ],
)
def test_each_live_state_moves_only_where_the_design_says(
    source: RunState, targets: set[RunState]
) -> None:
    assert TRANSITIONS[source] == frozenset(targets)


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_transitions(state: str) -> None:
    assert TRANSITIONS[RunState(state)] == frozenset()
    assert RunState(state) in TERMINAL_RUN_STATES


def test_terminal_run_states_are_exactly_the_five_ends() -> None:
    assert {state.value for state in TERMINAL_RUN_STATES} == TERMINAL


def test_active_run_states_are_queued_and_running() -> None:
    assert set(ACTIVE_RUN_STATES) == {RunState.QUEUED, RunState.RUNNING}
    assert not ACTIVE_RUN_STATES & TERMINAL_RUN_STATES


@pytest.mark.parametrize(
    ("target", "sources"),
    [
        (RunState.QUEUED, {RunState.PENDING}),
        (RunState.RUNNING, {RunState.QUEUED}),
        (RunState.SUCCEEDED, {RunState.RUNNING}),
        (RunState.FAILED, {RunState.RUNNING}),
        (RunState.LOST, {RunState.RUNNING}),
        (RunState.SKIPPED, {RunState.PENDING}),
        (RunState.CANCELLED, {RunState.PENDING, RunState.QUEUED, RunState.RUNNING}),
    ],
)
def test_sources_of_each_target(target: RunState, sources: set[RunState]) -> None:
    found = sources_of(target)

    assert isinstance(found, tuple)
    assert set(found) == sources
    assert len(found) == len(sources)


def test_nothing_moves_back_to_pending() -> None:
    with pytest.raises(InvalidTransition) as caught:
        sources_of(RunState.PENDING)
    assert "pending" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(ALL_STATES, ALL_STATES)))
def test_can_transition_agrees_with_the_hand_written_table(source: str, target: str) -> None:
    assert can_transition(RunState(source), RunState(target)) is (target in ALLOWED[source])


def test_the_exhaustive_table_has_nine_allowed_pairs() -> None:
    allowed = [(s, t) for s in RunState for t in RunState if can_transition(s, t)]

    assert len(allowed) == 9
    assert sorted((s.value, t.value) for s, t in allowed) == sorted(
        (s, t) for s, targets in ALLOWED.items() for t in targets
    )


@pytest.mark.parametrize("state", ALL_STATES)
def test_no_state_moves_to_itself(state: str) -> None:
    assert can_transition(RunState(state), RunState(state)) is False


def test_sources_of_agrees_with_can_transition() -> None:
    for target in RunState:
        if target is RunState.PENDING:
            continue
        assert set(sources_of(target)) == {s for s in RunState if can_transition(s, target)}


def test_job_statuses_are_exactly_those_of_the_api() -> None:
    assert {status.value for status in JobStatus} == {
        "scheduled",
        "queued",
        "running",
        "paused",
        "succeeded",
        "failed",
        "cancelled",
    }


def test_finished_and_final_job_statuses() -> None:
    # Cancelling a succeeded or failed job gets 409; a cancelled one may be cancelled again.
    assert set(FINISHED_JOB_STATUSES) == {JobStatus.SUCCEEDED, JobStatus.FAILED}
    assert set(FINAL_JOB_STATUSES) == {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


def test_policies_roles_and_error_kinds_match_the_api() -> None:
    assert [p.value for p in MisfirePolicy] == ["run_once", "skip", "run_all"]
    assert [p.value for p in OverlapPolicy] == ["allow", "forbid", "replace"]
    assert {r.value for r in Role} == {"user", "admin"}
    assert {k.value for k in ErrorKind} == {
        "exception",
        "timeout",
        "cancelled",
        "lost",
        "http_status",
        "crashed",
    }
    assert {o.value for o in RunOrigin} == {"schedule", "retry", "manual"}
