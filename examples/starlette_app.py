# examples/starlette_app.py
"""A Starlette app with its own lifespan (a connection pool) composed with the worker's:
the pool opens after the worker has started and closes before it drains.

    PGTASK_DSN=postgresql://app@localhost/app uvicorn examples.starlette_app:app
    curl -X POST localhost:8000/reports -d '{"name": "q3"}'
"""

import asyncio
import os
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import pgtask
from pgtask.contrib.asgi import worker_lifespan

DSN = os.environ["PGTASK_DSN"]
registry = pgtask.Registry()


@registry.task("build_report", queue="reports")
async def build_report(task: pgtask.TaskContext) -> dict:
    await asyncio.sleep(task.payload.get("seconds", 0))  # stands in for the real work
    return {"report": task.payload["name"]}


@asynccontextmanager
async def pool_lifespan(app: Starlette):
    async with AsyncConnectionPool(DSN, open=False) as pool:
        app.state.pool = pool
        yield


async def create_report(request: Request) -> JSONResponse:
    body = await request.json()
    async with request.app.state.pool.connection() as conn:  # one transaction
        task_id = await pgtask.aenqueue(conn, "build_report", body, queue="reports")
    return JSONResponse({"task_id": task_id}, status_code=202)


app = Starlette(
    routes=[Route("/reports", create_report, methods=["POST"])],
    lifespan=worker_lifespan(DSN, handlers=registry, queues=["reports"],
                             shutdown_timeout=30, lifespan=pool_lifespan),
)
