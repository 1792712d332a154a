"""Every log call in src/pgtask names a stable event, and docs/logging.md lists exactly the
events the code has (issue 18 item 3). Found with ast: a call `<...log...>.<level>(...)`
must pass `extra={"event": "<name>", ...}` with a literal name.

Before: no call site named an event (the set was empty; docs/logging.md did not exist).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pgtask.logs import FALLBACK_EVENT, LOGGER_EVENTS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "pgtask"
DOC = ROOT / "docs" / "logging.md"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
EVENT = re.compile(r"^[a-z]+(\.[a-z_]+)+$|^log$")


def _is_log_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in LEVELS and "log" in ast.unparse(node.func.value).lower())


def _event(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
            for key, value in zip(keyword.value.keys, keyword.value.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "event"
                        and isinstance(value, ast.Constant)):
                    return str(value.value)
    return None


def code_events() -> tuple[set[str], list[str]]:
    """The events of every log call, and the call sites that name none."""
    events: set[str] = set()
    unnamed: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if _is_log_call(node):
                event = _event(node)  # type: ignore[arg-type]
                if event is None:
                    unnamed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                else:
                    events.add(event)
    return events, unnamed


def doc_events() -> dict[str, list[str]]:
    """Section -> the backticked first cells of its table rows."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            section = line.strip("# ")
        elif match := re.match(r"^\| `([^`]+)` \|", line):
            found.setdefault(section, []).append(match.group(1))
    return found


def test_every_log_call_names_an_event():
    events, unnamed = code_events()
    assert not unnamed, f"log calls without extra={{'event': ...}}: {unnamed}"
    assert len(events) >= 50
    assert all(EVENT.match(e) for e in events), sorted(e for e in events if not EVENT.match(e))


def test_the_docs_list_exactly_the_code_events():
    events, _ = code_events()
    documented = doc_events()
    listed = documented["Events"]
    assert len(listed) == len(set(listed)), "an event listed twice"
    assert set(listed) == events, (f"missing from docs: {sorted(events - set(listed))}; "
                                   f"not in code: {sorted(set(listed) - events)}")
    others = documented["Records of other loggers"]
    assert set(others) == {*LOGGER_EVENTS.values(), FALLBACK_EVENT}
