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


# The shortest lease `queue set` accepts, in seconds. The worker renews a lease every third
# of the shortest it holds and abandons a database call after its 3 s deadline: under a
# shorter lease one slow renewal can let a live run's lease run out, and the run is lost
# to a new claim. pgtask.configure_queue refuses the same, in the same words
# (tests/sql/test_lease_floor.py keeps them equal); the MySQL store checks it here.
MIN_LEASE = 5


def lease_too_short(got: str) -> str:
    """Why a lease below MIN_LEASE is refused; `got` is the lease as Postgres prints it."""
    return (f"lease must be at least {MIN_LEASE} seconds (got {got}): the worker renews a "
            "lease every third of it, and one renewal may take up to its 3 s database deadline")


QUEUE_SETTINGS: tuple[QueueSetting, ...] = (
    QueueSetting("concurrency_limit", "concurrency-limit", "int",
                 "Max running at once ('none': no limit).", clearable=True, minimum=1),
    QueueSetting("rate_limit", "rate", "rate",
                 "Token-bucket rate, e.g. 100/s or 10/m ('none').", clearable=True),
    QueueSetting("rate_burst", "burst", "int",
                 "Token-bucket burst size (a --rate given without it: one second's worth).",
                 minimum=1),
    QueueSetting("max_attempts", "max-attempts", "int",
                 "Attempts before a task is dead (1-1000).", minimum=1, maximum=1000),
    QueueSetting("min_backoff", "min-backoff", "duration", "First retry delay, e.g. 1s."),
    QueueSetting("max_backoff", "max-backoff", "duration", "Longest retry delay, e.g. 1h."),
    QueueSetting("max_doublings", "max-doublings", "int",
                 "How many times the delay may double (0-60).", minimum=0, maximum=60),
    QueueSetting("backoff_jitter", "jitter", "fraction", "Spread of retry delays, 0 to 1.",
                 minimum=0, maximum=1),
    QueueSetting("lease", "lease", "duration",
                 f"How long a claim lasts without a heartbeat ({MIN_LEASE}s at least)."),
    QueueSetting("target_url", "target-url", "url",
                 "POST tasks to this URL ('none': run in-process).", clearable=True),
    QueueSetting("dispatch_deadline", "dispatch-deadline", "duration",
                 "HTTP timeout per task, e.g. 30s."),
    QueueSetting("max_run_time", "max-run-time", "duration",
                 "Longest a run may last before it is taken away and counted failed, "
                 "heartbeat or not, e.g. 10m ('none': the task type's timeout only).",
                 clearable=True),
)

BY_NAME = {setting.name: setting for setting in QUEUE_SETTINGS}
NAMES = tuple(BY_NAME)
CLEARABLE = tuple(s.name for s in QUEUE_SETTINGS if s.clearable)


def of_kind(*kinds: Kind) -> tuple[str, ...]:
    """The names of the settings of these kinds, in table order."""
    return tuple(s.name for s in QUEUE_SETTINGS if s.kind in kinds)
