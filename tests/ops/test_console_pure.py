"""The console's pure parts: number formats, key parsing, sort/filter/select."""

from datetime import UTC, datetime

import pytest

from pgtask.console import format as fmt
from pgtask.console.keys import KeyReader, parse_keys
from pgtask.console.view import SORT_ORDER, Action, View, handle_key, visible_queues
from pgtask.ops.snapshot import QueueStats, Rates, Snapshot

AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("seconds, text", [
    (None, "–"), (0.0123, "12ms"), (1.5, "1.5s"), (42, "42s"), (125, "2m05s"),
    (3 * 3600 + 600, "3h10m"), (2 * 86400 + 3600, "2d01h"), (-3, "0ms"),
])
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


@pytest.mark.parametrize("value, text", [
    (0, "·"), (0.001, "<0.01"), (0.5, "0.50"), (12.34, "12.3"), (1234.5, "1,234"), (None, "–"),
])
def test_rate(value, text):
    assert fmt.rate(value) == text


def test_count():
    assert [fmt.count(n) for n in (0, 1234, 1_500_000, 25_000_000)] == ["0", "1,234", "1.5M", "25M"]


def test_sparkline_scales_to_the_maximum_and_keeps_the_latest():
    assert fmt.sparkline([0, 4, 8]) == "▁▅█"
    assert fmt.sparkline([0, 0]) == "▁▁"
    assert fmt.sparkline([8, 0, 0, 8], width=2) == "▁█"
    assert fmt.sparkline([], width=5) == ""


def test_parse_keys():
    assert parse_keys("q") == ["q"]
    assert parse_keys("\x1b[A\x1b[Bj") == ["up", "down", "j"]
    assert parse_keys("ab\r\x7f\x1b") == ["a", "b", "enter", "backspace", "esc"]
    assert parse_keys("\x1b[15~x") == ["x"]  # F5 is ignored


def test_key_reader_without_a_terminal_reads_nothing(tmp_path):
    with open(tmp_path / "stdin", "w+") as stream, KeyReader(stream) as keys:
        assert not keys.interactive
        assert keys.read(0.01) == []


def _snapshot() -> Snapshot:
    return Snapshot(at=AT, queues=(
        QueueStats("alpha", queued=5, completed=Rates(1, 1, 1), lag=3.0),
        QueueStats("beta", queued=50, running=2, completed=Rates(9, 9, 9), paused=True),
        QueueStats("emails", queued=1, failed=Rates(4, 1, 1), lag=90.0),
    ))


def test_sorts_and_filter():
    snap = _snapshot()
    names = lambda view: [q.name for q in visible_queues(snap, view)]  # noqa: E731
    assert names(View()) == ["alpha", "beta", "emails"]
    assert names(View(sort="ready")) == ["beta", "alpha", "emails"]
    assert names(View(sort="lag")) == ["emails", "alpha", "beta"]
    assert names(View(sort="done/s")) == ["beta", "alpha", "emails"]
    assert names(View(sort="fail/s")) == ["emails", "alpha", "beta"]
    assert names(View(filter="a")) == ["alpha", "beta", "emails"]
    assert names(View(filter="ph")) == ["alpha"]


def test_keys_cycle_sort_edit_filter_select_and_pause():
    snap = _snapshot()
    view = View()
    for expected in (*SORT_ORDER[1:], SORT_ORDER[0]):
        view, action = handle_key(view, "s", visible_queues(snap, view))
        assert view.sort == expected and action is None
    for key in ("f", "e", "m", "x", "backspace", "enter"):
        view, _ = handle_key(view, key, visible_queues(snap, view))
    assert view.filter == "em" and not view.editing_filter
    assert [q.name for q in visible_queues(snap, view)] == ["emails"]
    view, _ = handle_key(view, "esc", [])
    assert view.filter == ""
    shown = visible_queues(snap, view)
    view, _ = handle_key(view, "up", shown)  # the selection stayed on emails, below beta
    view, action = handle_key(view, "p", shown)
    assert action == Action("resume", "beta")  # beta is paused
    view, _ = handle_key(view, "up", shown)
    view, _ = handle_key(view, "up", shown)
    assert view.selected == 0
    assert handle_key(view, "p", shown)[1] == Action("pause", "alpha")
    assert handle_key(view, "q", shown)[1] == Action("quit")
    assert handle_key(view, "p", [])[1] is None
