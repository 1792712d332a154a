-- pgtask schema revision 0006: pgtask where Python teams already are (issue 18).
-- Frozen once released, like 0001 to 0005: sql/postgres/pgtask.sql is the whole current
-- schema, and tests/sql/test_migrations.py checks that 0001 + ... + 0006 build exactly that.

-------------------------------------------------------------------------------------------
-- Trace context: the enqueuer's span, carried to the worker (OpenTelemetry)
-------------------------------------------------------------------------------------------
