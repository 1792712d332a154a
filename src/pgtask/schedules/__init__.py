"""Schedules: tasks enqueued on time, exactly once per fire time, by one worker at a time.

cron.py computes fire times (pure); scheduler.py is the leader loop every worker runs;
definition.py is a schedule as Python declares it. The SQL lives in store/schedules_pg.py.
"""

from .cron import CronError, Timing, plan
from .definition import ScheduleDef
from .scheduler import run_scheduler, tick_once

__all__ = ["CronError", "ScheduleDef", "Timing", "plan", "run_scheduler", "tick_once"]
