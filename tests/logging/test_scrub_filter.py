"""The worker's scrub filter on the root's handlers: it never raises into a logging call,
it cleans the stack too, and several workers in one process (tests, an ASGI app) each add
and take away their own. Before: a handler's `log.info("%d", "x")` raised TypeError into
the handler once a worker ran (the filter formats the message), and stack_info was shown
as is. The several-workers test passed before too: it guards the add/remove pairing."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pgtask.logs import JsonFormatter
from pgtask.worker.scrub import Scrub, ScrubFilter


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")


@pytest.fixture
def handler():
    """A JSON handler on the root, as `--log-format json` sets up, taken away after."""
    stream = io.StringIO()
    added = logging.StreamHandler(stream)
    added.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(added)
    added.stream_text = stream.getvalue  # type: ignore[attr-defined]
    yield added
    root.removeHandler(added)


def lines(handler) -> list[dict]:
    return [json.loads(line) for line in handler.stream_text().splitlines()]


def test_a_bad_log_call_anywhere_neither_raises_nor_leaks(handler):
    flt = ScrubFilter(Scrub(["hunter22"]))
    flt.install()
    try:
        app = logging.getLogger("app.handler")
        app.warning("%d rows for hunter22", "many")  # raised TypeError here before
        app.warning("value %s", Unprintable())
        app.warning("dsn=%s", "postgresql://u:hunter22@db/x", stack_info=True)
        logging.getLogger("pgtask.worker").warning("%s %s", "only one")
    finally:
        flt.remove()
    first, second, third, fourth = lines(handler)
    assert first["message"] == "%d rows for [redacted] (arguments not formatted: ('many',))"
    assert second["message"].startswith("value %s (arguments not formatted:")
    assert third["message"] == "dsn=postgresql://u:[redacted]@db/x"
    assert "stack" in third and "hunter22" not in json.dumps(third)
    assert fourth["message"].startswith("%s %s (arguments not formatted")
    assert "hunter22" not in handler.stream_text()


def test_several_workers_add_and_remove_their_own_filters(handler):
    first, second = ScrubFilter(Scrub(["secret-one"])), ScrubFilter(Scrub(["secret-two"]))
    first.install()
    second.install()
    first.install()  # again (a worker run twice): still once on the handler
    assert sorted(map(id, handler.filters)) == sorted(map(id, [first, second]))
    first.remove()  # the first to start stops first: the second still scrubs
    logging.getLogger("app").warning("secret-one secret-two")
    assert handler.filters == [second]
    second.remove()
    assert handler.filters == []
    second.remove()  # twice: harmless
    for name in ("pgtask.worker", "pgtask.task"):
        assert logging.getLogger(name).filters == []
    assert lines(handler)[0]["message"] == "secret-one [redacted]"
