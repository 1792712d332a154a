"""The webhook-id is unique across databases and stable across retries; signing keys are
24 to 64 bytes (the Standard Webhooks bounds), refused at start-up otherwise."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys

import pytest

import pgtask
from pgtask.models import QueuePolicy
from pgtask.signing import SigningSecret
from pgtask.store.postgres.store import PostgresStore
from pgtask.worker.http import HttpDispatcher
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.request import webhook_id
from pgtask.worker.http.targets import HttpTargets
from tests.support.workers import ROOT

from .helpers import SECRET, make_config, make_task

DB_A = "0f5e7c1a-3b7d-4c9e-8a21-6d4f2b9e1c30"
DB_B = "7a0c2e94-51d3-4b8f-9e6a-2c1d8f3b5a47"


def key(n: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * n).decode()


def test_webhook_ids_differ_across_databases_and_not_across_calls():
    assert webhook_id(DB_A, 42) != webhook_id(DB_B, 42)
    assert webhook_id(DB_A, 42) == webhook_id(DB_A, 42) != webhook_id(DB_A, 43)
    assert webhook_id(DB_A, 42) != "task_42"
    for bad in ("", "a b", "x" * 65, "db\r\nx-injected: 1", "-leading"):
        with pytest.raises(ValueError, match="database id"):
            webhook_id(bad, 42)


def test_two_databases_delivering_one_task_id_to_one_receiver_do_not_collide(target):
    async def deliver(database_id: str, attempts: list[int]) -> None:
        dispatcher = HttpDispatcher(make_config())
        dispatcher.use_database_id(database_id)
        await dispatcher.open()
        try:
            for attempt in attempts:
                await dispatcher.dispatch(make_task(7, attempt=attempt),
                                          QueuePolicy("hooks", target_url=target.url()))
        finally:
            await dispatcher.close()

    asyncio.run(deliver(DB_A, [1, 2]))  # a task and its retry
    asyncio.run(deliver(DB_B, [1]))     # the same task id in another database
    ids = [pgtask.verify_signature(seen.body, seen.headers, SECRET) for seen in target.requests]
    assert ids == [webhook_id(DB_A, 7), webhook_id(DB_A, 7), webhook_id(DB_B, 7)]
    assert ids[0] != ids[2]


def test_without_a_database_id_http_targets_refuse_to_start(dsn):
    async def main() -> None:
        store = PostgresStore(dsn)
        await store.open()
        try:
            with pytest.raises(pgtask.ConfigError, match="use_database_id"):
                await HttpTargets(make_config()).open(store)
        finally:
            await store.close()
    asyncio.run(main())
    with pytest.raises(pgtask.ConfigError, match="database id"):
        HttpTargets(make_config()).use_database_id("not a uuid; x")


@pytest.mark.parametrize("size,ok", [(16, False), (23, False), (24, True), (32, True),
                                     (64, True), (65, False), (128, False)])
def test_signing_key_bounds(size, ok):
    if ok:
        assert len(SigningSecret.parse(key(size)).key) == size
        return
    with pytest.raises(ValueError, match="24 to 64 bytes") as info:
        SigningSecret.parse(key(size))
    assert "pgtask.new_secret()" in str(info.value)  # says how to make a good one
    assert key(size)[6:] not in str(info.value)      # and never echoes the secret
    with pytest.raises(pgtask.ConfigError, match="number 2 of 2.*24 to 64 bytes"):
        HttpConfig.from_env({"PGTASK_HTTP_SECRETS": f"{key(32)},{key(size)}"})


def test_new_secrets_fit_the_bounds():
    assert 24 <= len(SigningSecret.parse(pgtask.new_secret()).key) <= 64


@pytest.mark.parametrize("size", [16, 23, 65])
def test_pgtask_worker_refuses_a_bad_key_at_start_up(size):
    """Before it connects anywhere: the DSN points at a port nobody listens on."""
    env = {**os.environ, "PGTASK_HTTP_SECRETS": key(size),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "pgtask", "worker", "--dsn",
                           "postgresql://nobody@127.0.0.1:9/none"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "24 to 64 bytes of key" in done.stderr and "pgtask.new_secret()" in done.stderr
    assert key(size)[6:] not in done.stderr + done.stdout
