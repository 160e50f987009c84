"""The audit page's pure pieces: an event's summary in words and its object's link."""

from __future__ import annotations

from typing import Any

import pytest

from api.dashboard.audit import SHOWN_CHARS, details_in_words, object_link


@pytest.mark.parametrize(
    ("details", "lines"),
    [
        ({"paused": {"from": False, "to": True}}, [("paused", "false → true")]),
        ({"concurrency": {"from": None, "to": 5}}, [("concurrency", "null → 5")]),
        (
            {"status": {"from": "scheduled", "to": "paused"}, "name": "nightly"},
            [("name", "nightly"), ("status", "scheduled → paused")],
        ),
        (
            {
                "username": "ann",
                "fields": ["password", "role"],
                "role": {"from": "user", "to": "admin"},
            },
            [("username", "ann"), ("fields", "password, role"), ("role", "user → admin")],
        ),
        (
            {
                "name": "r",
                "schedule": {
                    "from": {"run_at": "2027-01-01T00:00:00Z"},
                    "to": {"timezone": "UTC", "repeat": "daily"},
                },
            },
            [
                ("name", "r"),
                ("schedule", "run_at=2027-01-01T00:00:00Z → repeat=daily, timezone=UTC"),
            ],
        ),
        ({"schedule": {}}, [("schedule", "none")]),
        ({}, []),
        (None, []),
    ],
)
def test_a_summary_reads_as_one_line_per_field(details: Any, lines: list[tuple[str, str]]) -> None:
    assert details_in_words(details) == lines


def test_a_long_value_is_cut() -> None:
    [(field, text)] = details_in_words({"name": "x" * 1000})
    assert field == "name"
    assert len(text) == SHOWN_CHARS
    assert text.endswith("…")


def test_a_summary_with_from_and_other_keys_is_not_a_change() -> None:
    assert details_in_words({"window": {"from": 1, "to": 2, "by": 3}}) == [
        ("window", "by=3, from=1, to=2")
    ]


@pytest.mark.parametrize(
    ("object_type", "object_id", "link"),
    [
        (
            "job",
            "0b9c2e9e-3c1a-4c1e-9d7e-2f1f6f0d9a11",
            "/ui/jobs/0b9c2e9e-3c1a-4c1e-9d7e-2f1f6f0d9a11",
        ),
        ("job", "../x?y", "/ui/jobs/..%2Fx%3Fy"),
        ("queue", "default", "/ui/queues"),
        ("user", "0b9c2e9e-3c1a-4c1e-9d7e-2f1f6f0d9a11", None),
    ],
)
def test_an_object_links_to_its_page_where_it_has_one(
    object_type: str, object_id: str, link: str | None
) -> None:
    assert object_link(object_type, object_id) == link
