"""GET /jobs: ownership, order, filters and keyset paging."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.integration.helpers import (
    JOB_KEYS,
    assert_error,
    create_job,
    list_jobs,
    runs_of,
    unique,
)


def ids(result: Any) -> list[str]:
    assert result.status_code == 200, result.text
    return [job["id"] for job in result.json["items"]]


def test_list_returns_own_jobs_newest_first(client, user):
    created = [create_job(client, user, name=f"n{index}")["id"] for index in range(3)]
    result = list_jobs(client, user)

    assert result.status_code == 200, result.text
    assert set(result.json) == {"items", "next_cursor"}
    assert ids(result) == list(reversed(created))
    assert result.json["next_cursor"] is None
    for job in result.json["items"]:
        assert set(job) == JOB_KEYS
        assert job["owner_id"] == user.id


def test_list_of_a_new_user_is_empty(client, user):
    result = list_jobs(client, user)
    assert result.status_code == 200, result.text
    assert result.json == {"items": [], "next_cursor": None}


def test_users_never_see_each_others_jobs(client, user, other_user):
    name = unique()
    mine = create_job(client, user, name=name)["id"]
    theirs = create_job(client, other_user, name=name)["id"]

    assert ids(list_jobs(client, user)) == [mine]
    assert ids(list_jobs(client, other_user)) == [theirs]
    assert ids(list_jobs(client, user, name=name)) == [mine]


def test_admin_sees_everyones_jobs(client, user, other_user, admin):
    name = unique()
    mine = create_job(client, user, name=name)["id"]
    theirs = create_job(client, other_user, name=name)["id"]

    assert ids(list_jobs(client, admin, name=name, limit=200)) == [theirs, mine]


def test_filter_by_status(client, user):
    kept = create_job(client, user)["id"]
    cancelled = create_job(client, user)["id"]
    assert client.simulate_delete(f"/jobs/{cancelled}", headers=user.headers).status_code == 200

    assert ids(list_jobs(client, user, status="cancelled")) == [cancelled]
    assert ids(list_jobs(client, user, status="scheduled")) == [kept]
    assert ids(list_jobs(client, user, status="paused")) == []


def test_filter_by_type(client, user):
    noop = create_job(client, user)["id"]
    sleep = create_job(client, user, type="sleep", payload={"seconds": 1})["id"]

    assert ids(list_jobs(client, user, type="sleep")) == [sleep]
    assert ids(list_jobs(client, user, type="noop")) == [noop]
    assert ids(list_jobs(client, user, type="http")) == []


def test_filter_by_queue(client, user):
    default = create_job(client, user)["id"]
    special = create_job(client, user, queue="other")["id"]

    assert ids(list_jobs(client, user, queue="other")) == [special]
    assert ids(list_jobs(client, user, queue="default")) == [default]


def test_filter_by_name(client, user):
    wanted = unique("wanted")
    first = create_job(client, user, name=wanted)["id"]
    create_job(client, user, name=unique("other"))
    second = create_job(client, user, name=wanted)["id"]

    assert ids(list_jobs(client, user, name=wanted)) == [second, first]
    assert ids(list_jobs(client, user, name=unique("missing"))) == []


def test_filters_combine(client, user):
    match = create_job(client, user, queue="other", name="combo")["id"]
    create_job(client, user, queue="other", name="other")
    create_job(client, user, queue="default", name="combo")

    assert ids(list_jobs(client, user, queue="other", name="combo", type="noop")) == [match]


def test_paging_through_five_jobs_two_at_a_time(client, user):
    created = [create_job(client, user, name=f"page{index}")["id"] for index in range(5)]

    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        result = list_jobs(client, user, **params)
        page = ids(result)
        sizes.append(len(page))
        seen.extend(page)
        cursor = result.json["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)

    assert sizes == [2, 2, 1]
    assert cursor is None
    assert len(seen) == len(set(seen))
    assert seen == list(reversed(created))


def test_paging_with_a_filter_keeps_the_filter(client, user):
    name = unique()
    created = [create_job(client, user, name=name)["id"] for _ in range(3)]
    create_job(client, user, name=unique())

    first = list_jobs(client, user, name=name, limit=2)
    second = list_jobs(client, user, name=name, limit=2, cursor=first.json["next_cursor"])

    assert ids(first) + ids(second) == list(reversed(created))
    assert second.json["next_cursor"] is None


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds_are_accepted(client, user, limit):
    create_job(client, user)
    create_job(client, user)
    result = list_jobs(client, user, limit=limit)
    assert result.status_code == 200, result.text
    assert len(result.json["items"]) == min(int(limit), 2)


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", str(10**30)])
def test_bad_limit_is_rejected(client, user, limit):
    assert_error(client.simulate_get(f"/jobs?limit={limit}", headers=user.headers), 400, "limit")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "%%%",
        base64.urlsafe_b64encode(b"not json at all").decode(),
        base64.urlsafe_b64encode(b'{"t": "yesterday", "id": "nope"}').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        "A" * 5000,
    ],
)
def test_bad_cursor_is_rejected(client, user, cursor):
    create_job(client, user)
    result = list_jobs(client, user, cursor=cursor)
    assert_error(result, 400, "cursor")


def test_a_cursor_of_another_users_listing_is_400(client, user, other_user):
    for _ in range(3):
        create_job(client, other_user)
    cursor = list_jobs(client, other_user, limit=1).json["next_cursor"]
    assert cursor is not None

    assert_error(list_jobs(client, user, cursor=cursor), 400, "cursor")
    assert ids(list_jobs(client, other_user, limit=1, cursor=cursor))


def test_a_runs_cursor_is_400_on_jobs_and_on_another_jobs_runs(client, user):
    job = create_job(client, user, schedule={"interval_seconds": 60})
    other = create_job(client, user)
    for _ in range(2):
        assert (
            client.simulate_post(f"/jobs/{job['id']}/trigger", headers=user.headers).status_code
            == 202
        )
    cursor = runs_of(client, user, job["id"], limit=1).json["next_cursor"]
    assert cursor is not None

    assert_error(list_jobs(client, user, cursor=cursor), 400, "cursor")
    assert_error(runs_of(client, user, other["id"], cursor=cursor), 400, "cursor")
    assert runs_of(client, user, job["id"], limit=1, cursor=cursor).status_code == 200
    jobs_cursor = list_jobs(client, user, limit=1).json["next_cursor"]
    assert_error(runs_of(client, user, job["id"], cursor=jobs_cursor), 400, "cursor")


def unsigned(created_at: Any, row_id: Any) -> str:
    """A cursor in the unsigned format the API used to issue (review L1)."""
    raw = json.dumps([created_at, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("created_at", "row_id"),
    [
        ("2026-01-01T00:00:00+00:00", 1),  # the review's reproduction: a 500 before
        ("2026-01-01T00:00:00+00:00", None),
        ("2026-01-01T00:00:00+00:00", ["x"]),
        (1, "00000000-0000-0000-0000-000000000000"),
        ("9999-12-31T23:59:59+00:00", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_a_crafted_cursor_is_400_on_jobs_and_runs(client, user, created_at, row_id):
    job = create_job(client, user)
    cursor = unsigned(created_at, row_id)
    assert_error(list_jobs(client, user, cursor=cursor), 400, "cursor")
    assert_error(runs_of(client, user, job["id"], cursor=cursor), 400, "cursor")


def test_a_tampered_cursor_is_400(client, user):
    for _ in range(3):
        create_job(client, user)
    cursor = list_jobs(client, user, limit=1).json["next_cursor"]
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    assert_error(list_jobs(client, user, cursor=flipped), 400, "cursor")
    assert_error(list_jobs(client, user, cursor=cursor + "A"), 400, "cursor")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "' OR 1=1 --"),
        ("status", "nonsense"),
        ("type", "x" * 5000),
        ("queue", "'; DROP TABLE jobs; --"),
        ("name", "\u0000"),
        ("name", "📅"),
    ],
)
def test_hostile_filters_never_fail_the_server(client, user, param, value):
    create_job(client, user)
    result = list_jobs(client, user, **{param: value})
    assert result.status_code in {200, 400}, result.text
    if result.status_code == 200:
        assert result.json["items"] == []
    else:
        assert_error(result, 400, param)
