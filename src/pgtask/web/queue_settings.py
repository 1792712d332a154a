"""Validation of PATCH /api/queues/{name}: pause and the policy settings of a queue, in the
units operators type (rates like 100/s, durations like 30s), for store.admin.configure_queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgtask.durations import parse_rate
from pgtask.web import validation
from pgtask.web.responses import bad_request

QUEUE_INTS = ("concurrency_limit", "rate_burst", "max_attempts", "max_doublings")
QUEUE_DURATIONS = ("min_backoff", "max_backoff", "lease", "dispatch_deadline")
QUEUE_FIELDS = ("paused", "rate_limit", "backoff_jitter", "target_url", *QUEUE_INTS,
                *QUEUE_DURATIONS)
NULLABLE_QUEUE_FIELDS = ("concurrency_limit", "rate_limit", "target_url")


def queue_patch(body: Mapping[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    """PATCH /api/queues/{name}: (paused or None, settings for store.admin.configure_queue)."""
    validation.refuse_unknown(body, QUEUE_FIELDS)
    if not body:
        raise bad_request(f"nothing to change: give at least one of {', '.join(QUEUE_FIELDS)}")
    paused = body.get("paused")
    if "paused" in body and not isinstance(paused, bool):
        raise bad_request("paused must be true or false", "paused")
    settings: dict[str, Any] = {}
    for name in QUEUE_FIELDS:
        if name not in body or name == "paused":
            continue
        if body[name] is None and name not in NULLABLE_QUEUE_FIELDS:
            raise bad_request(f"{name} cannot be cleared (only "
                              f"{', '.join(NULLABLE_QUEUE_FIELDS)} can)", name)
        settings[name] = _setting(body, name)
    return paused, settings


def _setting(body: Mapping[str, Any], name: str) -> Any:
    value = body[name]
    if value is None:
        return None
    if name in QUEUE_INTS:
        return validation.integer_field(body, name, *validation.INT_RANGE)
    if name in QUEUE_DURATIONS:
        return validation.duration_field(body, name)
    if name == "target_url":
        return validation.text_field(body, name, validation.MAX_URL)
    if name == "rate_limit" and isinstance(value, str):
        try:
            return parse_rate(value)
        except ValueError as exc:
            raise bad_request(str(exc), name) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"{name} must be a number" +
                          (" or a rate such as 100/s" if name == "rate_limit" else ""), name)
    return float(value)
