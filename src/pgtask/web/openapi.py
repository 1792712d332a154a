"""The OpenAPI 3.1 document served at /openapi.json, written out by hand so that it says
exactly what validation.py accepts and what each route can answer (tests/web/
test_openapi_conformance.py sends each route good and bad requests and checks every answer
against it); a queue's settings are described from their table, pgtask.queue_settings.

What JSON Schema cannot say is in the descriptions: `after` and `before` exclude each other,
and the database checks a queue's settings together (min_backoff <= max_backoff) and
durations up to its own bounds (400 with its message).
"""

from __future__ import annotations

from typing import Any

from pgtask.models import MAX_ATTEMPTS_RANGE, NAME_PATTERN, PRIORITY_RANGE, TaskState
from pgtask.queue_settings import MIN_LEASE, QUEUE_SETTINGS, QueueSetting
from pgtask.web.validation import DEFAULT_PAGE, INT_RANGE, MAX_DELAY, MAX_ID, MAX_PAGE, MAX_URL

Schema = dict[str, Any]  # a JSON Schema or a part of the document

NAME = {"type": "string", "pattern": NAME_PATTERN.pattern}
NULL = {"type": "null"}
ANY = {"const": "", "description": "empty: no filter (what the dashboard's form sends)"}
DURATION_TEXT = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"  # durations.parse_duration
POSITIVE = r"(\d*[1-9]\d*(\.\d+)?|\d+\.\d*[1-9]\d*)"  # a decimal more than zero
POSITIVE_DURATION_TEXT = rf"^\s*{POSITIVE}\s*(ms|s|m|h|d)?\s*$"


def duration(minimum: float = 0) -> Schema:
    """Seconds as a number, or text such as 30s (at most validation.MAX_DELAY)."""
    return {"oneOf": [{"type": "number", "minimum": minimum,
                       "maximum": MAX_DELAY.total_seconds(), "description": "seconds"},
                      {"type": "string", "pattern": DURATION_TEXT,
                       "examples": ["500ms", "30s", "5m", "1h", "7d"]}]}


DURATION = duration()
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": "string"}}}}}
STATE = {"type": "string", "enum": [s.value for s in TaskState]}
URL = {"type": "string", "pattern": "^https?://", "maxLength": MAX_URL}

TASK_IN = {
    "type": "object", "additionalProperties": False, "required": ["type"],
    "description": "Optional fields may be null (the same as leaving them out).",
    "properties": {
        "type": {**NAME, "description": "task type, e.g. emails.send"},
        "payload": {"type": "object", "description": "JSON object, at most 1 MiB; no text "
                                                     "in it may hold NUL (\\u0000)"},
        "queue": {"oneOf": [NAME, NULL], "default": "default"},
        "run_at": {"type": ["string", "null"], "format": "date-time",
                   "description": "with a time zone"},
        "delay": {"oneOf": [*DURATION["oneOf"], NULL],
                  "description": "run this long from now (not with run_at)"},
        "priority": {"type": ["integer", "null"], "minimum": PRIORITY_RANGE[0],
                     "maximum": PRIORITY_RANGE[1], "default": 0},
        "idempotency_key": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                            "description": "a repeat with the same (queue, key) returns the "
                                           "first task with status 200"},
        "max_attempts": {"type": ["integer", "null"], "minimum": MAX_ATTEMPTS_RANGE[0],
                         "maximum": MAX_ATTEMPTS_RANGE[1]},
        "target_url": {"oneOf": [URL, NULL]},
    },
    # run_at and delay exclude each other (either may be null)
    "not": {"required": ["run_at", "delay"],
            "properties": {"run_at": {"type": "string"}, "delay": {"type": ["number", "string"]}}},
}
TASK = {"type": "object", "properties": {
    "id": {"type": "integer"}, "type": NAME, "queue": NAME, "state": STATE,
    "payload": {"type": "object"}, "result": {}, "errors": {"type": "array"},
    "attempt": {"type": "integer"}, "run_at": {"type": "string", "format": "date-time"},
    "created_at": {"type": "string", "format": "date-time"},
    "finished_at": {"type": ["string", "null"], "format": "date-time"},
    "message": {"type": ["string", "null"]}}}
RATE_TEXT = rf"^{POSITIVE}\s*(/\s*(s|sec|m|min|h|hour))?$"  # durations.parse_rate
RATE = [{"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": RATE_TEXT, "examples": ["100/s", "10/m"]}]
DAY = 86400.0
# What pgtask.configure_queue (sql/postgres/pgtask.sql) accepts of a duration in seconds.
DURATION_BOUNDS = {"min_backoff": (0, 365 * DAY), "max_backoff": (0, 365 * DAY),
                   "lease": (MIN_LEASE, DAY), "dispatch_deadline": (0, DAY),
                   "max_run_time": (1, 365 * DAY)}
INCLUSIVE_MINIMUM = ("lease", "max_run_time")  # the others must be more than their low


