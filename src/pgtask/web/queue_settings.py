"""Validation of PATCH /api/queues/{name}: pause and the policy settings of a queue, in the
units operators type (rates like 100/s, durations like 30s), for Operator.configure_queue.
The settings, their kinds and which may be cleared come from pgtask.queue_settings; the
database checks each value's bounds (its refusal is a 400 with its message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgtask.durations import parse_rate
from pgtask.queue_settings import BY_NAME, CLEARABLE, NAMES
from pgtask.web import validation
from pgtask.web.responses import bad_request

QUEUE_FIELDS = ("paused", *NAMES)


def queue_patch(body: Mapping[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    """PATCH /api/queues/{name}: (paused or None, settings for Operator.configure_queue)."""
    validation.refuse_unknown(body, QUEUE_FIELDS)
    if not body:
        raise bad_request(f"nothing to change: give at least one of {', '.join(QUEUE_FIELDS)}")
    paused = body.get("paused")
    if "paused" in body and not isinstance(paused, bool):
        raise bad_request("paused must be true or false", "paused")
    settings: dict[str, Any] = {}
    for name in NAMES:
        if name not in body:
            continue
        if body[name] is None and name not in CLEARABLE:
            raise bad_request(f"{name} cannot be cleared (only "
                              f"{', '.join(CLEARABLE)} can)", name)
        settings[name] = _setting(body, name)
    return paused, settings


def _setting(body: Mapping[str, Any], name: str) -> Any:
    value = body[name]
    kind = BY_NAME[name].kind
    if value is None:
        return None
    if kind == "int":
        return validation.integer_field(body, name, *validation.INT_RANGE)
    if kind == "duration":
        return validation.duration_field(body, name)
    if kind == "url":
        return validation.text_field(body, name, validation.MAX_URL)
    if kind == "rate" and isinstance(value, str):
        try:
            return parse_rate(value)
        except ValueError as exc:
            raise bad_request(str(exc), name) from None
    if isinstance(value, bool) or not isinstance(value, int | float):  # a rate or a fraction
        raise bad_request(f"{name} must be a number" +
                          (" or a rate such as 100/s" if kind == "rate" else ""), name)
    return float(value)
