"""The pure parts of issue 16's operators' tools: a message's last line, why an action left
a task unchanged, the top selection by name, and the PATCH body and MySQL merge checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pgtask.cli.tasklines import MAX_REASONS, last_line, unchanged_lines
from pgtask.console.view import View, reselect
from pgtask.errors import Refused
from pgtask.ops.snapshot import QueueStats
from pgtask.store.mysql.task_edits import merged
from pgtask.web.api_task_edits import changes_of
from pgtask.web.responses import ApiError


@pytest.mark.parametrize(("text", "line"), [
    ("ValueError: boom\nTraceback (most recent call last):\n  File 'x'\nValueError: boom\n\n",
     "ValueError: boom"),
    ("one line", "one line"), ("", ""), (None, ""), ("  \n \n", "")])
def test_last_line_is_the_last_non_blank_line(text, line):
    assert last_line(text) == line


def test_unchanged_lines_say_why_for_each_id_and_stop_after_a_few():
    assert unchanged_lines("retried", [3, 999], {3: "queued"}) == [
        "task 3: is queued; only dead or cancelled tasks can be retried",
        "task 999: no such task (it may have been pruned)"]
    many = unchanged_lines("cancelled", list(range(MAX_REASONS + 5)), {})
    assert len(many) == MAX_REASONS + 1 and many[-1] == "... and 5 more"


def test_reselect_follows_the_queue_by_name_and_falls_back_to_the_row():
    queues = [QueueStats("b"), QueueStats("a"), QueueStats("c")]
    assert reselect(View(selected=0, selected_name="c"), queues).selected == 2
    gone = reselect(View(selected=1, selected_name="zz"), queues)
    assert (gone.selected, gone.selected_name) == (1, "a")
    assert reselect(View(selected=7), queues).selected_name == "c"
    assert reselect(View(selected_name="a"), []) == View(selected_name="a")


def test_patch_body_becomes_changes_and_bad_bodies_are_400():
    assert changes_of({"priority": 3, "max_attempts": None, "run_at": None}) == {
        "priority": 3, "max_attempts": None, "run_at": None}
    moment = changes_of({"run_at": "2030-01-01T00:00:00Z"})["run_at"]
    assert moment == datetime(2030, 1, 1, tzinfo=UTC)
    for body in ({}, {"type": "x"}, {"priority": None}, {"priority": "1"}, {"payload": 1},
                 {"queue": 5}, {"queue": "Bad"}, {"run_at": "2030-01-01T00:00:00"},
                 {"delay": None}, {"run_at": None, "delay": 5}):
        with pytest.raises(ApiError) as caught:
            changes_of(body)
        assert caught.value.status == 400, body


ROW = {"id": 5, "task_type": "t.x", "payload": {"a": 1}, "queue": "default", "priority": 0,
       "run_at": datetime(2030, 1, 1, tzinfo=UTC), "max_attempts": None, "attempt": 2,
       "now": datetime(2029, 1, 1, tzinfo=UTC)}


def test_mysql_merge_applies_changes_and_checks_them_as_an_enqueue():
    request = merged(ROW, {"priority": 4, "run_at": None, "queue": "other"})
    assert (request.priority, request.queue, request.run_at, request.payload) == (
        4, "other", ROW["now"], {"a": 1})
    for changes, message in (({"priority": 5000}, "priority"), ({"payload": []}, "payload"),
                             ({"task_type": "y"}, "cannot be changed"), ({}, "say what"),
                             ({"max_attempts": 1}, "has used 2 attempts")):
        with pytest.raises(Refused) as caught:
            merged(ROW, changes)
        assert message in str(caught.value), changes
