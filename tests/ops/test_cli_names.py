"""Every CLI argument or filter that names a queue, task type or schedule is checked as SQL
checks names: a bad one ('' included) is a usage error, exit 2, saying what a name may be,
instead of matching nothing, meaning 'default', or reaching the database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"  # the check comes before connecting
BAD = ("", "Upper", "a b", "-lead", "x" * 129, "tab\there", "ok\n", "é")

# (command words before the name, the name's option or None for an argument, words after)
COMMANDS = [
    (("ls",), "--queue", ()),
    (("ls",), "--type", ()),
    (("retry",), "--queue", ("--yes",)),
    (("retry",), "--type", ("--yes",)),
    (("cancel",), "--queue", ("--yes",)),
    (("cancel",), "--type", ("--yes",)),
    (("queue", "pause"), None, ()),
    (("queue", "resume"), None, ()),
    (("queue", "set"), None, ("--concurrency-limit", "3")),
    (("schedule", "rm"), None, ()),
    (("schedule", "enable"), None, ()),
    (("schedule", "disable"), None, ()),
    (("schedule", "run-now"), None, ()),
    (("schedule", "add"), None, ("t.x", "--every", "1m")),
    (("schedule", "add", "nightly", "t.x"), "--queue", ("--every", "1m")),
    (("enqueue",), "--queue", ("t.x",)),
    (("enqueue",), None, ()),
]


def _args(words, option, name, after):
    return [*words, *((option, name) if option else (name,)), *after]


@pytest.mark.parametrize(("words", "option", "after"), COMMANDS,
                         ids=[" ".join((*w, o or "NAME")) for w, o, _ in COMMANDS])
def test_bad_names_are_usage_errors(run_cli, words, option, after):
    for name in BAD if option else [n for n in BAD if not n.startswith("-")]:  # not an option
        result = run_cli(*_args(words, option, name, after), "--dsn", UNREACHABLE)
        assert result.code == 2, (name, result.out, result.err)
        assert "invalid " in result.err and "use 1-128 characters" in result.err, result.err


def test_good_names_still_pass(run_cli, dsn):
    assert run_cli("ls", "--queue", "emails.out", "--type", "a:b-c_d", "--dsn", dsn).code == 0
    assert run_cli("enqueue", "t.x", "--queue", "q1", "--dsn", dsn).code == 0
    assert run_cli("queue", "pause", "q1", "--dsn", dsn).code == 0


def test_worker_refuses_a_bad_queue_before_connecting():
    for name in ("", "Bad"):
        done = subprocess.run([sys.executable, "-m", "pgtask", "worker", "--queue", name,
                               "--dsn", UNREACHABLE], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PGTASK_DSN": ""})
        assert done.returncode == 2 and "invalid queue" in done.stderr, done.stderr


@pytest.mark.parametrize("verb", ["retry", "cancel"])
def test_retry_or_cancel_of_a_missing_task_fails(run_cli, dsn, verb):
    result = run_cli(verb, "999", "--dsn", dsn)
    assert result.code == 1, result.out + result.err
    assert "0 of 1" in result.out and "no such task" in result.err and "999" in result.err


def test_an_empty_queue_is_refused_not_read_as_default(run_cli, dsn, db):
    result = run_cli("enqueue", "t.x", "--queue", "", "--dsn", dsn)
    assert result.code == 2 and "invalid queue ''" in result.err, result.out + result.err
    assert db.execute("select count(*) as n from pgtask.tasks").fetchone()["n"] == 0
    listed = run_cli("ls", "--queue", "", "--dsn", dsn)
    assert listed.code == 2 and "invalid queue ''" in listed.err, listed.out + listed.err
