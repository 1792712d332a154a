-- pgtask schema revision 0006 for MySQL/MariaDB: pgtask where Python teams already are
-- (issue 18). Frozen once released, like 0001, 0004 and 0005: sql/mysql/pgtask.sql is the
-- whole current schema.

-------------------------------------------------------------------------------------------
-- Trace context: the enqueuer's span, carried to the worker (OpenTelemetry)
-------------------------------------------------------------------------------------------

-- The W3C trace context (traceparent, tracestate) of the span that enqueued the task, so
-- that the worker's span for each attempt continues that trace; NULL: none. Untrusted
-- input (any enqueuer writes it), capped like the Postgres column. Not carried to
-- pgtask_task_history. The pgtask_enqueue_task procedure keeps its signature (a new
-- argument would break every CALL): SQL enqueuers on MySQL carry no trace context.
ALTER TABLE pgtask_tasks ADD COLUMN trace_context JSON NULL,
  ADD CONSTRAINT tasks_trace_context_is_small_object CHECK (
    JSON_TYPE(trace_context) = 'OBJECT' AND OCTET_LENGTH(trace_context) <= 4096);
