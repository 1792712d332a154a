"""Request validation for the HTTP API: pure functions from raw input to checked values.

Every refusal is an ApiError with a 4xx status and a message that says what to fix; the
database still checks everything again (its errors map to 400 as a last resort, see app.py),
so nothing a client sends can end in a 500.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pgtask.client import make_request
from pgtask.durations import parse_duration
from pgtask.models import MAX_PAYLOAD_BYTES, EnqueueRequest, TaskState, validate_name
from pgtask.web.responses import ApiError, bad_request

# A body may carry a whole 1 MiB payload plus the other fields; beyond that it is refused
# before it is read to the end.
MAX_BODY_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024
DEFAULT_PAGE, MAX_PAGE = 100, 1000
MAX_ID = 2**63 - 1
INT_RANGE = (-(2**31), 2**31 - 1)  # SQL integer
MAX_DELAY = timedelta(days=3650)
MAX_URL = 2048

TASK_FIELDS = ("type", "payload", "queue", "run_at", "delay", "priority", "idempotency_key",
               "max_attempts", "target_url")
LIST_PARAMS = ("state", "queue", "type", "after", "before", "limit")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is too large")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_strings(value: Any) -> None:
    """Refuse text Postgres cannot store: NUL characters and unpaired surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise bad_request("text must not contain NUL (\\u0000) characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise bad_request("text must not contain unpaired UTF-16 surrogates") from None


def parse_json_object(raw: bytes, what: str = "request body") -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying why it is not one."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise bad_request(f"the {what} is not UTF-8") from None
    except RecursionError:
        raise bad_request(f"the {what} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError; so is a 5,000-digit integer
        raise bad_request(f"the {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request(f"the {what} must be a JSON object, got {type(value).__name__}")
    _check_strings(value)
    return value


def refuse_unknown(given: Iterable[str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise bad_request(f"unknown field(s): {', '.join(unknown)} "
                          f"(allowed: {', '.join(allowed)})", unknown[0])


def integer_field(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():  # JSON has one number type: 3.0 is 3
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}", name)
    return value


def text_field(body: Mapping[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_length:
        raise bad_request(f"{name} must be text of 1 to {max_length} characters", name)
    return value


def duration_field(body: Mapping[str, Any], name: str) -> timedelta | None:
    """Seconds as a number, or text such as '500ms', '30s', '5m', '1h', '7d'."""
    value = body.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number of seconds or text such as 30s")
        duration = (timedelta(seconds=value) if not isinstance(value, str)
                    else parse_duration(value))
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"{name}: {exc}", name) from None
    if not timedelta(0) <= duration <= MAX_DELAY:
        raise bad_request(f"{name} must be from 0 to {MAX_DELAY.days} days", name)
    return duration


def _timestamp(body: Mapping[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{name} must be an ISO 8601 timestamp such as "
                          "2030-01-01T12:00:00Z", name) from None
    if moment.tzinfo is None:
        raise bad_request(f"{name} must include a time zone (e.g. Z or +02:00)", name)
    return moment


def _payload_size(payload: Any) -> int:
    # Measured as Postgres prints jsonb (", " and ": "), which is what its size cap counts.
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def task_request(body: Mapping[str, Any]) -> EnqueueRequest:
    """The body of POST /api/tasks as an EnqueueRequest (checked by client.make_request)."""
    refuse_unknown(body, TASK_FIELDS)
    if body.get("type") is None:
        raise bad_request("type is required (the task type, e.g. 'emails.send')", "type")
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        raise bad_request("payload must be a JSON object", "payload")
    size = _payload_size(payload)
    if size > MAX_PAYLOAD_BYTES:
        raise ApiError(413, "payload_too_large",
                       f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES} (1 MiB)",
                       "payload")
    for name in ("type", "queue"):
        if body.get(name) is not None:
            try:
                validate_name("task type" if name == "type" else "queue", body[name])
            except ValueError as exc:
                raise bad_request(str(exc), name) from None
    target_url = text_field(body, "target_url", MAX_URL)
    if target_url is not None and not target_url.startswith(("http://", "https://")):
        raise bad_request("target_url must start with http:// or https://", "target_url")
    run_at, delay = _timestamp(body, "run_at"), duration_field(body, "delay")
    if run_at is not None and delay is not None:
        raise bad_request("give run_at or delay, not both", "delay")
    try:
        return make_request(
            body["type"], payload, queue=body.get("queue"), run_at=run_at, delay=delay,
            priority=integer_field(body, "priority", *INT_RANGE),
            idempotency_key=text_field(body, "idempotency_key", 255),
            max_attempts=integer_field(body, "max_attempts", *INT_RANGE), target_url=target_url)
    except (ValueError, TypeError) as exc:
        raise bad_request(str(exc)) from None


def _whole(text: str, low: int, high: int) -> int | None:
    """The decimal integer `text` if it lies in [low, high], else None (no sign, no spaces)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        return None
    return int(text) if low <= int(text) <= high else None


def task_id(text: str) -> int:
    value = _whole(text, 1, MAX_ID)
    if value is None:
        raise bad_request(f"task id must be a positive integer, got {text[:40]!r}", "id")
    return value


def queue_name(text: str) -> str:
    try:
        return validate_name("queue", text)
    except ValueError as exc:
        raise bad_request(str(exc), "name") from None


def list_query(params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """?state=&queue=&type=&after=|before=&limit= as keyword arguments for a task page."""
    given: dict[str, str] = {}
    for key, value in params:
        if key in given:
            raise bad_request(f"query parameter {key} is given twice", key)
        given[key] = value
    refuse_unknown(given, LIST_PARAMS)
    out: dict[str, Any] = {"state": None, "queue": None, "task_type": None, "after": None,
                           "before": None, "limit": DEFAULT_PAGE}
    if given.get("state"):
        if given["state"] not in {s.value for s in TaskState}:
            raise bad_request(f"state must be one of {', '.join(s.value for s in TaskState)}",
                              "state")
        out["state"] = given["state"]
    for key, kind, target in (("queue", "queue", "queue"), ("type", "task type", "task_type")):
        if given.get(key):
            try:
                out[target] = validate_name(kind, given[key])
            except ValueError as exc:
                raise bad_request(str(exc), key) from None
    for key, low, high in (("after", 0, MAX_ID), ("before", 1, MAX_ID), ("limit", 1, MAX_PAGE)):
        text = given.get(key)
        if text:
            out[key] = _whole(text, low, high)
            if out[key] is None:
                raise bad_request(f"{key} must be an integer from {low} to {high}", key)
    if out["after"] is not None and out["before"] is not None:
        raise bad_request("give after or before, not both", "before")
    return out
