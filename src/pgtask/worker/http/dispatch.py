"""HTTP targets: POST a claimed task to its URL and turn the answer into an outcome.

One HttpDispatcher per worker process: a pooled client, the target policy, the signing
secrets, and an adaptive rate per queue that it enforces by pacing its own dispatches (the
queue's global concurrency and token-bucket limits are already enforced by claim_task).
Secrets, Authorization values and URL credentials never reach a log line, an error or a
stored result: every text that leaves passes through the scrubber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

import httpcore
import httpx

from pgtask.errors import ConfigError
from pgtask.logs import task_fields
from pgtask.models import ClaimedTask, HttpAttempt, QueuePolicy
from pgtask.store.base import Store
from pgtask.telemetry import NO_TRACING, Tracing
from pgtask.worker.http.config import HttpConfig
from pgtask.worker.http.journal import Journal
from pgtask.worker.http.model import Dispatch
from pgtask.worker.http.net import ClientPool, Resolver, system_resolver
from pgtask.worker.http.outcome import Verdict, classify_error, classify_status, status_text
from pgtask.worker.http.pacing import Pacing
from pgtask.worker.http.policy import TargetRefused, redact_url, target_url
from pgtask.worker.http.request import (
    body_text,
    build_body,
    build_headers,
    check_database_id,
    decode_body,
    webhook_id,
)
from pgtask.worker.http.throttle import AdaptiveRate
from pgtask.worker.scrub import Scrub

log = logging.getLogger("pgtask.worker.http")

ERROR_SNIPPET = 200       # characters of a failing response quoted in the task's error
PUBLISH_INTERVAL = 1.0    # seconds between two publications of a rising rate


class HttpDispatcher:
    def __init__(self, config: HttpConfig, *, resolver: Resolver = system_resolver,
                 network: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.config = config
        self._resolver = resolver
        self._network = network  # under the egress guard; None: httpcore's own
        self._database_id: str | None = None
        self._scrub = Scrub(config.secret_values(), marker="***")
        self._clients: ClientPool | None = None
        self._journal = Journal()
        self._rates: dict[str, AdaptiveRate] = {}
        self._pacing = Pacing(config.max_pace_wait)
        self._published: dict[str, tuple[float, float | None]] = {}
        self._shared_seen: dict[str, datetime] = {}
        # Adds the attempt's span as traceparent; the signature covers the webhook-id, the
        # timestamp and the body only, so these headers never disturb it.
        self.tracing: Tracing = NO_TRACING

    def use_database_id(self, database_id: str) -> None:
        """The id of the database whose tasks this dispatcher delivers: it scopes every
        webhook-id, so two databases delivering to one receiver never collide."""
        try:
            self._database_id = check_database_id(database_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    async def open(self, store: Store | None = None) -> None:
        """Start the client; with a store that keeps a journal (Capability.HTTP_JOURNAL),
        also journal attempts and share rates. Refuses to start without a database id: a
        webhook-id without one would collide across databases."""
        if self._database_id is None:
            raise ConfigError("HTTP targets need the database's id for their webhook-id: "
                              "call use_database_id() before open() (the worker does)")
        self._journal = Journal(store)
        self._journal.start()
        self._clients = ClientPool(max_connections=self.config.max_connections,
                                   egress=self.config.egress, verify=self.config.verify_tls,
                                   resolver=self._resolver, network=self._network)
        if not self.config.secrets:
            log.warning("no webhook secret (set PGTASK_HTTP_SECRETS): "
                        "HTTP tasks go out unsigned", extra={"event": "http.unsigned"})

    async def close(self) -> None:
        if self._clients is not None:
            await self._clients.aclose()
            self._clients = None
        await self._journal.close()

    def current_rates(self) -> dict[str, float | None]:
        """The adaptive rate of each queue dispatched so far (tasks/s; None: unthrottled)."""
        now = time.monotonic()
        return {name: rate.rate(now) for name, rate in self._rates.items()}

    async def dispatch(self, task: ClaimedTask, policy: QueuePolicy) -> Dispatch:
        """Deliver one claimed task and say what became of it. Never raises for anything
        the target or the network does; cancellation propagates."""
        try:
            url = target_url(task.target_url, policy.target_url, queue=task.queue,
                             allow=self.config.allow, egress=self.config.egress)
        except TargetRefused as exc:
            return self._refused(task, str(exc))
        throttle = self._throttle(policy)
        wait = await self._pacing.wait_turn(policy.name, throttle, policy.workers)
        if wait is not None:  # hand it back rather than hold it idle
            return Dispatch("snoozed", delay=timedelta(seconds=wait), error="throttled")
        return await self._deliver(task, policy, url, throttle)

    def _refused(self, task: ClaimedTask, reason: str) -> Dispatch:
        log.warning("task %s refused: %s", task.id, reason,
                    extra={"event": "http.refused", **task_fields(task)})
        entry = HttpAttempt(task.id, task.attempt, time.monotonic(), None, 0.0,
                            "refused by target policy", None)
        self._journal.add(entry)
        return Dispatch("dead", error=reason, attempt=entry)

    async def _deliver(self, task: ClaimedTask, policy: QueuePolicy, url: httpx.URL,
                       throttle: AdaptiveRate) -> Dispatch:
        executions, previous = ((0, None) if task.attempt <= 1
                                else await self._journal.history(task.id))
        body = build_body(task)
        assert self._database_id is not None, "HttpDispatcher.open() was not called"
        headers = build_headers(task, body, self.config.secrets, self.config.headers,
                                msg_id=webhook_id(self._database_id, task.id),
                                timestamp=int(time.time()), executions=executions,
                                previous_status=previous)
        self.tracing.inject(headers)
        started = time.monotonic()
        try:
            async with asyncio.timeout(policy.dispatch_deadline):
                response, text, truncated = await self._post(url, body, headers, policy)
        except TargetRefused as exc:  # an address the name resolved to, vetted at connect
            return self._refused(task, f"POST {redact_url(url)}: {exc}")
        except Exception as exc:
            return self._no_answer(task, policy, url, exc, started, throttle)
        latency = time.monotonic() - started
        verdict = classify_status(response.status_code, task.attempt, policy.backoff,
                                  retry_after=response.headers.get("retry-after"),
                                  date=response.headers.get("date"))
        asked = response.headers.get("retry-after") and verdict.delay
        self._adapt(policy, throttle, verdict, started, latency,
                    retry_after=asked.total_seconds() if asked else None)
        entry = HttpAttempt(task.id, task.attempt, started, response.status_code,
                            latency * 1000, verdict.reason,
                            text[:self.config.journal_response_chars] or None)
        self._journal.add(entry)
        if verdict.kind == "succeeded":
            result = decode_body(text, truncated, response.headers.get("content-type"))
            return Dispatch("succeeded", result=result, attempt=entry)
        error = f"POST {redact_url(url)}: HTTP {status_text(response.status_code)}"
        if 300 <= response.status_code < 400:
            error += " (redirects are not followed; point the target at the final URL)"
        if text:
            error += f": {text[:ERROR_SNIPPET]}"
        return Dispatch(verdict.kind, error=error, delay=verdict.delay, attempt=entry)

    async def _post(self, url: httpx.URL, body: bytes, headers: dict[str, str],
                    policy: QueuePolicy) -> tuple[httpx.Response, str, bool]:
        """Send, and read at most max_response_bytes of the answer (scrubbed text)."""
        assert self._clients is not None, "HttpDispatcher.open() was not called"
        client = self._clients.next()
        request = client.build_request(
            "POST", url, content=body, headers={**headers, "accept-encoding": "identity"},
            timeout=httpx.Timeout(policy.dispatch_deadline))
        response = await client.send(request, stream=True)
        cap, chunks, size, truncated = self.config.max_response_bytes, [], 0, False
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    truncated = True
                    break
        finally:
            await response.aclose()
        text = body_text(b"".join(chunks)[:cap])
        return response, self._scrub(text, extra=_credentials(url, response.request)), truncated

    def _no_answer(self, task: ClaimedTask, policy: QueuePolicy, url: httpx.URL,
                   exc: Exception, started: float, throttle: AdaptiveRate) -> Dispatch:
        latency = time.monotonic() - started
        verdict = classify_error(exc)
        self._adapt(policy, throttle, verdict, started, latency)
        if verdict.reason == "timeout":
            detail = f"no response within the dispatch deadline of {policy.dispatch_deadline:g}s"
        else:
            detail = self._scrub(str(exc) or type(exc).__name__, extra=_credentials(url))
        entry = HttpAttempt(task.id, task.attempt, started, None, latency * 1000,
                            verdict.reason, None)
        self._journal.add(entry)
        return Dispatch(verdict.kind, error=f"POST {redact_url(url)}: {verdict.reason}: {detail}",
                        delay=verdict.delay, attempt=entry)

    def _throttle(self, policy: QueuePolicy) -> AdaptiveRate:
        """The queue's adaptive rate, brought in line with what other workers published:
        a lower rate published since we last looked is adopted (pushback seen anywhere
        slows everyone); a higher one is left to our own additive increase."""
        throttle = self._rates.get(policy.name)
        if throttle is None:
            throttle = self._rates[policy.name] = AdaptiveRate(self.config.aimd)
        throttle.ceiling = policy.rate_limit
        stamp = policy.dispatch_rate_at
        ours = self._journal.rates_stamped_at
        if stamp is not None and stamp != self._shared_seen.get(policy.name) \
                and (ours is None or stamp > ours):
            self._shared_seen[policy.name] = stamp
            now = time.monotonic()
            current = throttle.rate(now)
            if policy.dispatch_rate is not None and (current is None
                                                     or policy.dispatch_rate < current):
                throttle.set(now, policy.dispatch_rate)
        return throttle

    def _adapt(self, policy: QueuePolicy, throttle: AdaptiveRate, verdict: Verdict,
               started: float, latency: float, retry_after: float | None = None) -> None:
        now = time.monotonic()
        before = throttle.rate(now)
        decreased = throttle.response(now, pushback=verdict.pushback, latency=latency,
                                      sent_at=started, workers=policy.workers,
                                      retry_after=retry_after)
        rate = throttle.rate(now)
        last_at, last_rate = self._published.get(policy.name, (float("-inf"), None))
        if decreased:
            log.info("queue %s: target pushed back (%s, %.0f ms); dispatch rate "
                     "%s -> %.2f/s", policy.name, verdict.reason, latency * 1000,
                     "unthrottled" if before is None else f"{before:.2f}/s", rate,
                     extra={"event": "http.throttled", "queue": policy.name})
        elif rate is None and last_rate is not None:
            log.info("queue %s: target recovered; dispatch rate unthrottled",
                     policy.name, extra={"event": "http.unthrottled", "queue": policy.name})
        if rate != last_rate and (decreased or rate is None or now - last_at >= PUBLISH_INTERVAL):
            self._published[policy.name] = (now, rate)
            self._journal.publish(policy.name, rate)


def _credentials(url: httpx.URL, request: httpx.Request | None = None) -> list[str]:
    """Secrets of one request beyond the configured ones: the URL's password and the
    Authorization header httpx derived from it."""
    found = [url.password or ""]
    if request is not None and "authorization" in request.headers:
        value = request.headers["authorization"]
        found += [value, *value.split()[1:]]
    return found
