"""pgtask.redact: URLs shown without their secrets, text shown without terminal controls."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgtask.redact import UNPARSEABLE, printable, printable_json, redact_row, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://example.test/hook", "https://example.test/hook"),
    ("https://user:s3cret@example.test/hook?token=t0k&x=&flag#frag",
     "https://***@example.test/hook?token=***&x=&***"),
    ("https://apikey@example.test/", "https://***@example.test/"),
    # an '@' inside the password: the last '@' ends the userinfo
    ("http://u:p@ss@example.test/x", "http://***@example.test/x"),
    # a '/' inside the password cuts the authority short: hide up to the last '@', not part of it
    ("http://user:pa/ss@example.test/x", "http://***@example.test/x"),
    ("https://npm.example/@scope/pkg", "https://***@scope/pkg"),
    ("http://[::1]:8080/a?k=v", "http://[::1]:8080/a?k=***"),
    ("http://u:p@[fe80::1%25eth0]:80/", "http://***@[fe80::1%25eth0]:80/"),
    ("http://us%40er:p%40ss@h.test/%41?a%3Db=c%26d", "http://***@h.test/%41?a%3Db=***"),
    ("example.test/hook?token=abc", "example.test/hook?token=***"),  # no scheme
    ("user:pass@example.test/x", "***@example.test/x"),
    ("//u:p@example.test/x", "//***@example.test/x"),
    ("http://example.test?secret", "http://example.test?***"),
    ("http://[::1/", UNPARSEABLE),
    ("http://h:abc/", UNPARSEABLE),
    ("javascript:alert(1)", UNPARSEABLE),
    ("ht tp://x/", UNPARSEABLE),
    ("http://ho\nst/?t=secret", UNPARSEABLE),
    ("http://h/\x1b]0;pwned\x07", UNPARSEABLE),
    (None, UNPARSEABLE),
    (42, UNPARSEABLE),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


SECRET = "Zq9secretZq9"


@given(st.text(), st.text(), st.text())
def test_redact_url_never_raises_and_never_shows_a_planted_secret(before, middle, after):
    for url in (f"https://u:{SECRET}@{before}/{middle}?{after}",
                f"{before}://{SECRET}@{middle}?k={SECRET}",
                f"{before}?t={SECRET}#{after}", f"http://x/{before}#{SECRET}"):
        shown = redact_url(url)
        assert isinstance(shown, str) and SECRET not in shown


@given(st.text())
def test_redact_url_never_raises(url):
    assert isinstance(redact_url(url), str)


def test_redact_row_reaches_follow_ups():
    row = {"id": 1, "target_url": "https://u:pw@h.test/?t=secret", "on_success": [
        {"task_type": "a", "target_url": "https://h.test/?t=secret",
         "on_success": [{"task_type": "b", "target_url": "https://x:pw@h.test/"}]}],
        "on_failure": None, "payload": {"target_url": "kept: payloads are the caller's data"}}
    shown = redact_row(row)
    assert "secret" not in json.dumps(shown) and "pw" not in json.dumps(shown)
    assert shown["payload"] == row["payload"] and row["target_url"].endswith("secret")
    assert redact_row({"name": "q", "target_url": None}) == {"name": "q", "target_url": None}


HOSTILE = ("\x1b]0;pwned\x07", "\x1b[2J", "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
           "\x9b31m", "\u202egnp.exe", "\u2066x\u2069", "a\x00b\x7fc", "\r\x08")


@pytest.mark.parametrize("text", HOSTILE)
def test_printable_leaves_no_control_character(text):
    shown = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
                   or 0x2066 <= ord(c) <= 0x2069 for c in shown)


def test_printable_shows_escapes_and_keeps_the_rest():
    assert printable("\x1b[2J") == "␛[2J"
    assert printable("\x9b\u202e") == "\\x9b\\u202e"
    assert printable("[red]x[/red] é 日本") == "[red]x[/red] é 日本"
    assert printable("a\nb\tc") == "a␊b␉c"
    assert printable("a\nb\tc", multiline=True) == "a\nb\tc"
    assert printable("a\r\nb", multiline=True) == "a␍\nb"
    assert printable(None) == "None" and printable(7) == "7"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_printable_json_stays_the_same_json(value):
    text = printable_json(json.dumps(value, indent=2, ensure_ascii=False))
    assert json.loads(text) == value
    assert all(c == "\n" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F) for c in text)
