"""Stored values a reader cannot load as Python objects, and what the worker does with them.

Whatever enqueue_task accepts, every reader must read: the Postgres loaders
(store/postgres/decode.py) keep JSON that Python cannot load as RawJson instead of raising.
"""

from __future__ import annotations

from pgtask.models import ClaimedTask

# How deep a JSON value a reader loads (the SQL bound on payloads is the same; a reader's
# bound must not be below it). Deeper text is kept as RawJson: Python's json gives up near
# 1000 levels, and every face would have to walk the value again.
MAX_JSON_DEPTH = 100


class RawJson(str):
    """A stored JSON value Python cannot load, kept as its text: nested too deep, a number
    beyond Python's int digit limit or float range. Faces show the text; the worker fails a
    task whose payload is one (see undecodable)."""

    reason: str

    def __new__(cls, text: str, reason: str) -> RawJson:
        raw = super().__new__(cls, text)
        raw.reason = reason
        return raw


def undecodable(task: ClaimedTask) -> str | None:
    """Why a claimed task cannot be run as stored (None: it can). Timestamps out of Python's
    range are clamped on load (store/postgres/decode.py) and do not stop a run."""
    payload: object = task.payload  # typed as the handlers see it; the loader may differ
    if isinstance(payload, RawJson):
        return f"payload cannot be decoded: {payload.reason}"
    if not isinstance(payload, dict):
        return f"payload cannot be decoded: a JSON {type(payload).__name__}, not an object"
    return None
