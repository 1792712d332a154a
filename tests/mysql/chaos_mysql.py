"""The chaos handlers of tests.support.chaos, recording their runs in MySQL instead.

Load with `--handlers tests.mysql.chaos_mysql`; runs go to table chaos_runs (task id,
attempt, pid) of $MYSQL_CHAOS_DSN. The handlers look `_record` up when they run, so
replacing it here redirects every run.
"""

from __future__ import annotations

import os
import threading

from pgtask.store.mysql.store import connect
from tests.support import chaos

registry = chaos.registry
SETUP = "CREATE TABLE IF NOT EXISTS chaos_runs (task_id BIGINT, attempt INT, pid INT)"
_RECORD = "INSERT INTO chaos_runs (task_id, attempt, pid) VALUES (%s, %s, %s)"
_conn = None
_lock = threading.Lock()


def _record(task, attempt: int | None = None) -> None:
    global _conn
    with _lock:
        if _conn is None:
            _conn = connect(os.environ["MYSQL_CHAOS_DSN"], autocommit=True)
        with _conn.cursor() as cur:
            recorded = task.attempt if attempt is None else attempt
            cur.execute(_RECORD, (task.id, recorded, os.getpid()))


chaos._record = _record
