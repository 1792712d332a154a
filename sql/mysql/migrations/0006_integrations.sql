-- pgtask schema revision 0006 for MySQL/MariaDB: pgtask where Python teams already are
-- (issue 18). Frozen once released, like 0001, 0004 and 0005: sql/mysql/pgtask.sql is the
-- whole current schema.

-------------------------------------------------------------------------------------------
-- Trace context: the enqueuer's span, carried to the worker (OpenTelemetry)
-------------------------------------------------------------------------------------------
