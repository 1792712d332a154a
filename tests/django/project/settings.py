"""The test project: examples/django's settings, on this test's own database.

The test passes its database as PGTASK_TEST_DJANGO_DSN (a keyword conninfo: host= port=
user= dbname=); Django runs in subprocesses, so each test has its own settings."""

import copy
import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "django"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

from mysite.settings import *  # noqa: E402, F403
from mysite.settings import DATABASES, TASKS  # noqa: E402

_conninfo = dict(pair.split("=", 1) for pair in os.environ["PGTASK_TEST_DJANGO_DSN"].split())
DATABASES["default"].update(NAME=_conninfo["dbname"], HOST=_conninfo["host"],
                            PORT=_conninfo["port"], USER=_conninfo["user"])
TASKS = copy.deepcopy(TASKS)
TASKS["default"]["OPTIONS"]["TASK_MODULES"] = ["tests.django.project.tasks"]
TASKS = {
    **TASKS,
    # Any queue name (no QUEUES list): the backend's own name check is what answers.
    "anyqueue": {"BACKEND": "pgtask.contrib.django.PgTaskBackend", "QUEUES": []},
}
# Never connected to: it shows what the backend says about a database it does not support.
DATABASES["legacy"] = {"ENGINE": "django.db.backends.mysql", "NAME": "legacy"}
TASKS["onmysql"] = {"BACKEND": "pgtask.contrib.django.PgTaskBackend",
                    "OPTIONS": {"DATABASE": "legacy"}}
# Its ready() connects the signal receivers the tests read (receivers.py).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.django.project.apps.ProjectConfig"]  # noqa: F405
