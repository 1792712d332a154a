"""Every Postgres advisory lock pgtask takes, in one place so that no two share a key.

Keys share one 56-bit prefix (pgtask's own range) and differ in the last byte. A clash is
silent and harmful: the hot-table vacuum once borrowed the scheduler's key, so the worker
that led the schedules could never vacuum (tests/unit/test_locks.py guards this).
"""

MIGRATION_LOCK_KEY = 0x5F8D1C0A2B4E6F71    # pgtask migrate: one migrator at a time
MAINTENANCE_LOCK_KEY = 0x5F8D1C0A2B4E6F72  # rescue + prune: one worker at a time
SCHEDULER_LOCK_KEY = 0x5F8D1C0A2B4E6F73    # the worker that leads the schedules
VACUUM_LOCK_KEY = 0x5F8D1C0A2B4E6F74       # VACUUM of the hot table: one at a time
