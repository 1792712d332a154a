"""Schedules: tasks enqueued on time, exactly once per fire time, by one worker at a time.

cron.py computes fire times (pure); definition.py is a schedule as Python declares it.
The leader loop every worker runs is pgtask.worker.scheduler; the SQL lives in
store/postgres/schedules.py.
"""

from pgtask.schedules.cron import CronError, Timing, plan
from pgtask.schedules.definition import ScheduleDef

__all__ = ["CronError", "ScheduleDef", "Timing", "plan"]
