"""/api/tasks: enqueue, look up, list (keyset pages), retry, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Route

from pgtask.redact import redact_row
from pgtask.store.base import Browser, Row
from pgtask.web import validation
from pgtask.web.body import read_json
from pgtask.web.responses import ApiError, Json
from pgtask.web.state import state_of

CANCEL_REASON = "cancelled via the web API"
PAST = {"retry": "retried", "cancel": "cancelled"}


def task_json(row: Row) -> Row:
    """A task as the API shows it: all_tasks' columns, with task_type named `type`, and its
    URLs (its own target_url, its follow-ups') redacted: stored whole, never shown so."""
    out = redact_row(row)
    out["type"] = out.pop("task_type")
    return out


def not_found(task_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no task {task_id} (it may have been pruned)")


def task_detail(browser: Browser, task_id: int) -> Row | None:
    """The task with its logs, HTTP attempts and chain links (what the detail page shows)."""
    detail = browser.task_detail(task_id)
    if detail is None:
        return None
    return {**task_json(detail["task"]), "logs": detail["logs"],
            "http_attempts": detail["http_attempts"], **browser.chain(detail["task"])}


async def create_task(request: Request) -> Json:
    body = await read_json(request, validation.MAX_BODY_BYTES)
    enqueue = validation.task_request(body)
    task, created = await state_of(request).db.run(lambda b: b.enqueue_returning(enqueue))
    location = f"{request.scope.get('root_path', '')}/api/tasks/{task['id']}"
    return Json(task_json(task), status_code=201 if created else 200,
                headers={"Location": location})


async def get_task(request: Request) -> Json:
    task_id = validation.task_id(request.path_params["id"])
    detail = await state_of(request).db.run(task_detail, task_id)
    if detail is None:
        raise not_found(task_id)
    return Json(detail)


def keyset_page(fetch: Callable[[int], list[Row]],
                limit: int) -> tuple[list[Row], int | None]:
    """`limit` rows of `fetch(n)` (n rows at most, in page order) and the cursor of the next
    page (None on the last): one row more is read to know whether there is one."""
    rows = fetch(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more else None)


def page_of(browser: Browser, query: dict[str, Any]) -> tuple[list[Row], int | None]:
    """One page of tasks and the cursor of the next (None on the last page)."""
    return keyset_page(lambda n: browser.list_page(**{**query, "limit": n}), query["limit"])


def page_json(request: Request, rows: list[Row], cursor: int | None, direction: str) -> Json:
    """A page as the API answers it: its tasks, the next cursor, and the URL of the next page
    (this one's query with the cursor as `direction`, "after" or "before")."""
    next_url = None
    if cursor is not None:
        params = {k: v for k, v in request.query_params.items() if k not in ("after", "before")}
        next_url = f"{request.url.path}?{urlencode({**params, direction: cursor})}"
    return Json({"tasks": [task_json(r) for r in rows], "next": cursor, "next_url": next_url})


async def list_tasks(request: Request) -> Json:
    query = validation.list_query(request.query_params.multi_items())
    if query["after"] is None and query["before"] is None:
        query["after"] = 0  # the API pages oldest first unless asked for `before`
    rows, cursor = await state_of(request).db.run(page_of, query)
    return page_json(request, rows, cursor, "before" if query["before"] is not None else "after")


def _act(browser: Browser, verb: str, task_id: int, reason: str) -> tuple[bool, Row | None]:
    done = (browser.retry_tasks([task_id]) if verb == "retry"
            else browser.cancel_tasks([task_id], reason))
    return bool(done), browser.task_row(task_id)


async def _transition(request: Request, verb: str, allowed_from: str) -> Json:
    task_id = validation.task_id(request.path_params["id"])
    reason = CANCEL_REASON
    if verb == "cancel":
        # A 1,000-character reason can take 12 bytes a character as JSON escapes.
        body = await read_json(request, 16 * 1024, optional=True)
        validation.refuse_unknown(body, ("reason",))
        reason = validation.text_field(body, "reason", 1000) or CANCEL_REASON
    done, task = await state_of(request).db.run(_act, verb, task_id, reason)
    if task is None:
        raise not_found(task_id)
    if not done:
        raise ApiError(409, "conflict", f"task {task_id} is {task['state']}: only {allowed_from} "
                                        f"tasks can be {PAST[verb]}")
    return Json(task_json(task))


async def retry_task(request: Request) -> Json:
    return await _transition(request, "retry", "dead or cancelled")


async def cancel_task(request: Request) -> Json:
    return await _transition(request, "cancel", "queued or running")


routes = [
    Route("/api/tasks", create_task, methods=["POST"]),
    Route("/api/tasks", list_tasks, methods=["GET"]),
    Route("/api/tasks/{id}", get_task, methods=["GET"]),
    Route("/api/tasks/{id}/retry", retry_task, methods=["POST"]),
    Route("/api/tasks/{id}/cancel", cancel_task, methods=["POST"]),
]
