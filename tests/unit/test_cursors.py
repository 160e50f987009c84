"""Paging cursors are signed: the API reads back only the cursors it issued, for the
listing it issued them in, and anything else is a 400 naming ``cursor``, never a 500
(review L1)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api import serialize
from shared.errors import ValidationError

SECRET = "cursor-test-secret-" + "x" * 32
JOBS = serialize.cursors(SECRET, "jobs:alice")
ROW = {"created_at": datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC), "id": uuid.uuid4()}
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, database=None)


def refused(pages: serialize.Cursors, cursor: str) -> None:
    with pytest.raises(ValidationError) as caught:
        pages.decode(cursor)
    assert (caught.value.field, caught.value.message) == ("cursor", "not a cursor this API issued")


def test_a_cursor_reads_back_as_the_position_it_was_issued_for() -> None:
    cursor = JOBS.encode(ROW)
    assert JOBS.decode(cursor) == (ROW["created_at"], ROW["id"])
    assert JOBS.decode(cursor)[0].tzinfo is not None


def test_a_cursor_is_short_opaque_and_url_safe() -> None:
    cursor = JOBS.encode(ROW)
    assert re.fullmatch(r"[A-Za-z0-9_-]{48}", cursor)
    assert str(ROW["id"]) not in cursor
    assert ROW["created_at"].isoformat() not in cursor


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 1, 10, 0, tzinfo=UTC) + timedelta(hours=5),
    ],
)
def test_any_storable_time_round_trips_to_the_microsecond(moment: datetime) -> None:
    row = {"created_at": moment, "id": uuid.uuid4()}
    assert JOBS.decode(JOBS.encode(row)) == (moment, row["id"])


def test_a_cursor_of_another_listing_is_refused() -> None:
    cursor = JOBS.encode(ROW)
    refused(serialize.cursors(SECRET, "jobs:bob"), cursor)
    refused(serialize.cursors(SECRET, f"runs:{uuid.uuid4()}"), cursor)


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    cursor = serialize.cursors("another-secret-" + "y" * 32, "jobs:alice").encode(ROW)
    refused(JOBS, cursor)


def test_the_cursor_key_is_not_the_token_secret() -> None:
    assert serialize.cursor_key(SECRET) != SECRET.encode()
    assert len(serialize.cursor_key(SECRET)) == 32


def test_every_changed_character_is_refused() -> None:
    cursor = JOBS.encode(ROW)
    for index, char in enumerate(cursor):
        for other in {"A", "B", "_", "-"} - {char}:
            refused(JOBS, cursor[:index] + other + cursor[index + 1 :])


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "%%%",
        "A" * 48,
        "A" * 5000,
        # The review's reproduction: a well-formed old-style cursor whose id is a number.
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", 1]).encode())
        .decode()
        .rstrip("="),
        base64.urlsafe_b64encode(
            json.dumps(["2026-01-01T00:00:00+00:00", str(uuid.uuid4())]).encode()
        )
        .decode()
        .rstrip("="),
        "\u00e9" * 48,
        "\x00" * 48,
        "📅" * 12,
    ],
)
def test_malformed_cursors_are_refused(cursor: str) -> None:
    refused(JOBS, cursor)


def test_padding_whitespace_and_the_other_alphabet_are_refused() -> None:
    cursor = JOBS.encode(ROW)
    for variant in (cursor + "==", cursor + "\n", " " + cursor, cursor.replace("-", "+")):
        if variant != cursor:
            refused(JOBS, variant)
    standard = cursor.translate(str.maketrans("-_", "+/"))
    if standard != cursor:
        refused(JOBS, standard)


@PROPERTY
@given(cursor=st.text(max_size=80))
def test_no_text_decodes_unless_issued(cursor: str) -> None:
    refused(JOBS, cursor)


@PROPERTY
@given(raw=st.binary(min_size=36, max_size=36))
def test_no_36_bytes_decode_unless_signed(raw: bytes) -> None:
    refused(JOBS, base64.urlsafe_b64encode(raw).decode())
