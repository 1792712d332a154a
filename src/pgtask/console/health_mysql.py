"""The database-health lines of a frame on MySQL/MariaDB: InnoDB purge and the oldest
transaction, in place of Postgres's dead tuples, xmin horizon and NOTIFY.

InnoDB's version of the Postgres failure: an open transaction keeps purge from removing the
old row versions that every claim and finish leaves behind (the history list grows), and
reads of the hot table slow down. MySQL has no NOTIFY: workers poll. The data is
ops/health_mysql.py's.
"""

from __future__ import annotations

from rich.text import Text

from pgtask.console import format as fmt
from pgtask.console.view import Thresholds
from pgtask.ops.health_mysql import MySQLHealth, OldestTransaction
from pgtask.redact import printable


def describe(trx: OldestTransaction) -> str:
    detail = f" ({printable(trx.detail)})" if trx.detail else ""
    return f"thread {trx.thread_id}{detail} open for {fmt.duration(trx.seconds)}"


def _purge_line(health: MySQLHealth, thresholds: Thresholds) -> Text:
    line = Text("InnoDB purge  ")
    if health.history_length is None:
        return line.append("history list length unknown", style="dim")
    long = health.history_length >= thresholds.history_length
    return line.append(f"history list length {fmt.count(health.history_length)}",
                       style="bold yellow" if long else "")


def _transaction_line(health: MySQLHealth, thresholds: Thresholds) -> Text:
    line = Text("oldest trx    ")
    trx = health.oldest_transaction
    if trx is None:
        return line.append("none open", style="green")
    if trx.seconds >= thresholds.xmin_seconds:
        line.append(f"⚠ {describe(trx)}", style="bold red")
        return line.append(": InnoDB cannot purge the row versions it may still read",
                           style="red")
    return line.append(f"ok ({describe(trx)})", style="dim")


def mysql_health_lines(health: MySQLHealth, thresholds: Thresholds) -> list[Text]:
    lines = [Text("DATABASE", style="bold underline")]
    if health.available:
        lines += [_purge_line(health, thresholds), _transaction_line(health, thresholds)]
    else:
        lines.append(Text("InnoDB        not shown: reading information_schema.INNODB_TRX "
                          "needs the PROCESS privilege", style="dim"))
    return lines + [Text("NOTIFY        none on MySQL: idle workers poll (1s apart at most "
                         "by default)", style="dim")]
