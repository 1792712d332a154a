"""The SQL of HTTP delivery on MySQL/MariaDB: each queue's dispatch policy (its target URL,
deadline, limits and retry policy), so that queue-level targets deliver as on Postgres.

The attempt journal and the shared adaptive rate stay Postgres-only (Capability.HTTP_JOURNAL):
on MySQL each worker remembers attempts in memory and throttles on its own, so
dispatch_rate is always None here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymysql.connections import Connection
from pymysql.cursors import Cursor

from pgtask.models import Backoff, QueuePolicy

# `workers`: the live workers that serve the queue (every queue when queues is NULL), as
# dispatch_policies counts them on Postgres; a worker shares the queue's rate limit with them.
POLICIES = """
SELECT q.name, q.target_url, q.dispatch_deadline, q.concurrency_limit, q.rate_limit,
       q.rate_burst, q.max_attempts, q.min_backoff, q.max_backoff, q.max_doublings,
       (SELECT COUNT(*) FROM pgtask_workers w
         WHERE w.heartbeat_at > UTC_TIMESTAMP(6) - INTERVAL 30 SECOND
           AND (w.queues IS NULL OR JSON_CONTAINS(w.queues, JSON_QUOTE(q.name)))) AS workers
  FROM pgtask_queues q
 ORDER BY q.name
"""


def _policy(row: tuple[Any, ...]) -> QueuePolicy:
    (name, target_url, deadline, concurrency, rate, burst, max_attempts, min_backoff,
     max_backoff, doublings, workers) = row
    return QueuePolicy(name, target_url, float(deadline), concurrency,
                       None if rate is None else float(rate), burst, max_attempts,
                       Backoff(float(min_backoff), float(max_backoff), doublings),
                       None, None, max(1, int(workers)))


def queue_policies(conn: Connection[Any],
                   names: Sequence[str] | None = None) -> dict[str, QueuePolicy]:
    """The dispatch policy of each named queue that exists (every queue when names is None)."""
    wanted = None if names is None else set(names)
    with conn.cursor(Cursor) as cur:
        cur.execute(POLICIES)
        rows = cur.fetchall()
    return {row[0]: _policy(row) for row in rows if wanted is None or row[0] in wanted}
