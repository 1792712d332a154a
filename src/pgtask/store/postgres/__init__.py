"""The Postgres store: one module per job (the worker's calls, enqueue, operator reads, admin,
schedules, HTTP journal ...); store/mysql/ uses the same file names for the same jobs."""
