"""The OpenAPI 3.1 document served at /openapi.json, written out by hand so that it says
exactly what validation.py accepts (a test checks that every route is described); a queue's
settings are described from their table, pgtask.queue_settings."""

from __future__ import annotations

from typing import Any

from pgtask.models import MAX_ATTEMPTS_RANGE, NAME_PATTERN, PRIORITY_RANGE, TaskState
from pgtask.queue_settings import QUEUE_SETTINGS, QueueSetting
from pgtask.web.validation import DEFAULT_PAGE, MAX_PAGE

Schema = dict[str, Any]  # a JSON Schema or a part of the document

NAME = {"type": "string", "pattern": NAME_PATTERN.pattern}
DURATION = {"oneOf": [{"type": "number", "minimum": 0, "description": "seconds"},
                      {"type": "string", "examples": ["500ms", "30s", "5m", "1h", "7d"]}]}
ERROR = {"type": "object", "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": "string"}}}}}
STATE = {"type": "string", "enum": [s.value for s in TaskState]}

TASK_IN = {
    "type": "object", "additionalProperties": False, "required": ["type"],
    "properties": {
        "type": {**NAME, "description": "task type, e.g. emails.send"},
        "payload": {"type": "object", "description": "JSON object, at most 1 MiB"},
        "queue": {**NAME, "default": "default"},
        "run_at": {"type": "string", "format": "date-time", "description": "with a time zone"},
        "delay": {**DURATION, "description": "run this long from now (not with run_at)"},
        "priority": {"type": "integer", "minimum": PRIORITY_RANGE[0],
                     "maximum": PRIORITY_RANGE[1], "default": 0},
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 255,
                            "description": "a repeat with the same (queue, key) returns the "
                                           "first task with status 200"},
        "max_attempts": {"type": "integer", "minimum": MAX_ATTEMPTS_RANGE[0],
                         "maximum": MAX_ATTEMPTS_RANGE[1]},
        "target_url": {"type": "string", "pattern": "^https?://"},
    },
}
TASK = {"type": "object", "properties": {
    "id": {"type": "integer"}, "type": NAME, "queue": NAME, "state": STATE,
    "payload": {"type": "object"}, "result": {}, "errors": {"type": "array"},
    "attempt": {"type": "integer"}, "run_at": {"type": "string", "format": "date-time"},
    "created_at": {"type": "string", "format": "date-time"},
    "finished_at": {"type": ["string", "null"], "format": "date-time"},
    "message": {"type": ["string", "null"]}}}
RATE = [{"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "examples": ["100/s", "10/m"]}]


def _setting_schema(setting: QueueSetting) -> Schema:
    """The JSON Schema of one queue setting, from its kind, bounds and whether it clears."""
    if setting.kind == "duration":
        return DURATION
    if setting.kind == "rate":
        return {"oneOf": [*RATE, *([{"type": "null"}] if setting.clearable else [])]}
    base = {"int": "integer", "fraction": "number", "url": "string"}[setting.kind]
    schema: Schema = {"type": [base, "null"] if setting.clearable else base}
    if setting.kind == "url":
        schema["pattern"] = "^https?://"
    for bound in ("minimum", "maximum"):
        if getattr(setting, bound) is not None:
            schema[bound] = getattr(setting, bound)
    return schema


QUEUE_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {"paused": {"type": "boolean"},
                   **{s.name: _setting_schema(s) for s in QUEUE_SETTINGS}},
}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(ok: dict[str, tuple[str, Schema]], *errors: str) -> Schema:
    out = {code: {"description": text, **_json(schema)} for code, (text, schema) in ok.items()}
    for code in errors:
        out[code] = {"description": "error", **_json(ERROR)}
    return out


def _param(name: str, where: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema}


TASK_ID = _param("id", "path", {"type": "integer", "minimum": 1})
PAGE = {"type": "object", "properties": {"tasks": {"type": "array", "items": TASK},
                                         "next": {"type": ["integer", "null"]},
                                         "next_url": {"type": ["string", "null"]}}}
OBJECT = {"type": "object"}

PATHS: dict[str, Any] = {
    "/api/tasks": {
        "post": {"summary": "Enqueue a task", "requestBody": {"required": True, **_json(TASK_IN)},
                 "responses": _answers({"201": ("created", TASK),
                                        "200": ("idempotent repeat: the existing task", TASK)},
                                       "400", "401", "403", "413", "415")},
        "get": {"summary": "List tasks by id (keyset pages)",
                "parameters": [_param("state", "query", STATE), _param("queue", "query", NAME),
                               _param("type", "query", NAME),
                               _param("after", "query", {"type": "integer", "minimum": 0}),
                               _param("before", "query", {"type": "integer", "minimum": 1}),
                               _param("limit", "query", {"type": "integer", "minimum": 1,
                                                         "maximum": MAX_PAGE,
                                                         "default": DEFAULT_PAGE})],
                "responses": _answers({"200": ("a page; `next` is the cursor", PAGE)},
                                      "400", "401")},
    },
    "/api/tasks/{id}": {"get": {
        "summary": "A task with its logs, HTTP attempts and chain", "parameters": [TASK_ID],
        "responses": _answers({"200": ("the task", TASK)}, "400", "401", "404")}},
    "/api/tasks/{id}/retry": {"post": {
        "summary": "Re-queue a dead or cancelled task", "parameters": [TASK_ID],
        "responses": _answers({"200": ("re-queued", TASK)}, "401", "403", "404", "409")}},
    "/api/tasks/{id}/cancel": {"post": {
        "summary": "Cancel a queued or running task", "parameters": [TASK_ID],
        "requestBody": {"required": False, **_json({
            "type": "object", "additionalProperties": False,
            "properties": {"reason": {"type": "string", "maxLength": 1000}}})},
        "responses": _answers({"200": ("cancelled", TASK)}, "401", "403", "404", "409")}},
    "/api/queues": {"get": {"summary": "Queues: policy and live numbers",
                            "responses": _answers({"200": ("queues", OBJECT)}, "401")}},
    "/api/queues/{name}": {"patch": {
        "summary": "Pause/resume a queue or change its limits",
        "parameters": [_param("name", "path", NAME)],
        "requestBody": {"required": True, **_json(QUEUE_PATCH)},
        "responses": _answers({"200": ("the queue", OBJECT)}, "400", "401", "403", "404")}},
    "/api/workers": {"get": {"summary": "Registered workers",
                             "responses": _answers({"200": ("workers", OBJECT)}, "401")}},
    "/healthz": {"get": {"summary": "Database reachable and schema current (no auth)",
                         "security": [],
                         "responses": _answers({"200": ("healthy", OBJECT),
                                                "503": ("unhealthy", OBJECT)})}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format)",
                         "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
}


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": "pgtask", "version": "1",
                 "description": "Enqueue and inspect pgtask tasks over HTTP."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": PATHS,
    }
