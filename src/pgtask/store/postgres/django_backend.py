"""What the Django Tasks backend (pgtask.contrib.django) reads on Django's own connection,
and the libpq conninfo its worker derives from Django's DATABASES entry.

Django's connection is not the store's: it carries Django's own cursor class, row shape and
loaders (Django loads jsonb as text, and psycopg2 would do differently again). So every
column is asked for in a form any of them reads alike: JSON as text (decoded here), rows by
position.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.conninfo import make_conninfo

from pgtask.store.caller import driver_connection
from pgtask.store.postgres.decode import load_json

# One task, unfinished or finished (all_tasks is the union of both tables).
TASK_RESULT = """
select id, queue, task_type, state::text, priority, run_at, attempt, worker_id, created_at,
       started_at, attempted_at, finished_at, payload::text, errors::text, result::text,
       message
  from pgtask.all_tasks where id = %s
"""
COLUMNS = ("id", "queue", "task_type", "state", "priority", "run_at", "attempt", "worker_id",
           "created_at", "started_at", "attempted_at", "finished_at", "payload", "errors",
           "result", "message")
JSON_COLUMNS = ("payload", "errors", "result")

# Django DATABASES keys and OPTIONS that are libpq connection keywords; the rest of OPTIONS
# (pool, server_side_binding, isolation_level, assume_role, ...) is Django's own business.
SETTINGS_KEYWORDS = {"NAME": "dbname", "USER": "user", "PASSWORD": "password",
                     "HOST": "host", "PORT": "port"}
LIBPQ_OPTIONS = frozenset({
    "application_name", "connect_timeout", "keepalives", "keepalives_idle", "options",
    "passfile", "service", "sslcert", "sslkey", "sslmode", "sslrootcert",
    "target_session_attrs"})


def _row(values: Any) -> dict[str, Any]:
    """A row by position, whatever the connection's row factory (tuple or mapping)."""
    if isinstance(values, Mapping):
        values = list(values.values())
    row = dict(zip(COLUMNS, values, strict=True))
    for name in JSON_COLUMNS:
        if row[name] is not None:
            row[name] = load_json(row[name], exponents=False)
    return row


def task_result_row(conn: Any, task_id: int) -> dict[str, Any] | None:
    """The task `task_id` as a dict of COLUMNS, read on the caller's (Django's) connection
    inside whatever transaction it has open; None when there is no such task."""
    driver = driver_connection(conn)
    with driver.cursor() as cur:
        cur.execute(TASK_RESULT, (task_id,))
        found = cur.fetchone()
    return None if found is None else _row(found)


def conninfo(settings: Mapping[str, Any]) -> str:
    """The libpq conninfo for a Django DATABASES entry (postgresql engine), so a worker
    started from Django settings needs no DSN of its own. Holds the password, if any: it
    goes to the worker's connection, never to a log (the worker logs it redacted)."""
    params = {keyword: settings[key] for key, keyword in SETTINGS_KEYWORDS.items()
              if settings.get(key) not in (None, "")}
    options = settings.get("OPTIONS") or {}
    params.update({k: v for k, v in options.items() if k in LIBPQ_OPTIONS})
    return make_conninfo("", **{k: str(v) for k, v in params.items()})
