"""Store.database_id(): what scopes HTTP targets' webhook-ids. The same for one database
whoever asks, different for another database (a template clone included); the MySQL twin
is in tests/mysql/test_database_id_mysql.py."""

from __future__ import annotations

import asyncio

from pgtask.store import make_store
from pgtask.worker.http.request import check_database_id


def ids(*dsns: str) -> list[str]:
    async def one(dsn: str) -> str:
        store = make_store(dsn, max_size=1)
        await store.open(timeout=10)
        try:
            return await store.database_id()
        finally:
            await store.close()

    return [asyncio.run(one(dsn)) for dsn in dsns]


def test_postgres_ids_are_stable_per_database_and_differ_between_clones(new_database):
    first, second = new_database(), new_database()  # both cloned from one template
    a, a_again, b = ids(first, first, second)
    assert a == a_again != b
    assert check_database_id(a) == a

