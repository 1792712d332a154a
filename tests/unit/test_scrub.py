"""worker/scrub.py and store/credentials.py: the worker's secrets out of stored and logged text."""

from __future__ import annotations

import logging

import pytest

from pgtask.store.credentials import dsn_secrets
from pgtask.worker.scrub import REDACTED, Scrub, ScrubFilter, scrub


@pytest.mark.parametrize(("text", "expected"), [
    ("login failed for s3cr3t-pw", f"login failed for {REDACTED}"),
    ("postgresql://u:s3cr3t-pw@h/db", f"postgresql://u:{REDACTED}@h/db"),
    ("twice s3cr3t-pw and s3cr3t-pw", f"twice {REDACTED} and {REDACTED}"),
    ("nothing here", "nothing here"),
    ("", ""),
])
def test_replaces_each_secret(text, expected):
    assert scrub(text, ["s3cr3t-pw"]) == expected


def test_url_encoded_json_escaped_and_dsn_quoted_forms():
    secret = "p@ss w/rd'\"x"
    texts = ["postgresql://u:p%40ss%20w%2Frd%27%22x@h", "?password=p%40ss+w%2Frd%27%22x",
             '{"dsn": "password=p@ss w/rd\'\\"x"}', "password='p@ss w/rd\\'\"x'"]
    for text in texts:
        assert "ss w" not in scrub(text, [secret]).replace(REDACTED, ""), text


def test_short_secrets_are_ignored_and_longest_wins():
    assert scrub("a bc def", ["a", "bc", "def"]) == "a bc def"
    assert scrub("token abcdefgh", ["abcd", "abcdefgh"]) == f"token {REDACTED}"
    assert not Scrub(["abc", ""]) and Scrub(["abcd"])


def test_filter_scrubs_messages_arguments_and_tracebacks(caplog):
    log = logging.getLogger("pgtask.worker")
    flt = ScrubFilter(Scrub(["hunter22"]))
    flt.install()
    try:
        with caplog.at_level(logging.INFO, logger="pgtask.worker"):
            log.warning("failed: %s", "password=hunter22")
            try:
                raise RuntimeError("hunter22 in an exception")
            except RuntimeError:
                log.exception("boom")
    finally:
        flt.remove()
    assert "hunter22" not in caplog.text
    assert REDACTED in caplog.text


@pytest.mark.parametrize(("dsn", "env", "expected"), [
    ("postgresql://u:p%40ss%2Fw@h/db", {}, ["p@ss/w"]),
    ("host=h password='a b\\'c' dbname=x", {}, ["a b'c"]),
    ("postgresql://u@h/db?password=qq11", {}, ["qq11"]),
    ("mysql://u:my%20pw@h/db", {}, ["my pw"]),
    ("host=h dbname=x", {"PGPASSWORD": "from-env"}, ["from-env"]),
    ("not a dsn ===", {}, []),
])
def test_dsn_secrets(dsn, env, expected):
    assert dsn_secrets(dsn, env) == expected
