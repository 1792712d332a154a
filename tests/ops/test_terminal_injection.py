"""Data is printed as data: error text, log lines and worker rows carrying escape sequences
(retitle the window, clear the screen, an OSC 8 link), C1 and bidi controls, or rich markup
reach the terminal as visible characters, never as commands or styles."""

from __future__ import annotations

import json
import os

import pgtask

MARKUP = "[red]x[/red] [link=http://evil]y[/link]"
HOSTILE = (MARKUP + " \x1b]0;pwned\x07 \x1b[2J \x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\"
           " \x9b2J \u202eexe.txt\nsecond line")
CONTROLS = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                             *range(0x2066, 0x206A))} - {"\n"}


def controls_in(text: str) -> list[str]:
    return sorted({f"{ord(c):#x}" for c in text if c in CONTROLS})


def assert_inert(face: str, text: str) -> None:
    found = controls_in(text)
    assert not found, f"{face} prints control characters {found}"


def _failed_task(db, permanent: bool) -> int:
    task_id = pgtask.enqueue(db, "t.hostile", {"note": HOSTILE})
    db.execute("update pgtask.tasks set priority = 1000 where id = %s", (task_id,))
    [row] = db.execute("select * from pgtask.claim_task(null, 'w1', 1)").fetchall()
    assert row["id"] == task_id
    db.execute("select pgtask.fail_task(%s, %s, %s, permanent => %s)",
               (task_id, row["lease_token"], HOSTILE, permanent))
    return task_id


def test_show_ls_and_top_print_hostile_text_as_data(run_cli, dsn, db):
    dead, retrying = _failed_task(db, True), _failed_task(db, False)
    db.execute("select pgtask.register_worker('w-1', %s, 42, null, null, 8)", (HOSTILE,))
    # ls shows a message's last line; --full all of it, the markup among it.
    faces = {"ls --full": ("ls", "--full"), "ls --state dead --full": ("ls", "--state", "dead",
                                                                       "--full"),
             "show dead": ("show", str(dead)), "show retrying": ("show", str(retrying)),
             "top --once": ("top", "--once")}
    outputs, problems = {}, {}
    for face, args in faces.items():
        result = run_cli(*args, "--dsn", dsn)
        assert result.code == 0, (face, result.err)
        outputs[face] = result.out
        found = controls_in(result.out + result.err)
        if "[red]x[/red]" not in result.out:
            found.append("markup interpreted")
        if found:
            problems[face] = found
    assert not problems, f"faces acting on data: {problems}"
    one_line = run_cli("ls", "--state", "dead", "--dsn", dsn).out
    assert_inert("ls", one_line)
    assert "second line" in one_line and "[red]" not in one_line  # the last line only
    assert "[link=http://evil]y[/link]" in outputs["show dead"]
    assert "␛]0;pwned␇" in outputs["show dead"]  # shown, visibly
    assert "\\u202eexe.txt" in outputs["show dead"] and "\\x9b2J" in outputs["show dead"]
    assert "second line" in outputs["show dead"]  # multi-line error text keeps its lines
    assert "[red]x[/red]" in outputs["top --once"]  # the worker's host, as data


def test_json_outputs_stay_valid_json_and_inert(run_cli, dsn, db):
    """(A guard: JSON escapes controls already; the data survives the trip whole.)"""
    dead = _failed_task(db, True)
    shown = run_cli("show", str(dead), "--json", "--dsn", dsn)
    listed = run_cli("ls", "--json", "--dsn", dsn)
    assert shown.code == listed.code == 0, shown.err + listed.err
    assert_inert("show --json", shown.out)
    assert_inert("ls --json", listed.out)
    assert json.loads(shown.out)["task"]["errors"][-1]["error"] == HOSTILE
    assert json.loads(listed.out.splitlines()[0])["message"].startswith(MARKUP)


def test_json_block_shows_json_and_raw_text_inert():
    from rich.console import Console

    from pgtask.cli.common import json_block
    from pgtask.undecodable import RawJson

    def shown(value) -> str:
        with open(os.devnull, "w") as null:
            console = Console(width=200, record=True, color_system=None, file=null)
            console.print(json_block(value))
        return console.export_text()

    text = shown({"k": HOSTILE, "é": [1, None]})
    assert_inert("payload", text)
    assert "[red]x[/red]" in text and '"é": [' in text and "\\u001b]0;pwned" in text
    raw = shown(RawJson("[[[[\x1b[2J", "nested deeper than 100 levels"))
    assert_inert("raw payload", raw)
    assert "[[[[␛[2J" in raw and "nested deeper than 100 levels" in raw
