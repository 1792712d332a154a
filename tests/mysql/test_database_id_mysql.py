"""Store.database_id() on MySQL: the same per database, different between databases."""

from __future__ import annotations

import pytest

from pgtask.worker.http.request import check_database_id
from tests.integration.test_database_id import ids

pytestmark = pytest.mark.mysql


def test_mysql_ids_too(new_mysql_database):
    first, second = new_mysql_database(), new_mysql_database()
    a, a_again, b = ids(first, first, second)
    assert a == a_again != b
    assert check_database_id(a) == a
