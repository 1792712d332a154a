"""Reading a request body: JSON only, size-capped before it is read to the end."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from pgtask.web.responses import ApiError
from pgtask.web.validation import parse_json_object


async def read_json(request: Request, limit: int, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body, read up to `limit` bytes (413 beyond, unread).

    `optional`: an empty body is {} (POST .../cancel takes an optional reason).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if optional and not raw.strip():
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "send the body as JSON with Content-Type: application/json")
    return parse_json_object(raw)
