"""The dashboard's pure pieces: schedules and policies in words, the search qualifiers,
and the masking of secrets in payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.dashboard.redact import MASK, redacted
from api.dashboard.render import milliseconds, relative
from api.dashboard.search import parse_search
from api.dashboard.words import cron_in_words, duration, policies_in_words, schedule_in_words
from shared.errors import ValidationError
from shared.recurrence import Schedule

AT = datetime(2027, 1, 31, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * 1-5", "weekdays at 09:00"),
        ("30 6 * * *", "daily at 06:30"),
        ("0 10 * * 0,6", "weekends at 10:00"),
        ("15 * * * *", "hourly at minute 15"),
        ("*/5 * * * *", "every 5 minutes"),
        ("* * * * *", "every minute"),
        ("0 9 * * 1", "every Monday at 09:00"),
        ("0 9 * * 1,3", "every Monday and Wednesday at 09:00"),
        ("0 0 1 * *", "monthly on day 1 at 00:00"),
        ("0 9 * 1 *", 'cron "0 9 * 1 *"'),
        ("7 3 */2 * 1", 'cron "7 3 */2 * 1"'),
        ("0 9-17 * * *", 'cron "0 9-17 * * *"'),
    ],
)
def test_cron_in_words_or_the_expression_itself(expression: str, words: str) -> None:
    assert cron_in_words(expression) == words


def test_calendar_repeats_read_in_the_jobs_zone() -> None:
    # 08:00 UTC on 31 January is 09:00 in Berlin, a Sunday.
    def words(repeat: str) -> str:
        return schedule_in_words(Schedule(run_at=AT, repeat=repeat, timezone="Europe/Berlin"))

    assert words("daily") == "daily at 09:00, Europe/Berlin"
    assert words("weekly") == "every Sunday at 09:00, Europe/Berlin"
    assert words("hourly") == "hourly at minute 0, Europe/Berlin"
    assert words("monthly") == (
        "monthly on day 31 (the month's last day when it is shorter) at 09:00, Europe/Berlin"
    )


def test_one_off_interval_and_ends() -> None:
    assert schedule_in_words(Schedule(run_at=AT)) == "once, at 2027-01-31 08:00 UTC"
    assert schedule_in_words(Schedule(run_at=AT, interval_seconds=300)) == (
        "every 5 minutes from 2027-01-31 08:00 UTC"
    )
    ending = Schedule(run_at=AT, cron="0 9 * * 1-5", timezone="UTC", max_runs=3, end_at=AT)
    assert schedule_in_words(ending) == (
        "weekdays at 09:00, UTC, until 2027-01-31 08:00 UTC, at most 3 runs"
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (90, "90 seconds"), (300, "5 minutes"), (7200, "2 hours"),
     (86400, "1 day"), (0.5, "0.5 seconds")],
)  # fmt: skip
def test_durations_use_the_largest_exact_unit(seconds: float, words: str) -> None:
    assert duration(seconds) == words


def test_policies_in_one_sentence() -> None:
    job = {
        "max_attempts": 3,
        "retry_backoff_seconds": 30,
        "timeout_seconds": 3600,
        "overlap_policy": "forbid",
        "misfire_policy": "skip",
        "cron": "0 9 * * *",
    }
    assert policies_in_words(job) == (
        "Up to 3 attempts, retried after 30 seconds, doubling (at most an hour); each stopped "
        "after 1 hour; an occurrence is skipped while the previous run is still going; "
        "occurrences missed while nothing ran are skipped."
    )
    one_off = {**job, "max_attempts": 1, "cron": None}
    assert policies_in_words(one_off) == "One attempt, no retry; each stopped after 1 hour."


def test_search_qualifiers() -> None:
    search = parse_search(
        'type:http queue:default name:report payload.url:"https://x" payload.n:5 nightly',
        is_admin=False,
    )
    assert search.filters == {"type": "http", "queue": "default", "name": "report"}
    assert search.payload == {"url": "https://x", "n": 5}
    assert search.words == ["nightly"]
    nested = parse_search('payload.a.b:"c d" payload.a.e:true', is_admin=False)
    assert nested.payload == {"a": {"b": "c d", "e": True}}
    quoted = parse_search(r'name:"say \"hi\""', is_admin=False)
    assert quoted.filters == {"name": 'say "hi"'}
    assert parse_search("recurring:no", is_admin=False).recurring is False
    assert parse_search("owner:ana", is_admin=True).owner == "ana"
    assert parse_search("   ", is_admin=False).filters == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour:blue", "not a qualifier"),
        ("status:asleep", "expected one of"),
        ('name:"open', "not closed"),
        ("owner:ana", "only an admin"),
        ("type:a type:b", "given twice"),
        ("payload.a:1 payload.a:2", "given twice"),
        ("payload.a b:1", "not a qualifier"),
        ("payload.:1", "a path is"),
        ("recurring:maybe", "yes or no"),
    ],
)
def test_search_refuses_what_it_cannot_read(query: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_search(query, is_admin=False)
    assert raised.value.field == "q"
    assert message in raised.value.description


def test_payload_secrets_are_masked_and_the_rest_kept() -> None:
    payload = {
        "url": "https://x",
        "headers": {"Authorization": "Bearer t", "X-Team": "core"},
        "env": {"PATH": "/bin"},
        "api_key": "k",
        "nested": {"password": "p", "list": [{"token": "t2", "keep": 1}]},
    }
    assert redacted(payload) == {
        "url": "https://x",
        "headers": {"Authorization": MASK, "X-Team": MASK},
        "env": {"PATH": MASK},
        "api_key": MASK,
        "nested": {"password": MASK, "list": [{"token": MASK, "keep": 1}]},
    }


def test_secrets_in_urls_are_masked() -> None:
    payload = {
        "url": "https://ana:pw@example.com/hook?api_key=S&page=2",
        "plain": "https://example.com/x?page=2",
        "text": "not a url",
    }
    assert redacted(payload) == {
        "url": f"https://{MASK}@example.com/hook?api_key={MASK}&page=2",
        "plain": "https://example.com/x?page=2",
        "text": "not a url",
    }


def test_relative_times_and_gaps() -> None:
    now = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert relative(now, now) == "just now"
    assert relative(datetime(2027, 1, 1, 11, 57, tzinfo=UTC), now) == "3 min ago"
    assert relative(datetime(2027, 1, 1, 14, 0, tzinfo=UTC), now) == "in 2 h"
    later = datetime(2027, 1, 1, 12, 0, 0, 12000, tzinfo=UTC)
    assert milliseconds(now, later) == "12 ms"
    assert milliseconds(now, datetime(2027, 1, 1, 12, 2, 5, tzinfo=UTC)) == "2 min 5 s"
    assert milliseconds(None, now) == "-"