def _setting_schema(setting: QueueSetting) -> Schema:
    """The JSON Schema of one queue setting, from its kind, bounds and whether it clears."""
    if setting.kind == "duration":
        low, high = DURATION_BOUNDS.get(setting.name, (0, MAX_DELAY.total_seconds()))
        seconds = {"type": "number", "exclusiveMinimum": low, "maximum": high}
        if setting.name in INCLUSIVE_MINIMUM:
            seconds = {"type": "number", "minimum": low, "maximum": high}
        text = duration()["oneOf"][1]
        if setting.name != "max_backoff":  # the others must be positive (max >= min anyway)
            text = {**text, "pattern": POSITIVE_DURATION_TEXT}
        return {"oneOf": [seconds, text, *([NULL] if setting.clearable else [])]}
    if setting.kind == "rate":
        return {"oneOf": [*RATE, *([NULL] if setting.clearable else [])]}
    if setting.kind == "url":
        return {"oneOf": [URL, NULL]} if setting.clearable else URL
    base = {"int": "integer", "fraction": "number"}[setting.kind]
    schema: Schema = {"type": [base, "null"] if setting.clearable else base}
    for bound, default in (("minimum", None), ("maximum", INT_RANGE[1])):
        value = getattr(setting, bound)
        if value is not None or (base == "integer" and default is not None):
            schema[bound] = default if value is None else value
    return schema


QUEUE_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "description": "The database also checks the settings together (max_backoff >= "
                   "min_backoff) and durations given as text against the same bounds.",
    "properties": {"paused": {"type": "boolean"},
                   **{s.name: _setting_schema(s) for s in QUEUE_SETTINGS}},
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


RETRY_AFTER = {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}
ERRORS = {
    "400": "invalid request (error.field names the culprit)", "401": "no or wrong credentials",
    "403": "read-only credential, or a cross-site request", "404": "no such task or queue",
    "409": "the task is not in a state this applies to", "413": "request body too large",
    "415": "send the body as application/json",
    "429": "too many failed sign-ins from this client: wait Retry-After seconds",
    "503": "database unreachable: retry after Retry-After seconds",
}
AUTHED = ("401", "429", "503")  # any route behind credentials that reads the database


def _answers(ok: dict[str, tuple[str, Schema]], *errors: str) -> Schema:
    out = {code: {"description": text, **_json(schema)} for code, (text, schema) in ok.items()}
    for code in errors:
        out[code] = {"description": ERRORS[code], **_json(ERROR)}
        if code in ("429", "503"):
            out[code]["headers"] = RETRY_AFTER
    return out


def _param(name: str, where: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema}


def _filter(name: str, schema: Schema) -> Schema:
    return _param(name, "query", {"anyOf": [schema, ANY]})


TASK_ID = _param("id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID})
PAGE = {"type": "object", "required": ["tasks", "next", "next_url"],
        "properties": {"tasks": {"type": "array", "items": TASK},
                       "next": {"type": ["integer", "null"]},
                       "next_url": {"type": ["string", "null"]}}}


def _list_of(key: str) -> Schema:
    return {"type": "object", "required": [key],
            "properties": {key: {"type": "array", "items": {"type": "object"}}}}


HEALTH = {"type": "object", "required": ["status", "database"], "properties": {
    "status": {"enum": ["ok", "unavailable"]}, "database": {"enum": ["reachable", "unreachable"]},
    "schema": {"type": "string"}, "revision": {"type": ["string", "null"]},
    "expected_revision": {"type": "string"}}}
CREATED = {"Location": {"description": "the task's URL", "schema": {"type": "string"}}}
TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}
CANCEL = {"type": "object", "additionalProperties": False, "properties": {
    "reason": {"type": ["string", "null"], "minLength": 1, "maxLength": 1000}}}
PAGING = ("`after` (oldest first, the default) and `before` (newest first) exclude each "
          "other: give one")

