"""MySQL/MariaDB's database health, as a snapshot carries it: InnoDB purge and the oldest
transaction, in place of Postgres's dead tuples, xmin horizon and NOTIFY.

InnoDB's version of the Postgres failure: an open transaction keeps purge from removing the
old row versions that every claim and finish leaves behind (the history list grows), and
reads of the hot table slow down. console/health_mysql.py renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OldestTransaction:
    thread_id: int
    seconds: float
    state: str = ""
    detail: str = ""  # 'idle in transaction, app@10.0.0.5'


@dataclass(frozen=True, slots=True)
class MySQLHealth:
    available: bool = True  # False: the account lacks the PROCESS privilege to read InnoDB
    history_length: int | None = None
    oldest_transaction: OldestTransaction | None = None


def mysql_health(row: dict[str, Any]) -> MySQLHealth:
    """From the "mysql_health" row of store.mysql.snapshot.top_rows."""
    oldest = row["oldest_transaction"]
    return MySQLHealth(
        available=row["available"], history_length=row["history_length"],
        oldest_transaction=OldestTransaction(
            thread_id=oldest["thread_id"], seconds=oldest["seconds"], state=oldest["state"] or "",
            detail=oldest["detail"] or "") if oldest else None)
