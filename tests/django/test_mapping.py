"""The pure translations of pgtask.contrib.django.mapping, and the conninfo a worker
derives from Django's DATABASES (no Django set up: these run in the test process)."""

from __future__ import annotations

import pytest

from pgtask.config import redact_dsn
from pgtask.contrib.django import mapping
from pgtask.store.postgres.django_backend import conninfo


def test_task_type_is_the_module_path_when_pgtask_can_name_it():
    assert mapping.task_type_problem("shop.tasks.send_receipt") is None
    problem = mapping.task_type_problem("shop.tasks.SendReceipt")
    assert "rename the function or its module" in problem
    assert mapping.task_type_problem("a." * 64 + "b") is not None  # over 128 characters


@pytest.mark.parametrize(("django", "pgtask"), [(-100, -1000), (0, 0), (7, 70), (100, 1000)])
def test_priority_scales_by_ten_both_ways(django, pgtask):
    assert mapping.pgtask_priority(django) == pgtask
    assert mapping.django_priority(pgtask) == django


def test_foreign_priorities_round_toward_zero_and_clamp():
    assert mapping.django_priority(15) == 1
    assert mapping.django_priority(-15) == -1


def test_states():
    assert [mapping.status_name(s) for s in
            ("queued", "running", "succeeded", "dead", "cancelled")] == [
        "READY", "RUNNING", "SUCCESSFUL", "FAILED", "FAILED"]


def test_payload_round_trip_and_foreign_shapes():
    payload = mapping.task_payload([1, [2]], {"to": "a@b.c"})
    assert payload == {"args": [1, [2]], "kwargs": {"to": "a@b.c"}}
    assert mapping.split_payload(payload) == ([1, [2]], {"to": "a@b.c"})
    assert mapping.split_payload({"to": "x"}) == ([], {})
    assert mapping.split_payload({"args": "no", "kwargs": []}) == ([], {})


TRACEBACK = """Boom: it broke
line two of the message
Traceback (most recent call last):
  File "/app/shop/tasks.py", line 3, in charge
    raise Boom("it broke\\nline two of the message")
shop.errors.Boom: it broke
line two of the message"""


def test_exception_paths_from_error_entries():
    assert mapping.exception_path(TRACEBACK) == "shop.errors.Boom"
    assert mapping.exception_path("ValueError: bad\nTraceback ...\nValueError: bad") == \
        "builtins.ValueError"
    assert mapping.exception_path("TimeoutError: task exceeded its timeout of 5s") == \
        "builtins.TimeoutError"
    assert mapping.exception_path("Boom: truncated\nTraceback\n... (truncated)") == "Boom"
    assert mapping.exception_path("lease expired: the worker stopped heartbeating") == \
        mapping.LEASE_LOST
    assert mapping.exception_path("handler returned a value that is not JSON") == \
        "builtins.Exception"


def test_error_entries_and_one_worker_id_per_attempt():
    errors = [{"attempt": 1, "worker_id": "w1", "error": "KeyError: 'x'"},
              {"attempt": 2, "worker_id": "w2", "error": "KeyError: 'x'"}]
    assert mapping.error_entries(errors) == [("builtins.KeyError", "KeyError: 'x'")] * 2
    assert mapping.worker_ids(errors, 2, "w2") == ["w1", "w2"]  # dead after two
    assert mapping.worker_ids(errors[:1], 2, "w3") == ["w1", "w3"]  # succeeded on the 2nd
    assert mapping.worker_ids([], 0, None) == []  # never ran


def test_conninfo_from_django_settings_keeps_libpq_keywords_only():
    info = conninfo({"ENGINE": "django.db.backends.postgresql", "NAME": "shop",
                     "USER": "app", "PASSWORD": "s3 cret", "HOST": "db", "PORT": "",
                     "OPTIONS": {"sslmode": "require", "pool": True,
                                 "server_side_binding": True}})
    assert "dbname=shop" in info and "user=app" in info and "host=db" in info
    assert "sslmode=require" in info
    assert "port" not in info and "pool" not in info and "server_side" not in info
    assert "password='s3 cret'" in info  # quoted for libpq
    assert "s3" not in redact_dsn(info)  # what the worker logs of it
