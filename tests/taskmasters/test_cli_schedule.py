"""pgtask schedule ls|add|rm|enable|disable|run-now."""

from click.testing import CliRunner

from pgtask.cli import cli

from .helpers import scalar


def run(dsn, *args):
    result = CliRunner().invoke(cli, ["schedule", *args, "--dsn", dsn])
    return result.exit_code, result.output


def test_schedule_commands_round_trip(dsn, db):
    code, out = run(dsn, "add", "nightly", "reports.build", "--cron", "30 2 * * *",
                    "--tz", "Europe/Berlin", "--payload", '{"kind": "daily"}', "--catch-up", "1")
    assert code == 0 and "schedule nightly: 30 2 * * * (Europe/Berlin) -> reports.build" in out
    assert run(dsn, "add", "pulse", "pulse.ping", "--every", "90s")[0] == 0
    code, out = run(dsn, "ls")
    assert code == 0 and "nightly" in out and "every 1m30s" in out and "Europe/Berlin" in out
    assert run(dsn, "disable", "nightly") == (0, "schedule nightly disabled\n")
    assert scalar(db, "select enabled from pgtask.schedules where name = 'nightly'") is False
    assert run(dsn, "enable", "nightly")[0] == 0
    code, out = run(dsn, "run-now", "nightly")
    task_id = int(out.split()[-1])
    row = db.execute("select task_type, payload from pgtask.tasks where id = %s",
                     (task_id,)).fetchone()
    assert code == 0 and row == {"task_type": "reports.build", "payload": {"kind": "daily"}}
    assert run(dsn, "rm", "pulse") == (0, "schedule pulse removed\n")
    assert scalar(db, "select array_agg(name) from pgtask.schedules") == ["nightly"]


def test_schedule_commands_explain_mistakes(dsn):
    code, out = run(dsn, "add", "x", "t", "--cron", "61 * * * *")
    assert code == 2 and "invalid cron expression" in out
    code, out = run(dsn, "add", "x", "t", "--cron", "@daily", "--tz", "Mars/Olympus")
    assert code == 2 and "unknown time zone 'Mars/Olympus'" in out
    code, out = run(dsn, "add", "x", "t")
    assert code == 2 and "either cron or every" in out
    code, out = run(dsn, "add", "x", "t", "--every", "1m", "--payload", "[1]")
    assert code == 2 and "payload must be a dict" in out
    code, out = run(dsn, "rm", "ghost")
    assert code == 1 and "no schedule named 'ghost'" in out
    code, out = run(dsn, "run-now", "ghost")
    assert code == 1 and "no schedule named 'ghost'" in out
    assert run(dsn, "ls") == (0, "no schedules (add one with 'pgtask schedule add')\n")
