"""The receiver in the README's HTTP targets section works as printed."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

import pgtask

from .helpers import OLD_SECRET, SECRET

DOC = Path(__file__).resolve().parents[2] / "README.md"


def receiver_app(monkeypatch):
    code = re.search(r"```python\n(# receiver\.py.*?)```", DOC.read_text(), re.S).group(1)
    monkeypatch.setenv("PGTASK_HTTP_SECRETS", f"{SECRET},{OLD_SECRET}")
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["app"]


def test_documented_receiver_accepts_signed_and_refuses_tampered_requests(monkeypatch):
    app = receiver_app(monkeypatch)
    body = b'{"id": 9, "type": "orders.created", "payload": {}}'
    headers = pgtask.sign_webhook("task_9", body, [SECRET])

    async def post(content, headers):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.post("/tasks", content=content, headers=headers)

    ok = asyncio.run(post(body, headers))
    assert (ok.status_code, ok.json()) == (200, {"handled": 9})
    old = asyncio.run(post(body, pgtask.sign_webhook("task_9", body, OLD_SECRET)))
    assert old.status_code == 200
    bad = asyncio.run(post(body.replace(b"9", b"8"), headers))
    assert bad.status_code == 401 and "no webhook-signature matches" in bad.json()["error"]
