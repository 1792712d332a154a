"""Dashboard sessions: signing in with a token gives the browser a random session id, not
the token, so the cookie cannot be replayed as a bearer token, ends with POST /logout, and
expires SESSION_TTL after sign-in whatever the activity (an absolute limit).

Server-side, in this process's memory: a restart signs everyone out, and several server
processes behind one name would not share sessions (`pgtask serve` runs one). Ids are kept
only as SHA-256 digests (a memory dump or a repr shows no usable id). Pure apart from
secrets.token_urlsafe: the clock is injected.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 10_000  # only a right credential makes one; the cap bounds memory anyway


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True, slots=True)
class _Session:
    role: str
    expires: float


class Sessions:
    def __init__(self, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.monotonic,
                 limit: int = MAX_SESSIONS) -> None:
        if ttl <= 0:
            raise ValueError("the session lifetime must be positive")
        self.ttl, self.clock, self.limit = ttl, clock, limit
        self._live: dict[bytes, _Session] = {}

    def __repr__(self) -> str:
        return f"Sessions({len(self._live)} live, ttl={self.ttl:g}s)"

    def create(self, role: str) -> str:
        """A new session for `role`; returns its id (the cookie's value)."""
        now = self.clock()
        if len(self._live) >= self.limit:
            self._live = {k: s for k, s in self._live.items() if s.expires > now}
            while len(self._live) >= self.limit:  # all live: the oldest goes
                del self._live[next(iter(self._live))]
        session_id = secrets.token_urlsafe(32)
        self._live[_digest(session_id)] = _Session(role, now + self.ttl)
        return session_id

    def role(self, session_id: str | None) -> str | None:
        """The role of a live session; None for an unknown, ended or expired one."""
        if not session_id:
            return None
        key = _digest(session_id)
        session = self._live.get(key)
        if session is None:
            return None
        if session.expires <= self.clock():
            del self._live[key]
            return None
        return session.role

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._live.pop(_digest(session_id), None)
