"""`pgtask queue set` on MySQL: Postgres's pgtask.configure_queue as a pure function.

Postgres checks a queue's new policy in PL/pgSQL; MySQL has no such function, so the same
checks run here, on the locked row, with the same messages (without the "pgtask: " prefix
that admin.configure_queue strips on Postgres). Durations are seconds, as MySQL stores them.
"""

from __future__ import annotations

import math
from typing import Any

from pgtask.errors import ConfigError
from pgtask.models import NAME_PATTERN
from pgtask.queue_settings import CLEARABLE, MIN_LEASE, NAMES, lease_too_short


def pg_number(value: float) -> str:
    """A number as Postgres prints a double: 2, 0.1, 1e+20."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def pg_interval(seconds: float) -> str:
    """Seconds as Postgres prints an interval given in seconds: 00:00:00.5, 25:00:00."""
    whole = int(seconds)
    fraction = f"{seconds - whole:.6f}"[1:].rstrip("0").rstrip(".")
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}{fraction}"


def check_request(name: str, settings: dict[str, Any]) -> None:
    """Refuse a bad queue name, an unknown setting, or clearing one that must have a value."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"invalid queue name {name!r}")
    unknown = sorted(set(settings) - set(NAMES))
    if unknown:
        raise ConfigError(f"unknown queue setting(s): {', '.join(unknown)}")
    cleared = sorted(k for k, v in settings.items() if v is None and k not in CLEARABLE)
    if cleared:
        raise ConfigError(f"{', '.join(cleared)} cannot be cleared "
                          f"(only {', '.join(CLEARABLE[:-1])} and {CLEARABLE[-1]} can)")


def default_burst(rate: float | None, burst: int) -> int:
    """The burst a rate set without one comes with: one second's worth, at least 1.

    A worker that claims a moment late (a round trip, a busy host) then loses no tokens,
    and an idle queue bursts at most one second of work (pgtask.configure_queue does the
    same on Postgres). A bad rate keeps `burst`: _check refuses the rate itself.
    """
    if rate is None or not 0 < rate < math.inf:
        return burst
    return min(max(1, math.ceil(rate)), 1_000_000)


def _check(q: dict[str, Any], lease_given: bool) -> None:
    if q["concurrency_limit"] is not None and q["concurrency_limit"] <= 0:
        raise ConfigError(f"concurrency_limit must be at least 1, got {q['concurrency_limit']}")
    rate = q["rate_limit"]
    if rate is not None and (rate <= 0 or math.isinf(rate) or math.isnan(rate)):
        raise ConfigError("rate_limit must be a positive number of tasks per second, "
                          f"got {pg_number(rate)}")
    if q["rate_burst"] <= 0:
        raise ConfigError(f"rate_burst must be at least 1, got {q['rate_burst']}")
    if not 1 <= q["max_attempts"] <= 1000:
        raise ConfigError(f"max_attempts must be from 1 to 1000, got {q['max_attempts']}")
    if min(q["min_backoff"], q["lease"], q["dispatch_deadline"]) <= 0:
        got = ", ".join(pg_interval(q[k]) for k in ("min_backoff", "lease", "dispatch_deadline"))
        raise ConfigError(f"min_backoff, lease and dispatch_deadline must be positive (got {got})")
    # Only a lease being set: one shortened by direct UPDATE must not block other settings.
    if lease_given and q["lease"] < MIN_LEASE:
        raise ConfigError(lease_too_short(pg_interval(q["lease"])))
    if q["max_backoff"] < q["min_backoff"]:
        raise ConfigError(f"max_backoff ({pg_interval(q['max_backoff'])}) must not be shorter "
                          f"than min_backoff ({pg_interval(q['min_backoff'])})")
    if not 0 <= q["max_doublings"] <= 60:
        raise ConfigError(f"max_doublings must be from 0 to 60, got {q['max_doublings']}")
    if not 0 <= q["backoff_jitter"] <= 1:
        jitter = pg_number(q["backoff_jitter"])
        raise ConfigError(f"backoff_jitter must be from 0 to 1, got {jitter}")
    url = q["target_url"]
    if url is not None and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("target_url must start with http:// or https://")
    longest = q["max_run_time"]
    if longest is not None and not 1 <= longest <= 365 * 86400:
        raise ConfigError("max_run_time must be from 1 second to 365 days, got "
                          f"{pg_interval(longest)}")


def apply_settings(current: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The queue's policy columns after `settings` (None clears), or ConfigError saying why.

    `current` is the queue row as stored (durations in seconds); so are the settings.
    """
    policy = {k: current[k] for k in NAMES}
    policy.update(settings)
    if "rate_limit" in settings and "rate_burst" not in settings:
        policy["rate_burst"] = default_burst(policy["rate_limit"], policy["rate_burst"])
    _check(policy, lease_given="lease" in settings)
    return policy
