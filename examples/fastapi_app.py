# examples/fastapi_app.py
"""A FastAPI app that enqueues inside its request's transaction and runs a pgtask worker
in its own process, started and drained with the app (pgtask.contrib.asgi).

    PGTASK_DSN=postgresql://app@localhost/app uvicorn examples.fastapi_app:app
    curl -X POST 'localhost:8000/signup?email=ada@example.com'
"""

import asyncio
import os

import psycopg
from fastapi import FastAPI

import pgtask
from pgtask.contrib.asgi import worker_lifespan

DSN = os.environ["PGTASK_DSN"]


@pgtask.task("send_welcome")
async def send_welcome(task: pgtask.TaskContext) -> dict:
    await asyncio.sleep(task.payload.get("seconds", 0))  # stands in for the real work
    return {"sent_to": task.payload["email"]}


# SIGTERM (uvicorn's shutdown): stop claiming, give running tasks 30 s, release the rest.
app = FastAPI(lifespan=worker_lifespan(DSN, concurrency=10, shutdown_timeout=30))


@app.post("/signup")
async def signup(email: str, seconds: float = 0) -> dict:
    async with await psycopg.AsyncConnection.connect(DSN) as conn:
        # ... insert the user on `conn` here: the task commits (or rolls back) with it.
        task_id = await pgtask.aenqueue(conn, "send_welcome",
                                        {"email": email, "seconds": seconds})
    return {"task_id": task_id}
