"""The pure parts of H4's runtime and start-up work: which commands are Postgres-only, the
bound on a task's streamed log lines, and the embedded server's private runtime directory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from pgtask import embedded
from pgtask.cli.startup import postgres_only_refusal
from pgtask.models import ClaimedTask, LogLine
from pgtask.worker.context import MAX_LOG_LINE, MAX_LOG_LINES, TaskContext

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MYSQL = "mysql://app:s3cret-pw@db.internal/app"


def claimed() -> ClaimedTask:
    return ClaimedTask(7, "default", "t.x", {}, 2, 5, uuid.uuid4(), WHEN, WHEN, WHEN)


@pytest.mark.parametrize("command", ["serve", "schedule ls", "schedule add"])
def test_postgres_only_commands_are_refused_on_mysql_naming_both(command):
    refusal = postgres_only_refusal(command, MYSQL)
    assert refusal is not None
    assert refusal.startswith(f"{command} needs PostgreSQL; ")
    assert "is MySQL/MariaDB" in refusal and "s3cret-pw" not in refusal


@pytest.mark.parametrize(("command", "dsn"), [
    ("ls", MYSQL), ("top", MYSQL), ("serve", "postgresql://db/app"),
    ("schedule ls", "host=db dbname=app")])
def test_other_commands_and_postgres_pass(command, dsn):
    assert postgres_only_refusal(command, dsn) is None


def test_a_logger_with_a_sink_hands_over_each_line_at_once_up_to_the_bound():
    sink: list[LogLine] = []
    ctx = TaskContext(claimed(), log_sink=sink.append)
    ctx.logger.info("first %s", "line")
    assert [(x.task_id, x.attempt, x.level, x.message) for x in sink] == [
        (7, 2, "info", "first line")]
    for n in range(MAX_LOG_LINES + 10):
        ctx.logger.warning("x" * (MAX_LOG_LINE + 5) if n == 0 else "n")
    assert len(sink) == MAX_LOG_LINES  # past the bound, lines go to the process log only
    assert len(sink[1].message) == MAX_LOG_LINE
    assert ctx.log_lines == []  # nothing left for the outcome to carry


def test_without_a_sink_lines_wait_for_the_outcome():
    ctx = TaskContext(claimed())
    ctx.logger.error("kept")
    assert [x.message for x in ctx.log_lines] == ["kept"]


def test_the_embedded_runtime_dir_is_private_even_if_an_older_pgtask_made_it_0755(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PGTASK_HOME", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    (tmp_path / "run").mkdir(mode=0o755)
    embedded._runtime_dir()
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700
    assert embedded.os.environ["XDG_RUNTIME_DIR"] == str(tmp_path / "run")


def test_a_runtime_dir_the_user_chose_is_left_alone(tmp_path, monkeypatch):
    chosen = tmp_path / "mine"
    chosen.mkdir(mode=0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(chosen))
    monkeypatch.setenv("PGTASK_HOME", str(tmp_path / "home"))
    embedded._runtime_dir()
    assert chosen.stat().st_mode & 0o777 == 0o755
    assert not (tmp_path / "home").exists()
