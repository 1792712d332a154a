"""The database-health lines of a frame: bloat, the xmin horizon, NOTIFY.

The classic way a Postgres queue dies is a long transaction (or a forgotten replication
slot) pinning the xmin horizon: vacuum can no longer remove the dead rows every claim and
finish leaves behind, and the hot table bloats until claims crawl. So it is on screen.
"""

from __future__ import annotations

from rich.text import Text

from pgtask.console import format as fmt
from pgtask.console.health_mysql import mysql_health_lines
from pgtask.console.view import Thresholds
from pgtask.ops.health_mysql import MySQLHealth
from pgtask.ops.snapshot import Health, XminHolder
from pgtask.redact import printable


def holder_is_a_problem(holder: XminHolder, thresholds: Thresholds) -> bool:
    if holder.seconds is not None and holder.seconds >= thresholds.xmin_seconds:
        return True
    return holder.xmin_age >= thresholds.xmin_xids


def describe_holder(holder: XminHolder) -> str:
    # Slot names, gids and application names are anyone's to choose: shown as data.
    name = printable(holder.name)
    what = {"transaction": f"pid {name}", "slot": f"replication slot {name!r}",
            "prepared": f"prepared transaction {name!r}"}.get(holder.kind, name)
    detail = f" ({printable(holder.detail)})" if holder.detail else ""
    held = f" for {fmt.duration(holder.seconds)}" if holder.seconds is not None else ""
    return f"{what}{detail} holds the xmin horizon{held}, {holder.xmin_age:,} transactions back"


def _table_line(health: Health, thresholds: Thresholds) -> Text:
    line = Text("pgtask.tasks  ")
    if health.dead_tuples is None:
        return line.append("no statistics yet", style="dim")
    bloated = health.dead_tuples >= thresholds.dead_tuples
    line.append(f"{fmt.count(health.live_tuples)} live · ")
    line.append(f"{fmt.count(health.dead_tuples)} dead tuples",
                style="bold yellow" if bloated else "")
    vacuumed = max(filter(None, (health.last_autovacuum, health.last_vacuum)), default=None)
    line.append(" · last vacuum ")
    line.append(f"{vacuumed:%Y-%m-%d %H:%M:%S}" if vacuumed else "never")
    return line


def _xmin_line(health: Health, thresholds: Thresholds) -> Text:
    line = Text("xmin horizon  ")
    problems = [h for h in health.xmin_holders if holder_is_a_problem(h, thresholds)]
    if problems:
        worst = max(problems, key=lambda h: h.xmin_age)
        line.append("⚠ " + describe_holder(worst), style="bold red")
        return line.append(": vacuum cannot clean pgtask.tasks", style="red")
    if health.xmin_holders:
        oldest = max(health.xmin_holders, key=lambda h: h.xmin_age)
        return line.append(f"ok (oldest: {describe_holder(oldest)})", style="dim")
    return line.append("ok", style="green")


def _notify_line(health: Health) -> Text:
    line = Text("NOTIFY        ")
    if health.notify_trigger is False:
        return line.append("off: trigger tasks_notify is disabled; workers wake only by polling",
                           style="yellow")
    usage = health.notify_queue_usage
    line.append("on", style="green")
    return line.append(f" (notification queue {usage:.0%} full)",
                       style="bold red" if usage >= 0.5 else "dim")


def health_lines(health: Health | MySQLHealth, thresholds: Thresholds) -> list[Text]:
    if isinstance(health, MySQLHealth):
        return mysql_health_lines(health, thresholds)
    return [Text("DATABASE", style="bold underline"), _table_line(health, thresholds),
            _xmin_line(health, thresholds), _notify_line(health)]
