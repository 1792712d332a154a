"""The MySQL/MariaDB store: the same jobs as store/postgres/, under the same file names, with
the logic in SQL issued from Python (no PL/pgSQL, no NOTIFY: workers poll)."""
