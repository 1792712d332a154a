"""The queue-settings table matches what SQL's configure_queue accepts, key for key."""

import re

from pgtask.queue_settings import CLEARABLE, NAMES, QUEUE_SETTINGS
from pgtask.resources import read_sql


def test_the_table_names_exactly_the_keys_configure_queue_reads():
    text = read_sql("postgres/pgtask.sql")
    body = text[text.index("function pgtask.configure_queue"):]
    body = body[:body.index("$$;")]
    keys = re.findall(r"settings \? '(\w+)'", body)
    assert set(keys) == set(NAMES)


def test_options_are_unique_and_only_limits_and_targets_clear():
    assert len({s.option for s in QUEUE_SETTINGS}) == len(QUEUE_SETTINGS)
    assert set(CLEARABLE) == {"concurrency_limit", "rate_limit", "target_url", "max_run_time"}
