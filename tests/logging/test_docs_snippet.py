"""docs/logging.md's "Embedding" snippet does what it says: an application's own handler,
given pgtask's filter and formatter, writes JSON lines with the running task's fields."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.logging.procs import ROOT, env

AFTER = """
from datetime import UTC, datetime
from uuid import uuid4
from pgtask.logs import task_context
from pgtask.models import ClaimedTask

now = datetime.now(UTC)
task = ClaimedTask(id=5, queue="q", task_type="t", payload={}, attempt=1, max_attempts=3,
                   lease_token=uuid4(), run_at=now, created_at=now, attempted_at=now)
with task_context(task):
    logging.getLogger("app").info("inside")
"""


def test_the_embedding_snippet_logs_json_with_task_fields():
    section = (ROOT / "docs" / "logging.md").read_text().split("## Embedding", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    result = subprocess.run([sys.executable, "-c", snippet + AFTER], capture_output=True,
                            text=True, env=env(), cwd=ROOT, timeout=60, check=True)
    (line,) = (json.loads(text) for text in result.stderr.splitlines())
    assert (line["message"], line["logger"], line["event"], line["task_id"]) == (
        "inside", "app", "log", 5)
