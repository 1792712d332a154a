"""The request a task becomes, and the result a response body becomes. Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pgtask._version import __version__
from pgtask.models import ClaimedTask
from pgtask.signing import SigningSecret, sign_webhook

USER_AGENT = f"pgtask/{__version__}"


DATABASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def check_database_id(database_id: str) -> str:
    """A database id fit for a header (a uuid, say); ValueError otherwise."""
    if not DATABASE_ID.fullmatch(database_id):
        raise ValueError("a database id must be 1 to 64 letters, digits or '-' (e.g. a uuid)")
    return database_id


def webhook_id(database_id: str, task_id: int) -> str:
    """The webhook-id: one per task, the same on every attempt, so receivers can dedupe --
    and scoped by the database, whose task ids alone collide with another database's."""
    return f"task_{task_id}_{check_database_id(database_id)}"


def _iso(when: datetime) -> str:
    return when.isoformat()


def build_body(task: ClaimedTask) -> bytes:
    """The JSON document POSTed for a task."""
    doc = {
        "id": task.id,
        "type": task.task_type,
        "queue": task.queue,
        "attempt": task.attempt,
        "payload": task.payload,
        "created_at": _iso(task.created_at),
        "scheduled_at": _iso(task.run_at),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def build_headers(task: ClaimedTask, body: bytes, secrets: Sequence[SigningSecret],
                  extra: Mapping[str, str], *, msg_id: str, timestamp: int,
                  executions: int = 0, previous_status: int | None = None) -> dict[str, str]:
    """Headers for one attempt: the task's coordinates (Cloud Tasks style), an idempotency
    key, operator-configured extras (e.g. Authorization) and the webhook signature."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "pgtask-task-id": str(task.id),
        "pgtask-queue": task.queue,
        "pgtask-task-type": task.task_type,
        "pgtask-retry-count": str(task.attempt - 1),
        "pgtask-execution-count": str(executions),
        "pgtask-eta": _iso(task.run_at),
        "idempotency-key": task.idempotency_key or str(task.id),
        **{k.lower(): v for k, v in extra.items()},
    }
    if previous_status is not None:
        headers["pgtask-previous-response"] = str(previous_status)
    if secrets:
        headers.update(sign_webhook(msg_id, body, secrets, timestamp))
    return headers


def body_text(raw: bytes) -> str:
    """A response body as text. Postgres text and jsonb cannot hold NUL, so it is replaced."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def decode_body(text: str, truncated: bool, content_type: str | None) -> Any:
    """A response body as a result: parsed JSON when it is complete JSON, else the text."""
    if not text:
        return None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if truncated or not (media_type.endswith("json") or text.lstrip()[:1] in ("{", "[")):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    # An escaped NUL inside the JSON would still be refused by jsonb.
    return text if "\\u0000" in json.dumps(value) else value
