"""Opening the Postgres store: a server that does not answer is a clear error."""

from __future__ import annotations

import asyncio

import pytest


def test_a_store_that_cannot_connect_says_so_without_the_password():
    from pgtask.errors import ConfigError
    from pgtask.store.postgres.store import PostgresStore

    async def attempt() -> None:
        store = PostgresStore("postgresql://pgtask:s3cret@127.0.0.1:1/nowhere", max_size=1)
        await store.open(timeout=1.0)

    with pytest.raises(ConfigError, match="cannot connect") as info:
        asyncio.run(attempt())
    assert "s3cret" not in str(info.value)
