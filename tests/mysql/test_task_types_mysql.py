"""Task types in the database on MySQL/MariaDB (issue 16, item 1): a worker records its
definitions when it starts; an enqueue by name from another program takes them for what
it leaves out; explicit values win; `pgtask tasks` lists them."""

from __future__ import annotations

import os
import subprocess
import sys

import pymysql
import pytest

import pgtask
from pgtask.store.mysql.store import connect
from tests.support.inprocess import running_worker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mysql


def rows(dsn: str, sql: str, *params) -> list[dict]:
    conn = connect(dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def test_a_worker_records_its_types_and_enqueues_by_name_take_them(mysql_dsn):
    registry = pgtask.Registry()

    @registry.task("reports.build", queue="reports", max_attempts=3, priority=5,
                   title="Build a report")
    def build(task):
        return None

    with running_worker(mysql_dsn, registry, queues=["elsewhere"]) as worker:
        wait_until(lambda: rows(mysql_dsn, "SELECT 1 FROM pgtask_task_types"),
                   message="the definition")
        env = {**os.environ, "PGTASK_DSN": mysql_dsn}
        listed = subprocess.run([sys.executable, "-m", "pgtask", "tasks"], env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if "reports.build" in x)
        assert "reports" in line and worker.id in line
    conn = connect(mysql_dsn)
    try:
        by_name = pgtask.enqueue(conn, "reports.build")
        explicit = pgtask.enqueue(conn, "reports.build", queue="default", priority=0,
                                  max_attempts=9)
        unknown = pgtask.enqueue(conn, "never.seen")
        conn.commit()
    finally:
        conn.close()
    found = {r["id"]: (r["queue"], r["priority"], r["max_attempts"]) for r in rows(
        mysql_dsn, "SELECT id, queue, priority, max_attempts FROM pgtask_tasks")}
    assert found == {by_name: ("reports", 5, 3), explicit: ("default", 0, 9),
                     unknown: ("default", 0, None)}


def test_the_enqueue_procedure_takes_the_definition_for_what_it_leaves_out(mysql_dsn):
    conn = connect(mysql_dsn, autocommit=True, cursorclass=pymysql.cursors.DictCursor)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO pgtask_task_types (name, queue, priority, max_attempts,"
                        " description) VALUES ('reports.build', 'reports', 5, 3, '')")
            cur.execute("CALL pgtask_enqueue_task('reports.build', NULL, NULL, NULL, NULL,"
                        " NULL, NULL, NULL, @by_name)")
            cur.execute("CALL pgtask_enqueue_task('reports.build', NULL, 'default', NULL, 0,"
                        " NULL, 9, NULL, @explicit)")
            cur.execute("CALL pgtask_enqueue_task('never.seen', NULL, NULL, NULL, NULL,"
                        " NULL, NULL, NULL, @unknown)")
            cur.execute("SELECT @by_name AS a, @explicit AS b, @unknown AS c")
            ids = cur.fetchone()
    finally:
        conn.close()
    found = {r["id"]: (r["queue"], r["priority"], r["max_attempts"]) for r in rows(
        mysql_dsn, "SELECT id, queue, priority, max_attempts FROM pgtask_tasks")}
    assert found == {ids["a"]: ("reports", 5, 3), ids["b"]: ("default", 0, 9),
                     ids["c"]: ("default", 0, None)}
