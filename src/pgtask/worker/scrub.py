"""The worker keeps its own secrets out of what it stores and logs.

A handler's exception text can carry the worker's DSN password (a driver error that quotes
its connection string), an Authorization header value of an HTTP target or a signing key;
stored as the task's error it is shown by every face, to everyone who may read tasks. The
worker collects its secrets at start (worker_secrets) and scrubs every error text and task
log line before the outcome buffer takes it, and every record its own loggers emit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from pgtask.logs import message_of, unformatted
from pgtask.store.credentials import dsn_secrets

if TYPE_CHECKING:
    from pgtask.worker.http.targets import HttpTargets

REDACTED = "[redacted]"
MIN_SECRET = 4  # shorter "secrets" would shred ordinary text, and protect nothing anyway
# The worker's loggers whose records are scrubbed (a filter acts on its own logger only).
LOGGERS = ("pgtask.worker", "pgtask.worker.http", "pgtask.worker.listener", "pgtask.task",
           "pgtask.scheduler")


def forms(secret: str) -> set[str]:
    """The ways a secret shows in text: as is, URL-encoded (both ways), JSON-escaped, and
    quoted as in a key=value DSN."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
            json.dumps(secret)[1:-1], secret.replace("\\", "\\\\").replace("'", "\\'")}


def _all_forms(secrets: Iterable[str]) -> list[str]:
    """Every form of every secret of MIN_SECRET or more characters, longest first (a secret
    that contains another is replaced whole)."""
    found = {form for secret in secrets if len(secret) >= MIN_SECRET for form in forms(secret)}
    return sorted(found, key=len, reverse=True)


def _replace(text: str, found: Iterable[str], marker: str = REDACTED) -> str:
    for form in found:
        if form in text:
            text = text.replace(form, marker)
    return text


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret in `secrets` replaced by REDACTED."""
    return _replace(text, _all_forms(secrets))


class Scrub:
    """scrub() over a fixed set of secrets, their forms worked out once; `extra` adds
    secrets known only per call (the credentials inside one target URL). `marker` replaces
    them (HTTP targets write '***', as in the URLs they print)."""

    def __init__(self, secrets: Iterable[str], marker: str = REDACTED) -> None:
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET}))
        self._forms = _all_forms(self.secrets)
        self._marker = marker

    def __call__(self, text: str, extra: Iterable[str] = ()) -> str:
        if not text:
            return text
        extra = [e for e in extra if e]
        found = _all_forms((*self.secrets, *extra)) if extra else self._forms
        return _replace(text, found, self._marker)

    def __bool__(self) -> bool:
        return bool(self.secrets)


def worker_secrets(dsn: str, targets: HttpTargets | None = None,
                   env: Mapping[str, str] | None = None) -> Scrub:
    """Everything this worker must never store or log: the DSN's password (and the
    drivers' password variables), the HTTP targets' header values and signing keys."""
    found = dsn_secrets(dsn, os.environ if env is None else env)
    if targets is not None:
        found += targets.dispatcher.config.secret_values()
    return Scrub(found)


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs a record's message, traceback and stack in place.
    It never raises: a filter's exception would reach the logging call (a handler's, a
    library's, the worker's own), where a bad log call must not break anything."""

    def __init__(self, scrubber: Scrub) -> None:
        super().__init__()
        self._scrub = scrubber
        self._handlers: list[logging.Handler] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = message_of(record)
        # unformattable arguments: their text, cleaned, so no later handler fails on them
        clean = self._scrub(unformatted(record) if message is None else message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            try:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            except Exception:  # an exotic exception: its type, rather than no line at all
                record.exc_text = f"{getattr(record.exc_info[0], '__name__', '?')} (no traceback)"
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:  # its source lines may hold a literal DSN
            record.stack_info = self._scrub(record.stack_info)
        return True

    def install(self) -> None:
        self.remove()  # installed again (a worker run twice): not left on yesterday's handlers
        for name in LOGGERS:
            logging.getLogger(name).addFilter(self)
        # And on the root's handlers (at install time), which see every propagated record:
        # a handler's own logger, or a library's, may quote the DSN too.
        self._handlers = list(logging.getLogger().handlers)
        for handler in self._handlers:
            handler.addFilter(self)

    def remove(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeFilter(self)
        for handler in self._handlers:
            handler.removeFilter(self)
        self._handlers = []
