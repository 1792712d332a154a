from __future__ import annotations

from collections.abc import Iterator

import pytest

from .target import TargetServer


@pytest.fixture
def target() -> Iterator[TargetServer]:
    """A real HTTP server on 127.0.0.1 for this test."""
    server = TargetServer().start()
    yield server
    server.stop()
