"""DatabaseClock: the database's time carried forward, whatever the host clock says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.clock import DatabaseClock, FixedClock, host_clock

DB_TIME = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_follows_the_database_not_the_host() -> None:
    host = FixedClock(DB_TIME - timedelta(minutes=5))
    clock = DatabaseClock(lambda: DB_TIME, host)
    now = clock.now()
    assert DB_TIME <= now < DB_TIME + timedelta(seconds=5)
    assert clock.offset is not None
    assert clock.offset < timedelta(minutes=-4)
    host.advance(3600)  # the host clock jumps: the reading does not
    assert clock.now() < DB_TIME + timedelta(seconds=5)


def test_a_failed_resync_carries_the_last_reading_on() -> None:
    readings = [DB_TIME]

    def read() -> datetime:
        if not readings:
            raise ConnectionError("database down")
        return readings.pop()

    clock = DatabaseClock(read, FixedClock(DB_TIME), resync_seconds=0.0)
    first = clock.now()
    assert clock.now() >= first  # the resync failed, the last reading goes on


def test_no_reading_yet_uses_the_host_clock() -> None:
    def read() -> datetime:
        raise ConnectionError("database down")

    assert DatabaseClock(read, FixedClock(DB_TIME)).now() == DB_TIME


def test_the_test_offset_is_ignored_in_production() -> None:
    env = {"CHRONOS_TEST_CLOCK_OFFSET_SECONDS": "60"}
    assert host_clock(env, "development").offset == timedelta(seconds=60)
    assert host_clock(env, "production").offset == timedelta(0)
    assert host_clock({"CHRONOS_TEST_CLOCK_OFFSET_SECONDS": "nan"}, "development").offset == (
        timedelta(0)
    )


def test_a_resync_that_reads_earlier_never_moves_time_back() -> None:
    """Each reading is only as good as half its round trip: a later one may put the time
    behind what was already handed out. A run started at one reading and finished after
    the next must not finish before it started."""
    readings = [DB_TIME - timedelta(milliseconds=200), DB_TIME]

    clock = DatabaseClock(lambda: readings.pop(), FixedClock(DB_TIME), resync_seconds=0.0)
    started = clock.now()  # the first reading: DB_TIME
    finished = clock.now()  # resynced to 200 ms earlier
    assert finished >= started


def test_the_reading_with_the_shortest_round_trip_is_kept(monkeypatch) -> None:
    """The first reading also connects (0.9 s here): taken alone, it would put the clock
    0.45 s off. The quick second one sets it to within its own 5 ms round trip."""
    ticks = [0.0]
    monkeypatch.setattr("shared.clock.time.monotonic", lambda: ticks[0])
    durations = iter([(0.9, 0.1), (0.005, 0.005), (0.02, 0.02)])  # (connect+wait, answer)

    def read() -> datetime:
        until_read, after_read = next(durations)
        ticks[0] += until_read
        moment = DB_TIME + timedelta(seconds=ticks[0])  # the database's time is the ticks
        ticks[0] += after_read
        return moment

    clock = DatabaseClock(read, FixedClock(DB_TIME))
    clock.now()
    error = clock.now_at(2.0) - (DB_TIME + timedelta(seconds=2.0))
    assert abs(error) <= timedelta(milliseconds=5), error
