"""A queue's policy settings, in one table: it drives `pgtask queue set`, PATCH /api/queues,
the OpenAPI document and the MySQL store. SQL's pgtask.configure_queue takes the same keys
(tests/unit/test_queue_settings.py keeps the two equal).

Kinds: "int" (a whole number), "rate" (tasks per second: 100/s, 10/m or a number),
"duration" (500ms, 30s, 5m or seconds), "fraction" (0 to 1), "url" (http:// or https://).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["int", "rate", "duration", "fraction", "url"]


@dataclass(frozen=True, slots=True)
class QueueSetting:
    name: str          # the pgtask.queues column and the API field
    option: str        # the `pgtask queue set` option, without its leading dashes
    kind: Kind
    help: str
    clearable: bool = False  # may be set to none (no limit, no target)
    minimum: float | None = None
    maximum: float | None = None


QUEUE_SETTINGS: tuple[QueueSetting, ...] = (
    QueueSetting("concurrency_limit", "concurrency-limit", "int",
                 "Max running at once ('none': no limit).", clearable=True, minimum=1),
    QueueSetting("rate_limit", "rate", "rate",
                 "Token-bucket rate, e.g. 100/s or 10/m ('none').", clearable=True),
    QueueSetting("rate_burst", "burst", "int", "Token-bucket burst size.", minimum=1),
    QueueSetting("max_attempts", "max-attempts", "int",
                 "Attempts before a task is dead (1-1000).", minimum=1, maximum=1000),
    QueueSetting("min_backoff", "min-backoff", "duration", "First retry delay, e.g. 1s."),
    QueueSetting("max_backoff", "max-backoff", "duration", "Longest retry delay, e.g. 1h."),
    QueueSetting("max_doublings", "max-doublings", "int",
                 "How many times the delay may double (0-60).", minimum=0, maximum=60),
    QueueSetting("backoff_jitter", "jitter", "fraction", "Spread of retry delays, 0 to 1.",
                 minimum=0, maximum=1),
    QueueSetting("lease", "lease", "duration", "How long a claim lasts without a heartbeat."),
    QueueSetting("target_url", "target-url", "url",
                 "POST tasks to this URL ('none': run in-process).", clearable=True),
    QueueSetting("dispatch_deadline", "dispatch-deadline", "duration",
                 "HTTP timeout per task, e.g. 30s."),
)

BY_NAME = {setting.name: setting for setting in QUEUE_SETTINGS}
NAMES = tuple(BY_NAME)
CLEARABLE = tuple(s.name for s in QUEUE_SETTINGS if s.clearable)


def of_kind(*kinds: Kind) -> tuple[str, ...]:
    """The names of the settings of these kinds, in table order."""
    return tuple(s.name for s in QUEUE_SETTINGS if s.kind in kinds)
