"""A schedule as Python declares it, checked before it reaches the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pgtask.models import validate_max_attempts, validate_name, validate_priority
from pgtask.schedules.cron import CronError, Timing


@dataclass(frozen=True, slots=True)
class ScheduleDef:
    """One task per fire time of `cron` (5 fields or @daily-style) or of every `every`.

    `catch_up`: when fire times were missed (no scheduler ran for longer than `grace`), how
    many of the latest to enqueue anyway; 0 skips them. `enabled` None keeps the state the
    schedule has in the database (a new one starts enabled), so redeclaring it from code at
    every start does not undo an operator's "pgtask schedule disable".
    """

    name: str
    task_type: str
    cron: str | None = None
    every: timedelta | None = None
    time_zone: str = "UTC"
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    max_attempts: int | None = None
    catch_up: int = 0
    grace: timedelta = timedelta(minutes=1)
    enabled: bool | None = None

    def __post_init__(self) -> None:
        validate_name("schedule name", self.name)
        validate_name("task type", self.task_type)
        validate_name("queue", self.queue)
        validate_priority(self.priority)
        validate_max_attempts(self.max_attempts)
        every: object = self.every  # seconds are accepted too (from @task(every=60))
        if isinstance(every, int | float):
            object.__setattr__(self, "every", timedelta(seconds=every))
        # Checks the expression (or interval) and the time zone; the anchor is the database's.
        Timing(self.cron, self.every, self.time_zone, datetime.now(UTC))
        if not isinstance(self.payload, dict):
            raise TypeError("payload must be a dict (a JSON object), "
                            f"got {type(self.payload).__name__}")
        if not isinstance(self.catch_up, int) or not 0 <= self.catch_up <= 1000:
            raise CronError("catch_up must be an integer from 0 (skip missed runs) to 1000")
        if self.grace < timedelta(0):
            raise CronError("grace must not be negative")
