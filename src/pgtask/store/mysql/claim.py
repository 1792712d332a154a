"""The MySQL claim: FOR UPDATE SKIP LOCKED, then one UPDATE that takes the leases.

One transaction (see tx.py for the conventions): read the clock, the queues' policies
and whether any lease ran out (rescuing those first, as pgtask.claim_task does); claim from
queues with limits one at a time under their row locks; then from the open queues in one
walk of the claim-order index; then give every picked task a new lease token.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.models import ClaimedTask, ClaimWait
from pgtask.store.mysql import sql as q
from pgtask.store.mysql.rules import refill, sql_time, utc
from pgtask.store.mysql.tx import rescue

Row = tuple[Any, ...]
# queue name -> (concurrency_limit, rate_limit, lease, max_attempts, targeted)
Policies = dict[str, Row]
TypeFilter = tuple[str, list[object]]


def claim(conn: Connection[Any], queues: Sequence[str] | None, worker_id: str, batch: int,
          task_types: Sequence[str] | None, with_targets: bool = False) -> list[ClaimedTask]:
    """Lease up to `batch` runnable tasks (pgtask.claim_task on Postgres).

    with_targets: besides `task_types`, take tasks that go to an HTTP target (their own
    target_url or their queue's), whatever their type.
    """
    if batch is None or not 1 <= batch <= 10000:
        raise ValueError(f"pgtask: batch must be between 1 and 10000, got {batch}")
    if not worker_id:
        raise ValueError("pgtask: claim needs a worker_id")
    with conn.cursor(Cursor) as cur:
        cur.execute(q.CLAIM_CONTEXT)
        rows = cur.fetchall()
        now, expired = rows[0][0], rows[0][1]
        if expired:
            rescue(cur, now)
        wanted = None if queues is None else set(queues)
        policies: Policies = {r[2]: r[3:] for r in rows
                              if r[2] is not None and (wanted is None or r[2] in wanted)}
        limited = sorted(n for n, p in policies.items() if p[0] is not None or p[1] is not None)
        open_queues = sorted(set(policies) - set(limited))
        types = None if task_types is None else list(task_types)
        picked: list[Row] = []
        if limited:
            picked = _claim_limited(cur, limited, types, with_targets, now, batch)
        if len(picked) < batch and open_queues:
            targeted = [n for n in open_queues if policies[n][4]]
            picked += _pick(cur, open_queues, _type_filter(types, with_targets, targeted),
                            now, batch - len(picked))
        if not picked:
            return []
        return _take_leases(cur, picked, policies, worker_id, now)


def claim_wait(conn: Connection[Any], queues: Sequence[str] | None) -> ClaimWait:
    """Whether limits hold ready work back in `queues` (pgtask.claim_wait on Postgres).

    Task types are not filtered here: a queue full of another worker's types at worst
    makes this worker claim again a little early.
    """
    names = None if queues is None else sorted(set(queues))
    if names == []:
        return ClaimWait(limited=False)
    where = q.ANY_QUEUE if names is None else q.QUEUE_NAME_IN.format(names=q.in_list(len(names)))
    with conn.cursor(Cursor) as cur:
        cur.execute(q.CLAIM_WAIT.format(queues=where), names)
        rows = cur.fetchall()
    waits: list[float] = []
    full = False
    for _, concurrency_limit, rate, burst, tokens, updated_at, running, now, ready in rows:
        if not ready:  # paused, or no work due: nothing it holds back
            continue
        slots_full = concurrency_limit is not None and running >= concurrency_limit
        full = full or slots_full
        if rate is not None and not slots_full:  # a full queue waits for a slot, not a token
            tokens = refill(tokens, rate, burst, (now - updated_at).total_seconds())
            waits.append(0.0 if tokens >= 1 else (1 - tokens) / rate)
    return ClaimWait(min(waits) if waits else None, full, limited=bool(rows))


def _type_filter(types: list[str] | None, with_targets: bool,
                 targeted: list[str]) -> TypeFilter | None:
    """The PICK condition on task types and its arguments; None when nothing can match."""
    if types is None:
        return "", []
    terms: list[str] = []
    args: list[object] = []
    if types:
        terms.append(q.TYPE_IN.format(names=q.in_list(len(types))))
        args += types
    if with_targets:
        terms.append(q.HAS_TARGET)
        if targeted:
            terms.append(q.QUEUE_IN.format(names=q.in_list(len(targeted))))
            args += targeted
    if not terms:
        return None
    return " AND (" + " OR ".join(terms) + ")", args


def _claim_limited(cur: Cursor, names: list[str], types: list[str] | None, with_targets: bool,
                   now: datetime, batch: int) -> list[Row]:
    """Claim from queues with concurrency or rate limits, one at a time under their locks."""
    cur.execute(q.LOCK_LIMITED_QUEUES.format(names=q.in_list(len(names))), names)
    locked = cur.fetchall()
    running: dict[str, int] = {}
    if any(row[1] is not None for row in locked):
        cur.execute(q.COUNT_RUNNING.format(names=q.in_list(len(locked))), [r[0] for r in locked])
        running = dict(cur.fetchall())
    picked: list[Row] = []
    for name, concurrency_limit, rate_limit, burst, tokens, updated_at, targeted in locked:
        wanted = batch - len(picked)
        if wanted <= 0:
            break
        room = wanted
        if concurrency_limit is not None:
            room = min(room, concurrency_limit - running.get(name, 0))
        if rate_limit is not None:
            tokens = refill(tokens, rate_limit, burst, (now - updated_at).total_seconds())
            room = min(room, math.floor(tokens))
        taken = []
        if room > 0:
            condition = _type_filter(types, with_targets, [name] if targeted else [])
            taken = _pick(cur, [name], condition, now, room)
        picked += taken
        if rate_limit is not None:
            cur.execute(q.SPEND_TOKENS, (tokens - len(taken), now, name))
    return picked


def _pick(cur: Cursor, names: list[str], type_filter: TypeFilter | None, now: datetime,
          limit: int) -> list[Row]:
    if type_filter is None:
        return []
    condition, args = type_filter
    cur.execute(q.PICK.format(names=q.in_list(len(names)), types=condition),
                [now, *names, *args, limit])
    return list(cur.fetchall())


def _trace_context(raw: str | None) -> object:
    """The stored trace context, or None when it cannot be read: it is only a hint for
    tracing, which must never stop a task from running (pgtask.telemetry checks the rest)."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _take_leases(cur: Cursor, picked: list[Row], policies: Policies, worker_id: str,
                 now: datetime) -> list[ClaimedTask]:
    claimed: list[ClaimedTask] = []
    leases: list[dict[str, str]] = []
    for (task_id, queue, task_type, payload, attempt, max_attempts, run_at, created_at,
         idempotency_key, target_url, trace_context) in picked:
        token = uuid.uuid4()
        _, _, lease, queue_max_attempts, _ = policies[queue]
        leases.append({"id": task_id, "token": str(token),
                       "expires": sql_time(now + timedelta(seconds=lease))})
        claimed.append(ClaimedTask(
            id=task_id, queue=queue, task_type=task_type, payload=json.loads(payload),
            attempt=attempt + 1, max_attempts=max_attempts or queue_max_attempts,
            lease_token=token, run_at=utc(run_at), created_at=utc(created_at),
            attempted_at=utc(now), idempotency_key=idempotency_key, target_url=target_url,
            lease=timedelta(seconds=lease), trace_context=_trace_context(trace_context)))
    cur.execute(q.TAKE_LEASES, (json.dumps(leases), worker_id, now, now))
    return claimed
