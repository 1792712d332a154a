"""Item 7 and 8 on MySQL/MariaDB: Postgres-only commands and an unmigrated database are
refused in one line, exit status 2 (the start-up check, cli/startup.py)."""

from __future__ import annotations

import pytest

from tests.integration.test_startup_check import assert_one_line_refusal, pgtask_cli


def test_an_unmigrated_mysql_database_is_refused_in_one_line(new_mysql_database):
    dsn = new_mysql_database(migrated=False)
    result = pgtask_cli("enqueue", "emails.send", "--dsn", dsn)
    assert_one_line_refusal(result, "has no pgtask schema", "run `pgtask migrate` first")



@pytest.mark.parametrize("command", [["serve"], ["schedule", "ls"],
                                     ["schedule", "add", "nightly", "x.y", "--every", "1h"]])
def test_postgres_only_commands_on_mysql_say_so_in_one_line(mysql_dsn, command):
    result = pgtask_cli(*command, "--dsn", mysql_dsn)
    name = " ".join(command[:2] if command[0] == "schedule" else command[:1])
    assert_one_line_refusal(result, f"{name} needs PostgreSQL",
                            "127.0.0.1:3306", "is MySQL/MariaDB")
