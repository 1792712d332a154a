"""The shapes HTTP delivery works with: a queue's dispatch policy, one attempt's journal
entry, and the dispatch result the runner turns into an Outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pgtask.models import ClaimedTask, HttpAttempt, Outcome

DispatchKind = Literal["succeeded", "failed", "dead", "snoozed"]


@dataclass(slots=True)
class Dispatch:
    """What the runner records for a task after dispatching it."""

    kind: DispatchKind
    result: Any = None
    error: str | None = None
    delay: timedelta | None = None
    attempt: HttpAttempt | None = None  # None when no request was made (snoozed)

    def outcome(self, task: ClaimedTask) -> Outcome:
        return Outcome(task.id, task.lease_token, self.kind, self.result, self.error, self.delay)
