"""/api/queues, /api/workers and /healthz."""

from __future__ import annotations

import logging
from dataclasses import asdict
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from pgtask.errors import DatabaseUnavailable, Refused
from pgtask.ops.snapshot import QueueStats, Snapshot
from pgtask.redact import redact_row
from pgtask.store.base import Browser, Row
from pgtask.store.postgres.schema import schema_status
from pgtask.web import queue_settings, validation
from pgtask.web.body import read_json
from pgtask.web.responses import ApiError, Json
from pgtask.web.state import state_of

log = logging.getLogger("pgtask.web")
STALE_WORKER_SECONDS = 30.0  # as `pgtask top` flags them


def queue_stats(q: QueueStats | None) -> dict[str, Any]:
    """The live numbers of a queue, as the console computes them."""
    if q is None:
        return {}
    pickup = dict(zip(("p50", "p95", "p99"), q.pickup, strict=True)) if q.pickup else None
    return {"queued": q.queued, "scheduled": q.scheduled, "running": q.running,
            "dead_last_hour": q.dead_1h, "lag_seconds": q.lag, "pickup_seconds": pickup,
            "completed_per_second": asdict(q.completed), "failed_per_second": asdict(q.failed)}


def queues_json(policies: list[Row], snapshot: Snapshot) -> list[Row]:
    stats = {q.name: q for q in snapshot.queues}
    return [{**redact_row(p), "stats": queue_stats(stats.get(p["name"]))} for p in policies]


def workers_json(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [{**asdict(w), "alive": w.heartbeat_age < STALE_WORKER_SECONDS}
            for w in snapshot.workers]


async def list_queues(request: Request) -> Json:
    state = state_of(request)
    policies = await state.db.run(lambda b: b.queues())
    return Json({"queues": queues_json(policies, await state.snapshot())})


def _patch(browser: Browser, name: str, paused: bool | None,
           settings: dict[str, Any]) -> Row | None:
    """Change a queue in one transaction; None when there is no such queue."""
    with browser.transaction():
        if not any(q["name"] == name for q in browser.queues()):
            return None
        if settings:
            browser.configure_queue(name, settings)
        if paused is not None:
            browser.set_paused(name, paused)
    return next(q for q in browser.queues() if q["name"] == name)


async def patch_queue(request: Request) -> Json:
    name = validation.queue_name(request.path_params["name"])
    paused, settings = queue_settings.queue_patch(await read_json(request, 64 * 1024))
    queue = await state_of(request).db.run(_patch, name, paused, settings)
    if queue is None:
        raise ApiError(404, "not_found", f"no queue named {name!r}")
    return Json(redact_row(queue))


async def list_workers(request: Request) -> Json:
    return Json({"workers": workers_json(await state_of(request).snapshot())})


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    from alembic.script import ScriptDirectory

    from pgtask.store.migrate import alembic_config, head_revision

    walk = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return head_revision(), frozenset(r.revision for r in walk)


async def healthz(request: Request) -> Json:
    """200 when the database answers and has this package's schema; 503 otherwise.

    The body says which, without naming the database (this endpoint needs no credentials).
    """
    try:
        found = await state_of(request).db.run_within(3.0, lambda b: b.schema_revision())
    except (DatabaseUnavailable, Refused) as exc:
        log.warning("health check: database unreachable (%s)", type(exc.__cause__ or exc).__name__,
                    extra={"event": "web.health_failed"})
        return Json({"status": "unavailable", "database": "unreachable"}, status_code=503)
    head, known = _revisions()
    status = schema_status(found, head, set(known))
    body = {"status": "ok" if status == "ok" else "unavailable", "database": "reachable",
            "schema": status, "revision": found, "expected_revision": head}
    return Json(body, status_code=200 if status == "ok" else 503)


routes = [
    Route("/api/queues", list_queues, methods=["GET"]),
    Route("/api/queues/{name}", patch_queue, methods=["PATCH"]),
    Route("/api/workers", list_workers, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
]
