"""The dashboard: server-rendered pages plus fragments that static/dashboard.js polls and
swaps in (live updates without a reload; no build step, nothing from a CDN)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pgtask.console import format as fmt
from pgtask.models import TaskState
from pgtask.store.base import Browser
from pgtask.web import validation
from pgtask.web.api_queues import STALE_WORKER_SECONDS
from pgtask.web.api_tasks import not_found, page_of, task_detail
from pgtask.web.auth import CSRF_COOKIE
from pgtask.web.state import state_of

PAGE_SIZE = 50
FAILURES_SHOWN = 10

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
env.filters.update(
    dur=fmt.duration, rate=fmt.rate, count=fmt.count, spark=fmt.sparkline,
    when=lambda v: "–" if not v else (v[:19].replace("T", " ") if isinstance(v, str)
                                       else f"{v:%Y-%m-%d %H:%M:%S}"),
    pretty=lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str),
)


def base_path(request: Request) -> str:
    """Where the app is mounted, with a trailing slash: every link is relative to it."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/") + "/"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page or fragment; pages also get the CSRF cookie their buttons echo back."""
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    html = env.get_template(template).render(
        base=base_path(request), csrf=csrf, role=request.scope.get("pgtask_role"),
        session=request.scope.get("pgtask_how") == "cookie",
        refresh_ms=int(state_of(request).refresh_seconds * 1000),
        stale_after=STALE_WORKER_SECONDS, states=[s.value for s in TaskState], **context)
    response = HTMLResponse(html, status_code=status)
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path=base_path(request))
    return response


def _filters(request: Request) -> dict[str, Any]:
    query = validation.list_query(request.query_params.multi_items())
    return {**query, "limit": PAGE_SIZE, "after": None}  # newest first, older by `before`


def _overview_rows(browser: Browser, query: dict[str, Any]) -> dict[str, Any]:
    rows, cursor = page_of(browser, query)
    return {"tasks": rows, "cursor": cursor,
            "failures": browser.recent_failures(FAILURES_SHOWN)}


async def _overview(request: Request) -> dict[str, Any]:
    state = state_of(request)
    query = _filters(request)
    data = await state.db.run(_overview_rows, query)
    snapshot = await state.snapshot()
    filters = {k: v for k, v in (("state", query["state"]), ("queue", query["queue"]),
                                 ("type", query["task_type"])) if v}
    older = urlencode({**filters, "before": data["cursor"]}) if data["cursor"] else None
    return {**data, "snapshot": snapshot, "filters": filters, "older": older,
            "paged": query["before"] is not None,
            "live_query": urlencode({**filters, **({"before": query["before"]}
                                                   if query["before"] else {})}),
            "newest": urlencode(filters), "now": snapshot.at}


async def index(request: Request) -> HTMLResponse:
    return render(request, "index.html", **await _overview(request))


async def live(request: Request) -> HTMLResponse:
    return render(request, "live.html", **await _overview(request))


async def _task(request: Request) -> dict[str, Any]:
    task_id = validation.task_id(request.path_params["id"])
    detail = await state_of(request).db.run(task_detail, task_id)
    if detail is None:
        raise not_found(task_id)
    return {"task": detail, "task_id": task_id}


async def task_page(request: Request) -> HTMLResponse:
    return render(request, "task.html", **await _task(request))


async def task_live(request: Request) -> HTMLResponse:
    return render(request, "task_live.html", **await _task(request))


def ago(now: datetime, then: datetime | None) -> str:
    return "–" if then is None else fmt.duration((now - then).total_seconds()) + " ago"


def first_line(text: str | None, limit: int = 160) -> str:
    """The headline of an error (tracebacks are on the task page)."""
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


env.globals.update(ago=ago, first_line=first_line)

routes = [
    Route("/", index, methods=["GET"]),
    Route("/ui/live", live, methods=["GET"]),
    Route("/tasks/{id}", task_page, methods=["GET"]),
    Route("/ui/tasks/{id}", task_live, methods=["GET"]),
]
