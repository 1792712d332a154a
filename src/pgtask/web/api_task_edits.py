"""DELETE and PATCH /api/tasks/{id} (a queued task, admin only: the guard lets only an
admin credential make a mutation), and GET /api/errors: tasks that failed at least once.

    PATCH /api/tasks/42  {"priority": 5, "run_at": null}     -> 200, the task as changed
    DELETE /api/tasks/42                                     -> 204
    GET /api/errors?queue=emails&before=1000&limit=100       -> {"tasks", "next", "next_url"}

A task that is running or finished is a 409 saying so; a bad value a 400 (the database's
own message); no such task a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pgtask.errors import Refused
from pgtask.store.base import Browser, Row
from pgtask.web import validation
from pgtask.web.api_tasks import keyset_page, not_found, page_json, task_json
from pgtask.web.body import read_json
from pgtask.web.responses import ApiError, Json, bad_request
from pgtask.web.state import state_of

EDITABLE = ("payload", "priority", "run_at", "delay", "queue", "max_attempts")
ERRORS_PARAMS = ("queue", "before", "limit")


def changes_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body as update_task's changes: a field given as null means run now
    (run_at) or the queue's (max_attempts); others must have a value (pure; ApiError)."""
    validation.refuse_unknown(body, EDITABLE)
    if not body:
        raise bad_request(f"say what to change: any of {', '.join(EDITABLE)}")
    if "run_at" in body and "delay" in body:
        raise bad_request("give run_at or delay, not both", "delay")
    changes: dict[str, Any] = {}
    if "payload" in body:
        if not isinstance(body["payload"], dict):
            raise bad_request("payload must be a JSON object", "payload")
        changes["payload"] = body["payload"]
    for name in ("priority", "max_attempts"):
        if name in body:
            changes[name] = validation.integer_field(body, name, *validation.INT_RANGE)
    if changes.get("priority", 0) is None:
        raise bad_request("priority must be an integer (higher runs first)", "priority")
    if "queue" in body:
        if not isinstance(body["queue"], str):
            raise bad_request("queue must be a queue name, e.g. 'emails'", "queue")
        changes["queue"] = validation.queue_name(body["queue"])
    if "run_at" in body:
        changes["run_at"] = None if body["run_at"] is None else _moment(body["run_at"])
    if "delay" in body:
        delay = validation.duration_field(body, "delay")
        if delay is None:
            raise bad_request("delay must be a duration, e.g. 30s", "delay")
        changes["run_at"] = datetime.now().astimezone() + delay
    return changes


def _moment(value: Any) -> datetime:
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
    if moment is None or moment.tzinfo is None:
        raise bad_request("run_at must be an ISO 8601 timestamp with a time zone, such as "
                          "2030-01-01T12:00:00Z, or null (now)", "run_at")
    return moment


def _conflict_or(browser: Browser, task_id: int, refused: Refused, verb: str) -> ApiError:
    """Why the database refused: the task is not queued (409, or 404 if gone), or a value."""
    task = browser.task_row(task_id)
    if task is None:
        return not_found(task_id)
    if task["state"] != "queued":
        return ApiError(409, "conflict", f"task {task_id} is {task['state']}: only a queued "
                                         f"task can be {verb}")
    return bad_request(str(refused))


def _update(browser: Browser, task_id: int, changes: dict[str, Any]) -> Row:
    try:
        updated = browser.update_task(task_id, changes)
    except Refused as exc:
        raise _conflict_or(browser, task_id, exc, "updated") from None
    task = browser.task_row(task_id) if updated is not None else None
    if task is None:
        raise not_found(task_id)
    return task


def _delete(browser: Browser, task_id: int) -> None:
    try:
        deleted = browser.delete_task(task_id)
    except Refused as exc:
        raise _conflict_or(browser, task_id, exc, "deleted") from None
    if not deleted:
        raise not_found(task_id)


async def update_task(request: Request) -> Json:
    task_id = validation.task_id(request.path_params["id"])
    body = await read_json(request, validation.MAX_BODY_BYTES)
    changes = changes_of(body)
    task = await state_of(request).db.run(_update, task_id, changes)
    return Json(task_json(task))


async def delete_task(request: Request) -> Response:
    task_id = validation.task_id(request.path_params["id"])
    await state_of(request).db.run(_delete, task_id)
    return Response(status_code=204)


def errors_query(params: list[tuple[str, str]]) -> dict[str, Any]:
    """?queue=&before=&limit= (pure; ApiError). The list's own checks are list_query's."""
    validation.refuse_unknown(dict(params), ERRORS_PARAMS)
    query = validation.list_query(params)  # refuses a parameter given twice, too
    return {"queue": query["queue"], "before": query["before"], "limit": query["limit"]}


async def list_errors(request: Request) -> Json:
    query = errors_query(request.query_params.multi_items())
    rows, cursor = await state_of(request).db.run(
        lambda b: keyset_page(lambda n: b.errored_tasks(queue=query["queue"],
                                                         before=query["before"], limit=n),
                              query["limit"]))
    return page_json(request, rows, cursor, "before")


routes = [
    Route("/api/tasks/{id}", update_task, methods=["PATCH"]),
    Route("/api/tasks/{id}", delete_task, methods=["DELETE"]),
    Route("/api/errors", list_errors, methods=["GET"]),
]
