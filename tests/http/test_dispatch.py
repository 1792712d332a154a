"""HttpDispatcher against a real HTTP server on 127.0.0.1 (no database)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pgtask
from pgtask.models import QueuePolicy
from pgtask.worker.http.policy import parse_prefix
from pgtask.worker.http.request import webhook_id
from pgtask.worker.http.throttle import AimdSettings

from .helpers import (
    DATABASE_ID,
    OLD_SECRET,
    SECRET,
    TOKEN,
    dispatch,
    make_config,
    make_dispatcher,
    make_task,
)
from .target import Reply


def policy_for(target, **kw) -> QueuePolicy:
    return QueuePolicy("hooks", target_url=target.url(), **kw)


def test_success_stores_the_body_and_sends_a_verifiable_request(target):
    target.responder = lambda seen: Reply(200, '{"charged": true, "n": 3}')
    task = make_task(7, key="order-42")
    [done] = dispatch(make_config(), [task], policy_for(target))
    assert done.kind == "succeeded" and done.result == {"charged": True, "n": 3}
    assert done.attempt.status == 200 and done.attempt.reason == "http 200"
    [seen] = target.requests
    body = json.loads(seen.body)
    assert body == {"id": 7, "type": "orders.created", "queue": "hooks", "attempt": 1,
                    "payload": {"order": 42}, "created_at": "2024-05-01T12:00:00+00:00",
                    "scheduled_at": "2024-05-01T12:00:00+00:00"}
    h = seen.headers
    assert (h["pgtask-task-id"], h["pgtask-queue"]) == ("7", "hooks")
    assert h["pgtask-task-type"] == "orders.created"
    assert (h["pgtask-retry-count"], h["pgtask-execution-count"]) == ("0", "0")
    assert h["pgtask-eta"] == "2024-05-01T12:00:00+00:00" and h["idempotency-key"] == "order-42"
    assert "pgtask-previous-response" not in h
    assert pgtask.verify_signature(seen.body, h, SECRET) == webhook_id(DATABASE_ID, 7)


def test_text_bodies_and_the_size_cap(target):
    target.responder = lambda seen: Reply(200, "x" * 5000, {"content-type": "text/plain"})
    [done] = dispatch(make_config(max_response_bytes=1000, journal_response_chars=100),
                      [make_task()], policy_for(target))
    assert done.result == "x" * 1000 and done.attempt.response == "x" * 100
    target.responder = lambda seen: Reply(204, b"", {})
    [empty] = dispatch(make_config(), [make_task()], policy_for(target))
    assert empty.kind == "succeeded" and empty.result is None


def test_server_error_retries_with_the_queue_backoff(target):
    target.responder = lambda seen: Reply(500, "database on fire", {"content-type": "text/plain"})
    [done] = dispatch(make_config(), [make_task()], policy_for(target))
    assert (done.kind, done.delay) == ("failed", None)
    assert "HTTP 500 Internal Server Error: database on fire" in done.error
    assert done.attempt.status == 500 and done.attempt.response == "database on fire"


def test_429_honours_retry_after_seconds_and_dates(target):
    target.responder = lambda seen: Reply(429, "", {"retry-after": "2"})
    [done] = dispatch(make_config(), [make_task()], policy_for(target))
    assert done.kind == "failed" and done.delay == timedelta(seconds=2)
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    target.responder = lambda seen: Reply(503, "", {"retry-after": later})
    [done] = dispatch(make_config(), [make_task()], policy_for(target))
    # Read against the server's Date header: whole seconds, refreshed by uvicorn about once a
    # second, so a loaded machine may be a second or two off.
    assert done.kind == "failed" and 27 <= done.delay.total_seconds() <= 33


def test_client_error_is_dead_at_once(target):
    target.responder = lambda seen: Reply(404, "no such hook")
    [done] = dispatch(make_config(), [make_task()], policy_for(target))
    assert done.kind == "dead" and "HTTP 404 Not Found" in done.error


def test_a_hanging_target_times_out_at_the_dispatch_deadline(target):
    target.responder = lambda seen: Reply(delay=30)
    started = time.monotonic()
    [done] = dispatch(make_config(), [make_task()], policy_for(target, dispatch_deadline=0.5))
    elapsed = time.monotonic() - started
    assert done.kind == "failed" and done.attempt.reason == "timeout"
    assert "within the dispatch deadline of 0.5s" in done.error
    assert 0.5 <= elapsed < 3 and 450 <= done.attempt.latency_ms < 3000


def test_connection_refused_retries():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = QueuePolicy("hooks", target_url=f"http://127.0.0.1:{port}/task")
    [done] = dispatch(make_config(), [make_task()], policy)
    assert done.kind == "failed" and done.attempt.reason == "connection error"
    assert done.attempt.status is None


def test_redirects_are_not_followed(target):
    target.responder = lambda seen: (Reply(302, "", {"location": target.url("/elsewhere")})
                                     if seen.path == "/task" else Reply())
    [done] = dispatch(make_config(), [make_task()], policy_for(target))
    assert done.kind == "dead" and "redirects are not followed" in done.error
    assert [s.path for s in target.requests] == ["/task"]


def test_per_task_url_outside_the_allowlist_is_dead_and_never_sent(target):
    task = make_task(target_url=target.url("/evil"))
    config = make_config(allow=(parse_prefix(target.url("/allowed/")),))
    [done] = dispatch(config, [task], QueuePolicy("hooks"))
    assert done.kind == "dead" and "not under any allowed prefix" in done.error
    assert done.attempt.reason == "refused by target policy"
    assert target.requests == []
    [ok] = dispatch(config, [make_task(target_url=target.url("/allowed/x"))], QueuePolicy("hooks"))
    assert ok.kind == "succeeded" and [s.path for s in target.requests] == ["/allowed/x"]


def test_metadata_addresses_are_refused_by_name_and_after_resolution(target):
    config = make_config(allow=(parse_prefix("http://169.254.169.254/"),
                                parse_prefix(f"http://good.test:{target.port}/")))
    [by_ip] = dispatch(config, [make_task(target_url="http://169.254.169.254/latest/meta-data")],
                       QueuePolicy("hooks"))
    assert by_ip.kind == "dead" and "metadata" in by_ip.error

    async def resolver(host, port):  # DNS as an attacker would arrange it
        return ["169.254.169.254"] if host == "evil.test" else ["127.0.0.1"]

    queue_level = QueuePolicy("hooks", target_url=f"http://evil.test:{target.port}/task")
    [by_dns] = dispatch(config, [make_task()], queue_level, resolver=resolver)
    assert by_dns.kind == "dead" and "resolves to 169.254.169.254" in by_dns.error
    assert target.requests == []
    good = make_task(target_url=f"http://good.test:{target.port}/task")
    [ok] = dispatch(config, [good], QueuePolicy("hooks"), resolver=resolver)
    assert ok.kind == "succeeded"
    assert target.requests[0].headers["host"] == f"good.test:{target.port}"  # name kept for TLS


def test_retries_say_what_happened_before(target):
    answers = iter([Reply(500, "boom"), Reply(200, "{}")])
    target.responder = lambda seen: next(answers)

    async def main():
        dispatcher = make_dispatcher(make_config())
        await dispatcher.open()
        try:
            policy = policy_for(target)
            first = await dispatcher.dispatch(make_task(3, attempt=1), policy)
            second = await dispatcher.dispatch(make_task(3, attempt=2), policy)
            return first, second
        finally:
            await dispatcher.close()

    first, second = asyncio.run(main())
    assert (first.kind, second.kind) == ("failed", "succeeded")
    h1, h2 = (s.headers for s in target.requests)
    assert h1["webhook-id"] == h2["webhook-id"] == webhook_id(DATABASE_ID, 3)  # every retry
    assert (h2["pgtask-retry-count"], h2["pgtask-execution-count"]) == ("1", "1")
    assert h2["pgtask-previous-response"] == "500"
    assert h2["idempotency-key"] == "3"


def test_rotation_sends_both_signatures(target):
    config = make_config(secrets=tuple(
        pgtask.worker.http.SigningSecret.parse(s) for s in (SECRET, OLD_SECRET)))
    dispatch(config, [make_task()], policy_for(target))
    [seen] = target.requests
    assert pgtask.verify_signature(seen.body, seen.headers, OLD_SECRET)
    assert pgtask.verify_signature(seen.body, seen.headers, SECRET)


def test_secrets_never_reach_logs_errors_or_results(target, caplog):
    """The target echoes every header it got (as some debugging endpoints do)."""
    caplog.set_level(logging.DEBUG)
    mode = {"status": 200}
    target.responder = lambda seen: Reply(mode["status"], json.dumps(seen.headers))
    config = make_config(headers={"Authorization": TOKEN})
    bearer = f"http://127.0.0.1:{target.port}/task?key=q"
    basic = f"http://user:pa55word-xyz@127.0.0.1:{target.port}/task"
    results = []
    for url in (bearer, basic):
        policy = QueuePolicy("hooks", target_url=url, dispatch_deadline=0.5)
        for status in (200, 500, 401):
            mode["status"] = status
            results += dispatch(config, [make_task()], policy)
        target.responder = lambda seen: Reply(delay=5)
        results += dispatch(config, [make_task()], policy)
        results += dispatch(config, [make_task(target_url=url)], policy)  # refused: not allowed
        target.responder = lambda seen: Reply(mode["status"], json.dumps(seen.headers))
    sent = {s.headers["authorization"] for s in target.requests}
    assert TOKEN in sent and len(sent) == 2  # the secrets were sent...
    texts = [caplog.text] + [json.dumps(r.result) for r in results] + \
        [str(r.error) for r in results] + [str(r.attempt.response) for r in results]
    secrets = (*sent, "tok-3f9a7c1e5d", SECRET, SECRET[6:], "pa55word-xyz", "key=q")
    for text in texts:  # ...and never shown
        for secret in secrets:
            assert secret not in text
    assert [r.kind for r in results] == ["succeeded", "failed", "dead", "failed", "dead"] * 2
    assert "***" in json.dumps(results[0].result)


def test_pushback_lowers_the_rate_and_throttled_tasks_are_handed_back(target, caplog):
    caplog.set_level(logging.INFO, "pgtask.worker.http")
    target.responder = lambda seen: Reply(503, "")
    config = make_config(aimd=AimdSettings(min_rate=2.0, cooldown=10.0), max_pace_wait=0.3)
    policy = policy_for(target)

    async def main():
        dispatcher = make_dispatcher(config)
        await dispatcher.open()
        try:
            burst = [dispatcher.dispatch(make_task(i), policy) for i in range(10)]
            first = await asyncio.gather(*burst)
            rate = dispatcher.current_rates()["hooks"]
            paced = [dispatcher.dispatch(make_task(i), policy) for i in range(10)]
            return first, rate, await asyncio.gather(*paced)
        finally:
            await dispatcher.close()

    first, rate, second = asyncio.run(main())
    assert all(d.kind == "failed" and d.delay for d in first)
    assert 2.0 <= rate < 10.0  # halved from what was observed (10 in a 2 s window), floored
    snoozed = [d for d in second if d.kind == "snoozed"]
    assert len(snoozed) >= 8 and all(d.delay.total_seconds() > 0.3 and d.attempt is None
                                     for d in snoozed)
    assert len(target.requests) == 10 + (10 - len(snoozed))
    assert "target pushed back (http 503" in caplog.text