PATHS: dict[str, Any] = {
    "/api/tasks": {
        "post": {"summary": "Enqueue a task", "requestBody": {"required": True, **_json(TASK_IN)},
                 "responses": _answers({"201": ("created", TASK),
                                        "200": ("idempotent repeat: the existing task", TASK)},
                                       "400", "403", "413", "415", *AUTHED)},
        "get": {"summary": "List tasks by id (keyset pages)", "description": PAGING,
                "parameters": [_filter("state", STATE), _filter("queue", NAME),
                               _filter("type", NAME),
                               _filter("after", {"type": "integer", "minimum": 0,
                                                 "maximum": MAX_ID}),
                               _filter("before", {"type": "integer", "minimum": 1,
                                                  "maximum": MAX_ID}),
                               _filter("limit", {"type": "integer", "minimum": 1,
                                                 "maximum": MAX_PAGE, "default": DEFAULT_PAGE})],
                "responses": _answers({"200": ("a page; `next` is the cursor", PAGE)},
                                      "400", *AUTHED)},
    },
    "/api/tasks/{id}": {"get": {
        "summary": "A task with its logs, HTTP attempts and chain", "parameters": [TASK_ID],
        "responses": _answers({"200": ("the task", TASK)}, "400", "404", *AUTHED)}},
    "/api/tasks/{id}/retry": {"post": {
        "summary": "Re-queue a dead or cancelled task", "parameters": [TASK_ID],
        "responses": _answers({"200": ("re-queued", TASK)}, "400", "403", "404", "409",
                              *AUTHED)}},
    "/api/tasks/{id}/cancel": {"post": {
        "summary": "Cancel a queued or running task", "parameters": [TASK_ID],
        "requestBody": {"required": False, **_json(CANCEL)},
        "responses": _answers({"200": ("cancelled", TASK)}, "400", "403", "404", "409", "413",
                              "415", *AUTHED)}},
    "/api/queues": {"get": {"summary": "Queues: policy and live numbers",
                            "responses": _answers({"200": ("queues", _list_of("queues"))},
                                                  *AUTHED)}},
    "/api/queues/{name}": {"patch": {
        "summary": "Pause/resume a queue or change its limits",
        "parameters": [_param("name", "path", NAME)],
        "requestBody": {"required": True, **_json(QUEUE_PATCH)},
        "responses": _answers({"200": ("the queue", {"type": "object"})}, "400", "403", "404",
                              "413", "415", *AUTHED)}},
    "/api/workers": {"get": {"summary": "Registered workers",
                             "responses": _answers({"200": ("workers", _list_of("workers"))},
                                                   *AUTHED)}},
    "/healthz": {"get": {"summary": "Database reachable and schema current (no auth)",
                         "security": [],
                         "responses": _answers({"200": ("healthy", HEALTH),
                                                "503": ("unhealthy", HEALTH)}, "429")}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format 0.0.4)",
                         "responses": {"200": {"description": "the metrics", **TEXT},
                                       **_answers({}, *AUTHED)}}},
    "/openapi.json": {"get": {"summary": "This document",
                              "responses": _answers({"200": ("OpenAPI 3.1", {"type": "object"})},
                                                    "401", "429")}},
}
PATHS["/api/tasks"]["post"]["responses"]["201"]["headers"] = CREATED

# Operators' changes to a queued task, and the errors list (web/api_task_edits.py).
TASK_PROPERTIES: Schema = TASK_IN["properties"]  # type: ignore[assignment]
TASK_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "description": "Only a queued task can be changed (409 otherwise). run_at null: now; "
                   "max_attempts null: the queue's.",
    "properties": {
        "payload": TASK_PROPERTIES["payload"], "queue": NAME,
        "run_at": TASK_PROPERTIES["run_at"], "delay": DURATION,
        "priority": {"type": "integer", "minimum": PRIORITY_RANGE[0],
                     "maximum": PRIORITY_RANGE[1]},
        "max_attempts": TASK_PROPERTIES["max_attempts"],
    },
    "not": {"required": ["run_at", "delay"]},  # one or the other
}
ERRORED = {"type": "object", "properties": {
    "id": {"type": "integer"}, "type": NAME, "queue": NAME, "state": STATE,
    "attempt": {"type": "integer"}, "max_attempts": {"type": ["integer", "null"]},
    "failures": {"type": "integer"}, "error": {"type": ["string", "null"]},
    "failed_at": {"type": ["string", "null"], "format": "date-time"},
    "finished_at": {"type": ["string", "null"], "format": "date-time"}}}
PATHS["/api/tasks/{id}"]["patch"] = {
    "summary": "Change a queued task (payload, priority, run_at, queue, max_attempts)",
    "parameters": [TASK_ID], "requestBody": {"required": True, **_json(TASK_PATCH)},
    "responses": _answers({"200": ("the task as changed", TASK)}, "400", "403", "404", "409",
                          "413", "415", *AUTHED)}
PATHS["/api/tasks/{id}"]["delete"] = {
    "summary": "Delete a queued task (no history is kept; its idempotency key is freed)",
    "parameters": [TASK_ID],
    "responses": {"204": {"description": "deleted"},
                  **_answers({}, "400", "403", "404", "409", *AUTHED)}}
PATHS["/api/errors"] = {"get": {
    "summary": "Tasks that failed at least once, in any state, newest first (keyset pages)",
    "parameters": [_filter("queue", NAME),
                   _filter("before", {"type": "integer", "minimum": 1, "maximum": MAX_ID}),
                   _filter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                     "default": DEFAULT_PAGE})],
    "responses": _answers({"200": ("a page, newest first; `next` is the next `before`", {
        "type": "object", "required": ["tasks", "next", "next_url"],
        "properties": {"tasks": {"type": "array", "items": ERRORED},
                       "next": {"type": ["integer", "null"]},
                       "next_url": {"type": ["string", "null"]}}})},
        "400", *AUTHED)}}

DESCRIPTION = """Enqueue and inspect pgtask tasks over HTTP.

Every route answers 421 (text/plain) to a Host name the server does not answer to (a guard
against DNS rebinding: see `pgtask serve --allowed-host`), and 405 to a method it does not
take."""


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": "pgtask", "version": "1", "description": DESCRIPTION},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": PATHS,
    }
