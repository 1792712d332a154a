"""Fire times, pure: cron in time zones across DST, aliases, intervals, the catch-up plan."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pgtask.schedules.cron import CronError, Timing, expand, plan

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def local(times, zone):
    return [t.astimezone(zone).strftime("%m-%d %H:%M %Z") for t in times]


def first(timing, after, n):
    it = timing.after(after)
    return [next(it) for _ in range(n)]


def test_aliases_expand_to_five_fields():
    assert expand("@hourly") == "0 * * * *"
    assert expand("@DAILY") == expand("@midnight") == "0 0 * * *"
    assert expand("@weekly") == "0 0 * * 0"
    assert expand("@monthly") == "0 0 1 * *"
    assert expand("@yearly") == expand("@annually") == "0 0 1 1 *"
    assert expand("  */5   * * * * ") == "*/5 * * * *"


@pytest.mark.parametrize("bad, why", [
    ("* * * *", "5 fields"), ("* * * * * *", "5 fields"), ("@fortnightly", "unknown cron alias"),
    ("61 * * * *", "invalid cron expression"), ("* 25 * * *", "invalid cron expression"),
])
def test_bad_expressions_are_refused_with_a_reason(bad, why):
    with pytest.raises(CronError, match=why):
        Timing(cron=bad)


def test_bad_time_zone_and_timing_are_refused():
    with pytest.raises(CronError, match="unknown time zone 'Mars/Olympus'"):
        Timing(cron="@daily", time_zone="Mars/Olympus")
    with pytest.raises(CronError, match="either cron or every"):
        Timing()
    with pytest.raises(CronError, match="positive"):
        Timing(every=timedelta(0), anchor=datetime.now(UTC))


def test_every_five_minutes_in_utc():
    start = datetime(2026, 1, 1, 10, 2, 30, tzinfo=UTC)
    assert local(first(Timing(cron="*/5 * * * *"), start, 3), UTC) == [
        "01-01 10:05 UTC", "01-01 10:10 UTC", "01-01 10:15 UTC"]
    # Strictly after: a fire time is not its own successor.
    assert Timing(cron="*/5 * * * *").next_after(datetime(2026, 1, 1, 10, 5, tzinfo=UTC)) == \
        datetime(2026, 1, 1, 10, 10, tzinfo=UTC)


def test_daily_in_berlin_is_local_wall_clock_time_in_winter_and_summer():
    daily = Timing(cron="0 9 * * *", time_zone="Europe/Berlin")
    winter = daily.next_after(datetime(2026, 1, 15, tzinfo=UTC))
    summer = daily.next_after(datetime(2026, 7, 15, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (8, 7)  # 09:00 CET / CEST in UTC
    assert winter.tzinfo == UTC


def test_berlin_spring_forward_runs_a_skipped_time_once_right_after_the_gap():
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
    fires = first(Timing(cron="30 2 * * *", time_zone="Europe/Berlin"),
                  datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    assert local(fires, BERLIN) == ["03-28 02:30 CET", "03-29 03:00 CEST", "03-30 02:30 CEST"]


def test_berlin_fall_back_runs_a_repeated_time_once():
    # 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice.
    fires = first(Timing(cron="30 2 * * *", time_zone="Europe/Berlin"),
                  datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert local(fires, BERLIN) == ["10-25 02:30 CEST", "10-26 02:30 CET", "10-27 02:30 CET"]
    assert fires[1] - fires[0] == timedelta(hours=25)


def test_wildcard_hour_jobs_follow_elapsed_time_through_both_transitions():
    # Every 30 minutes: across fall-back the repeated hour runs twice (it did pass twice) ...
    fires = first(Timing(cron="*/30 * * * *", time_zone="Europe/Berlin"),
                  datetime(2026, 10, 25, 0, 45, tzinfo=BERLIN), 5)
    assert local(fires, BERLIN) == ["10-25 01:00 CEST", "10-25 01:30 CEST", "10-25 02:00 CEST",
                                    "10-25 02:30 CEST", "10-25 02:00 CET"]
    assert all(b - a == timedelta(minutes=30) for a, b in zip(fires, fires[1:], strict=False))
    # ... and across spring-forward the missing hour simply is not there.
    fires = first(Timing(cron="0 * * * *", time_zone="America/New_York"),
                  datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK), 3)
    assert local(fires, NEW_YORK) == ["03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"]
    assert fires[1] - fires[0] == timedelta(hours=1)


def test_new_york_transitions_for_a_fixed_time_job():
    at_130 = Timing(cron="30 1 * * *", time_zone="America/New_York")
    # Fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 once, the first (EDT) time.
    fires = first(at_130, datetime(2026, 10, 31, 12, tzinfo=UTC), 3)
    assert local(fires, NEW_YORK) == ["11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"]
    # Spring forward 2026-03-08 02:00 EST -> 03:00 EDT: 02:15 is run at 03:00.
    fires = first(Timing(cron="15 2 * * *", time_zone="America/New_York"),
                  datetime(2026, 3, 7, 12, tzinfo=UTC), 2)
    assert local(fires, NEW_YORK) == ["03-08 03:00 EDT", "03-09 02:15 EDT"]


def test_before_walks_back_strictly():
    hourly = Timing(cron="@hourly")
    it = hourly.before(datetime(2026, 1, 1, 10, 0, tzinfo=UTC))
    assert [next(it).hour for _ in range(3)] == [9, 8, 7]
    it = hourly.before(datetime(2026, 1, 1, 10, 0, 0, 500, tzinfo=UTC))
    assert next(it).hour == 10


def test_intervals_count_from_the_anchor():
    anchor = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
    every = Timing(every=timedelta(seconds=90), anchor=anchor)
    assert every.next_after(anchor - timedelta(days=1)) == anchor + timedelta(seconds=90)
    assert every.next_after(anchor + timedelta(seconds=90)) == anchor + timedelta(seconds=180)
    it = every.before(anchor + timedelta(seconds=180))
    assert [next(it), next(it, None)] == [anchor + timedelta(seconds=90), None]
    assert every.between(anchor + timedelta(seconds=90), anchor + timedelta(seconds=270)) == [
        anchor + timedelta(seconds=s) for s in (90, 180, 270)]


T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MINUTELY = Timing(cron="* * * * *")


def test_plan_enqueues_what_is_due_and_waits_for_the_next():
    step = plan(MINUTELY, next_fire_at=T0, since=T0, now=T0 + timedelta(seconds=61),
                grace=timedelta(minutes=5))
    assert step.fire_times == [T0, T0 + timedelta(minutes=1)]
    assert step.next_fire_at == T0 + timedelta(minutes=2)
    assert not step.skipped
    # A new schedule starts at the first fire time after it was created.
    step = plan(MINUTELY, next_fire_at=None, since=T0 + timedelta(seconds=5),
                now=T0 + timedelta(seconds=59))
    assert (step.fire_times, step.next_fire_at) == ([], T0 + timedelta(minutes=1))


def test_plan_after_downtime_skips_or_catches_up_the_latest_n():
    down_until = T0 + timedelta(hours=2, seconds=10)  # scheduler down for two hours
    skip = plan(MINUTELY, next_fire_at=T0, since=T0, now=down_until, grace=timedelta(seconds=30))
    assert skip.fire_times == [T0 + timedelta(hours=2)]  # only the on-time one
    assert skip.skipped and skip.next_fire_at == T0 + timedelta(hours=2, minutes=1)
    catch = plan(MINUTELY, next_fire_at=T0, since=T0, now=down_until, grace=timedelta(seconds=30),
                 catch_up=3)
    assert catch.fire_times == [T0 + timedelta(hours=2, minutes=m) for m in (-3, -2, -1, 0)]
    # Fewer missed than catch_up: all of them.
    short = plan(MINUTELY, next_fire_at=T0, since=T0, now=T0 + timedelta(minutes=2, seconds=40),
                 grace=timedelta(seconds=30), catch_up=10)
    assert short.fire_times == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert not short.skipped


def test_plan_late_within_grace_loses_nothing_and_caps_per_tick():
    second = Timing(every=timedelta(seconds=1), anchor=T0)
    step = plan(second, next_fire_at=T0 + timedelta(seconds=1), since=T0,
                now=T0 + timedelta(seconds=20), grace=timedelta(seconds=30))
    assert len(step.fire_times) == 20 and not step.skipped
    capped = plan(second, next_fire_at=T0 + timedelta(seconds=1), since=T0,
                  now=T0 + timedelta(seconds=20), grace=timedelta(seconds=30), limit=5)
    assert capped.fire_times[-1] == T0 + timedelta(seconds=5)
    assert capped.next_fire_at == T0 + timedelta(seconds=6)
