"""The LISTEN connection: it only wakes the runner, and never gives up.

It reconnects with exponential backoff and jitter, pings the server whenever it has been
quiet for `health_interval` seconds (a silent path shows up as a ping that does not answer
within `ping_timeout`; the session is then dropped at once, so silence is noticed within
health_interval + ping_timeout + the store's grace, about 4.5 s), and after every
(re)connect tells the runner to claim at once, because notifications sent while it was
away are lost. The session itself is the store's (store.base.Listener), which says
DatabaseUnavailable whatever goes wrong with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from pgtask.errors import DatabaseUnavailable
from pgtask.retry import reconnect_delay
from pgtask.store.base import Listener as Session
from pgtask.store.base import Store
from pgtask.worker.service import wait_or_stop

log = logging.getLogger("pgtask.worker.listener")
TASKS_CHANNEL = "pgtask"
CANCEL_CHANNEL = "pgtask_cancel"


class Listener:
    """A worker service: keep one LISTEN session open on `channels` (Capability.NOTIFY)."""

    def __init__(self, store: Store, channels: Sequence[str],
                 on_notify: Callable[[str, str], None], on_connect: Callable[[], None],
                 health_interval: float = 2.0, ping_timeout: float = 1.5) -> None:
        self._store = store
        self._channels = list(channels)
        self._on_notify = on_notify
        self._on_connect = on_connect
        self._health_interval = health_interval
        self._ping_timeout = ping_timeout
        self.connected = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            session = self._store.listener(self._channels)
            try:
                await asyncio.wait_for(session.connect(self._ping_timeout),
                                       self._ping_timeout + 1)
                if failures:
                    log.info("LISTEN connection restored after %d failed attempt(s)", failures,
                             extra={"event": "listen.restored"})
                failures = 0
                self.connected.set()
                self._on_connect()
                await self._listen(session, stopping)
            except (DatabaseUnavailable, TimeoutError) as exc:
                self.connected.clear()
                delay = reconnect_delay(failures)
                failures += 1
                log.warning("LISTEN connection lost (%s); reconnecting in %.2fs",
                            type(exc.__cause__ or exc).__name__, delay,
                            extra={"event": "listen.lost"})
                await wait_or_stop(stopping, delay)
            except Exception:  # anything else: a new session, never a dead listener
                self.connected.clear()
                delay = reconnect_delay(failures)
                failures += 1
                log.exception("LISTEN session failed; starting a new one in %.2fs", delay,
                              extra={"event": "listen.failed"})
                await wait_or_stop(stopping, delay)
            finally:
                self.connected.clear()
                await session.close()

    async def _listen(self, session: Session, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            notes = await session.receive(self._health_interval)
            if notes:
                for channel, payload in notes:
                    self._deliver(channel, payload)
            else:
                await session.ping(self._ping_timeout)

    def _deliver(self, channel: str, payload: str) -> None:
        """Hand one notification on; whatever it does, the listening loop goes on."""
        try:
            self._on_notify(channel, payload)
        except Exception:  # a bug in a handler of hints must not stop the wake-ups
            log.exception("a %s notification could not be handled; listening on", channel,
                          extra={"event": "notify.failed"})
