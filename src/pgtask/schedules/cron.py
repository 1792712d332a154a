"""When a schedule fires: pure arithmetic on cron expressions and fixed intervals.

cronsim (the evaluator behind Healthchecks.io) does the calendar work, in the schedule's
IANA time zone. Across daylight-saving changes it behaves like Debian's cron: a job due at a
wall-clock time that does not exist (spring forward) runs at the first minute after the
gap; one due at a time that happens twice (fall back) runs once, the first time; a job with
'*' in its minute or hour field keeps running by elapsed time through both. This module
adds the @aliases, fixed intervals, and the plan of what a scheduler tick enqueues.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# At most this many fire times per schedule and tick; the rest wait for the next tick.
MAX_FIRES_PER_TICK = 1000
_TICK = timedelta(microseconds=1)


class CronError(ValueError):
    """A schedule's timing cannot be understood; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Timing:
    """A cron expression in a time zone, or a fixed interval counted from `anchor`."""

    cron: str | None = None
    every: timedelta | None = None
    time_zone: str = "UTC"
    anchor: datetime | None = None  # intervals fire at anchor + k * every, k >= 1

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise CronError("give a schedule either cron or every (not both)")
        zone = _zone(self.time_zone)
        if self.cron is not None:
            expression = expand(self.cron)
            try:
                CronSim(expression, datetime.now(zone))
            except (CronSimError, ValueError, IndexError) as exc:
                raise CronError(f"invalid cron expression {self.cron!r}: {exc}") from None
            object.__setattr__(self, "cron", expression)
        elif self.every is not None and self.every <= timedelta(0):
            raise CronError(f"every must be positive, got {self.every}")
        elif self.anchor is None or self.anchor.tzinfo is None:
            raise CronError("an interval schedule needs a timezone-aware anchor")

    def _interval(self) -> tuple[timedelta, datetime] | None:
        """(every, anchor) of an interval schedule; None for a cron one."""
        if self.every is None or self.anchor is None:
            return None
        return self.every, self.anchor

    def _cron(self, t: datetime, reverse: bool = False) -> CronSim:
        assert self.cron is not None  # __post_init__: one of cron and every
        return CronSim(self.cron, t.astimezone(_zone(self.time_zone)), reverse=reverse)

    def after(self, t: datetime) -> Iterator[datetime]:
        """Fire times strictly after `t`, ascending, as UTC datetimes."""
        interval = self._interval()
        if interval is not None:
            every, anchor = interval
            k = max(1, (t - anchor) // every + 1)
            while True:
                yield (anchor + k * every).astimezone(UTC)
                k += 1
        else:
            for fire in self._cron(t):
                yield fire.astimezone(UTC)

    def before(self, t: datetime) -> Iterator[datetime]:
        """Fire times strictly before `t`, descending, as UTC datetimes."""
        interval = self._interval()
        if interval is not None:
            every, anchor = interval
            k = -((anchor - t) // every) - 1  # ceil((t - anchor) / every) - 1
            while k >= 1:
                yield (anchor + k * every).astimezone(UTC)
                k -= 1
        else:
            for fire in self._cron(t, reverse=True):
                yield fire.astimezone(UTC)

    def next_after(self, t: datetime) -> datetime:
        return next(self.after(t))

    def between(self, start: datetime, end: datetime) -> list[datetime]:
        """Fire times in [start, end], ascending."""
        out: list[datetime] = []
        for fire in self.after(start - _TICK):
            if fire > end:
                return out
            out.append(fire)
        return out


def expand(cron: str) -> str:
    """The 5-field form of `cron`, with @aliases spelled out; refuses other field counts."""
    text = " ".join(cron.split())
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise CronError(f"unknown cron alias {cron!r}: use one of {', '.join(ALIASES)}")
        return ALIASES[text.lower()]
    if len(text.split()) != 5:
        raise CronError(f"cron expression {cron!r} must have 5 fields: "
                        "minute hour day-of-month month day-of-week (e.g. '*/5 * * * *')")
    return text


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r}: use an IANA name such as "
                        "'Europe/Berlin' or 'UTC'") from None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one tick does for one schedule: enqueue `fire_times`, then wait for `next_fire_at`."""

    fire_times: list[datetime]
    next_fire_at: datetime
    skipped: bool  # missed fire times were left out under the catch-up policy


def plan(timing: Timing, *, next_fire_at: datetime | None, since: datetime, now: datetime,
         catch_up: int = 0, grace: timedelta = timedelta(minutes=1),
         limit: int = MAX_FIRES_PER_TICK) -> Plan:
    """The fire times due at `now`, from `next_fire_at` (None: the first after `since`).

    A fire time more than `grace` before `now` was missed (no scheduler ran then): only the
    latest `catch_up` of those are enqueued (0: none). Later ones are merely late and all
    enqueued, oldest first, at most `limit` per tick.
    """
    start = next_fire_at if next_fire_at is not None else timing.next_after(since)
    late_bound = now - grace
    missed: list[datetime] = []
    skipped = False
    if start < late_bound:
        recent = [f for f in islice(timing.before(late_bound), catch_up + 1) if f >= start]
        missed = sorted(recent[:catch_up])
        skipped = len(recent) > catch_up
        start = timing.next_after(late_bound - _TICK)
    fires = missed[:limit]
    upcoming = timing.after(start - _TICK)
    following = next(upcoming)
    while following <= now and len(fires) < limit:
        fires.append(following)
        following = next(upcoming)
    return Plan(fires, following, skipped)
