"""Read keys without blocking the refresh: cbreak mode on a TTY, nothing otherwise."""

from __future__ import annotations

import os
import select
import sys
import time
from typing import IO, Any

SEQUENCES = {"\x1b[A": "up", "\x1b[B": "down", "\x1bOA": "up", "\x1bOB": "down"}
SINGLE = {"\x1b": "esc", "\r": "enter", "\n": "enter", "\x7f": "backspace", "\x08": "backspace",
          "\x03": "ctrl-c"}


def parse_keys(data: str) -> list[str]:
    """Raw terminal input -> key names ('up', 'enter', 'q', ...); unknown escapes dropped."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        for seq, name in SEQUENCES.items():
            if data.startswith(seq, i):
                keys.append(name)
                i += len(seq)
                break
        else:
            if data[i] == "\x1b" and data.startswith("\x1b[", i):
                # Another CSI sequence (function keys...): skip to its final byte.
                j = i + 2
                while j < len(data) and not ("@" <= data[j] <= "~"):
                    j += 1
                i = j + 1
                continue
            keys.append(SINGLE.get(data[i], data[i]))
            i += 1
    return keys


class KeyReader:
    """`with KeyReader() as keys: keys.read(timeout)` -> the keys pressed within `timeout`.

    When stdin is not a terminal (a pipe, a test, cron) read() just waits and returns no
    keys, so the same loop serves both.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdin
        self._fd: int | None = None
        self._saved: list[Any] | None = None  # the terminal's modes, to restore

    @property
    def interactive(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> KeyReader:
        try:
            if self._stream.isatty():
                import termios
                import tty

                fd = self._stream.fileno()
                self._saved = termios.tcgetattr(fd)
                tty.setcbreak(fd)
                self._fd = fd
        except (ImportError, OSError, ValueError):
            self._fd = None  # no termios (Windows) or no real descriptor: no keys
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None and self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._fd = None

    def read(self, timeout: float) -> list[str]:
        if self._fd is None:
            time.sleep(max(0.0, timeout))
            return []
        ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        if not ready:
            return []
        return parse_keys(os.read(self._fd, 64).decode("utf-8", "replace"))
