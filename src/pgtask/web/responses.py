"""JSON in and out: the API's error type, its error body, and values made JSON-safe."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from starlette.responses import JSONResponse


class ApiError(Exception):
    """A request the API refuses: HTTP status, a stable code, and a message for people."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, field)


def jsonable(value: Any) -> Any:
    """Timestamps as ISO 8601, durations as seconds, everything else as JSON has it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class Json(JSONResponse):
    """JSONResponse that knows the database's types (see jsonable)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=jsonable, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Json:
    return Json(error.body(), status_code=error.status, headers=headers)

