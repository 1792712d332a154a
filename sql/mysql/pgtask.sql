-- pgtask on MySQL 8.0+ / MariaDB 10.6+: the same queue as sql/postgres/pgtask.sql.
--
-- Read top to bottom: tables, the view inspection reads, the enqueue procedure. The states,
-- columns and rules are Postgres's; the differences are MySQL's:
--
--   * MySQL has no schemas inside a database, so every object is prefixed "pgtask_".
--   * The logic (claim, finish, rescue, ...) is issued as SQL by src/pgtask/store/mysql_tx.py
--     rather than stored functions: MySQL routines cannot return row sets to a caller's
--     statement, and the store keeps each operation to a few statements in one transaction.
--   * Times are DATETIME(6) in UTC (UTC_TIMESTAMP is the clock); durations are seconds in
--     DOUBLE columns with the Postgres names (lease, min_backoff, ...); arrays are JSON.
--   * No partial indexes: the claim indexes lead with "state", which does the same job.
--   * Ids come from tasks.id AUTO_INCREMENT and move to history with the task; MySQL 8.0 and
--     MariaDB 10.6 persist the counter across restarts, so an id is never handed out twice.
--
-- Statements are idempotent (IF NOT EXISTS, OR REPLACE) because MySQL cannot roll DDL back:
-- a migration interrupted half-way is finished by running it again. The file also runs
-- as is through the mysql client (`mysql db < pgtask.sql`), hence the DELIMITER lines.
--
-- Constraint names are unique per database (MySQL 8 requires it), so they name their table.

-- A queue is a row of policy, created with these defaults by the first enqueue into it.
CREATE TABLE IF NOT EXISTS pgtask_queues (
  name              VARCHAR(128) NOT NULL PRIMARY KEY,
  paused            BOOLEAN NOT NULL DEFAULT FALSE,
  -- At most this many tasks of the queue run at once, counted across every worker.
  concurrency_limit INT NULL,
  -- A token bucket shared by every worker: rate_limit tasks per second, bursts of rate_burst.
  rate_limit        DOUBLE NULL,
  rate_burst        INT NOT NULL DEFAULT 1,
  rate_tokens       DOUBLE NOT NULL DEFAULT 0,
  rate_updated_at   DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  -- Retry policy (seconds): min_backoff * 2^(attempt - 1), doubling at most max_doublings
  -- times, capped at max_backoff, spread by +/- backoff_jitter / 2.
  max_attempts      INT NOT NULL DEFAULT 20,
  min_backoff       DOUBLE NOT NULL DEFAULT 1,
  max_backoff       DOUBLE NOT NULL DEFAULT 3600,
  max_doublings     INT NOT NULL DEFAULT 20,
  backoff_jitter    DOUBLE NOT NULL DEFAULT 0.2,
  -- Seconds a claim lasts without a heartbeat before the task may be claimed again.
  lease             DOUBLE NOT NULL DEFAULT 30,
  -- HTTP targets: POST each task of this queue to target_url, waiting dispatch_deadline s.
  target_url        TEXT NULL,
  dispatch_deadline DOUBLE NOT NULL DEFAULT 30,
  created_at        DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  updated_at        DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  -- Unstuck: seconds a run may last before its next heartbeat takes it away (the attempt
  -- failed), however alive its worker; NULL: no limit but the task type's own timeout.
  max_run_time      DOUBLE NULL,
  CONSTRAINT queues_max_run_time_in_range CHECK (max_run_time BETWEEN 1 AND 31536000),
  CONSTRAINT queues_name_is_valid CHECK (name REGEXP '^[a-z0-9][a-z0-9_.:-]{0,127}\\z'),
  CONSTRAINT queues_concurrency_limit_is_positive CHECK (concurrency_limit > 0),
  CONSTRAINT queues_rate_limit_is_positive CHECK (rate_limit > 0),
  CONSTRAINT queues_rate_burst_is_positive CHECK (rate_burst > 0),
  CONSTRAINT queues_max_attempts_in_range CHECK (max_attempts BETWEEN 1 AND 1000),
  CONSTRAINT queues_min_backoff_is_positive CHECK (min_backoff > 0),
  CONSTRAINT queues_max_doublings_in_range CHECK (max_doublings BETWEEN 0 AND 60),
  CONSTRAINT queues_backoff_jitter_in_range CHECK (backoff_jitter BETWEEN 0 AND 1),
  CONSTRAINT queues_lease_is_positive CHECK (lease > 0),
  CONSTRAINT queues_target_url_is_http CHECK (target_url REGEXP '^https?://'),
  CONSTRAINT queues_dispatch_deadline_is_positive CHECK (dispatch_deadline > 0),
  CONSTRAINT queues_backoff_bounds_are_ordered CHECK (max_backoff >= min_backoff)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Unfinished work: the only table a claim reads. Kept small on purpose.
CREATE TABLE IF NOT EXISTS pgtask_tasks (
  id               BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  queue            VARCHAR(128) NOT NULL DEFAULT 'default',
  task_type        VARCHAR(128) NOT NULL,
  payload          JSON NOT NULL DEFAULT (JSON_OBJECT()),
  state            ENUM('queued', 'running', 'succeeded', 'dead', 'cancelled') NOT NULL DEFAULT 'queued',
  priority         SMALLINT NOT NULL DEFAULT 0,
  run_at           DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  attempt          INT NOT NULL DEFAULT 0,
  -- NULL: the queue's max_attempts, read when the task fails.
  max_attempts     INT NULL,
  idempotency_key  VARCHAR(255) NULL,
  target_url       TEXT NULL,
  lease_token      CHAR(36) CHARACTER SET ascii NULL,
  lease_expires_at DATETIME(6) NULL,
  worker_id        VARCHAR(255) NULL,
  created_at       DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  started_at       DATETIME(6) NULL,  -- first claim
  attempted_at     DATETIME(6) NULL,  -- latest claim
  errors           JSON NOT NULL DEFAULT (JSON_ARRAY()),
  -- The enqueuing span's W3C trace context, continued by the worker's span (revision 0006).
  trace_context    JSON NULL,
  CONSTRAINT tasks_queue_is_valid CHECK (queue REGEXP '^[a-z0-9][a-z0-9_.:-]{0,127}\\z'),
  CONSTRAINT tasks_task_type_is_valid CHECK (task_type REGEXP '^[a-z0-9][a-z0-9_.:-]{0,127}\\z'),
  CONSTRAINT tasks_payload_is_an_object CHECK (JSON_TYPE(payload) = 'OBJECT'),
  -- 1 MiB; an operator may replace this constraint to change the cap.
  CONSTRAINT tasks_payload_size_cap CHECK (OCTET_LENGTH(payload) <= 1048576),
  CONSTRAINT tasks_hold_unfinished_work CHECK (state IN ('queued', 'running')),
  CONSTRAINT tasks_priority_in_range CHECK (priority BETWEEN -1000 AND 1000),
  CONSTRAINT tasks_attempt_not_negative CHECK (attempt >= 0),
  CONSTRAINT tasks_max_attempts_in_range CHECK (max_attempts BETWEEN 1 AND 1000),
  CONSTRAINT tasks_idempotency_key_length CHECK (CHAR_LENGTH(idempotency_key) BETWEEN 1 AND 255),
  CONSTRAINT tasks_target_url_is_http CHECK (target_url REGEXP '^https?://'),
  CONSTRAINT tasks_errors_is_an_array CHECK (JSON_TYPE(errors) = 'ARRAY'),
  -- A running task holds a whole lease; a queued one holds no part of one.
  CONSTRAINT tasks_running_iff_leased CHECK (
    CASE WHEN state = 'running'
         THEN lease_token IS NOT NULL AND lease_expires_at IS NOT NULL
              AND worker_id IS NOT NULL AND attempted_at IS NOT NULL
         ELSE lease_token IS NULL AND lease_expires_at IS NULL AND worker_id IS NULL END),
  CONSTRAINT tasks_attempts_within_max CHECK (max_attempts IS NULL OR attempt <= max_attempts),
  CONSTRAINT tasks_trace_context_is_small_object CHECK (
    JSON_TYPE(trace_context) = 'OBJECT' AND OCTET_LENGTH(trace_context) <= 4096),
  -- The claim walks this index in claim order and stops after "batch" rows; "state" first
  -- stands in for Postgres's partial index. (MariaDB before 10.8 ignores DESC and sorts.)
  INDEX tasks_claim_order (state, priority DESC, run_at, id),
  -- Queues with limits are claimed one at a time; this also counts a queue's running tasks.
  INDEX tasks_queue_claim_order (queue, state, priority DESC, run_at, id),
  -- Running tasks by lease expiry: finds lost leases.
  INDEX tasks_leases (state, lease_expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Finished work: succeeded, dead or cancelled. Rows arrive in the transaction that
-- finishes them and leave when prune judges them old enough.
CREATE TABLE IF NOT EXISTS pgtask_task_history (
  id              BIGINT NOT NULL PRIMARY KEY,
  queue           VARCHAR(128) NOT NULL,
  task_type       VARCHAR(128) NOT NULL,
  payload         JSON NOT NULL,
  state           ENUM('queued', 'running', 'succeeded', 'dead', 'cancelled') NOT NULL,
  priority        SMALLINT NOT NULL,
  run_at          DATETIME(6) NOT NULL,
  attempt         INT NOT NULL,
  max_attempts    INT NULL,
  idempotency_key VARCHAR(255) NULL,
  target_url      TEXT NULL,
  worker_id       VARCHAR(255) NULL,  -- the worker that held the last attempt, if any
  created_at      DATETIME(6) NOT NULL,
  started_at      DATETIME(6) NULL,
  attempted_at    DATETIME(6) NULL,
  finished_at     DATETIME(6) NOT NULL,
  errors          JSON NOT NULL,
  result          JSON NULL,          -- what the handler returned (succeeded only)
  message         TEXT NULL,          -- why it ended: the last error, or the cancel reason
  CONSTRAINT history_holds_finished_work CHECK (state IN ('succeeded', 'dead', 'cancelled')),
  CONSTRAINT history_only_success_has_a_result CHECK (result IS NULL OR state = 'succeeded'),
  INDEX task_history_finished_at (finished_at),
  INDEX task_history_state (state, id),
  -- "dead in the last hour" (pgtask top) reads only dead rows, like Postgres's partial index.
  INDEX task_history_dead (state, finished_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- An idempotency key names one task per queue for as long as that task is retained.
-- ("key" is a reserved word in MySQL: quote it with backticks.)
CREATE TABLE IF NOT EXISTS pgtask_idempotency_keys (
  queue      VARCHAR(128) NOT NULL,
  `key`      VARCHAR(255) NOT NULL,
  task_id    BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  PRIMARY KEY (queue, `key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Lines a handler logged while it ran, shown by "pgtask show".
CREATE TABLE IF NOT EXISTS pgtask_task_logs (
  task_id BIGINT NOT NULL,
  attempt INT NOT NULL,
  at      DATETIME(6) NOT NULL,
  level   VARCHAR(16) NOT NULL,
  message TEXT NOT NULL,
  INDEX task_logs_task (task_id, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per live worker process; it heartbeats, and rescue prunes the silent ones.
CREATE TABLE IF NOT EXISTS pgtask_workers (
  id           VARCHAR(255) NOT NULL PRIMARY KEY,
  host         VARCHAR(255) NOT NULL,
  pid          INT NOT NULL,
  queues       JSON NULL,       -- array of names; NULL: every queue
  task_types   JSON NULL,       -- array of names; NULL: every type
  concurrency  INT NOT NULL,
  in_flight    INT NOT NULL DEFAULT 0,
  started_at   DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  heartbeat_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A task type as the workers that run it declared it, upserted by each worker when it
-- starts. An enqueue that gives no queue, priority or max_attempts takes these.
CREATE TABLE IF NOT EXISTS pgtask_task_types (
  name            VARCHAR(128) NOT NULL PRIMARY KEY,
  queue           VARCHAR(128) NOT NULL DEFAULT 'default',
  priority        SMALLINT NOT NULL DEFAULT 0,
  max_attempts    INT NULL,        -- NULL: the queue's
  timeout_seconds DOUBLE NULL,     -- NULL: no limit of the type's own
  title           VARCHAR(200) NOT NULL DEFAULT '',
  description     TEXT NOT NULL,
  created_at      DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  updated_at      DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  last_seen_at    DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)),
  last_worker     VARCHAR(255) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every task, unfinished or finished, in one shape: what inspection reads.
CREATE OR REPLACE VIEW pgtask_all_tasks AS
  SELECT t.id, t.queue, t.task_type, t.payload, t.state, t.priority, t.run_at, t.attempt,
         t.max_attempts, t.idempotency_key, t.target_url, t.worker_id, t.created_at,
         t.started_at, t.attempted_at, CAST(NULL AS DATETIME(6)) AS finished_at, t.errors,
         NULL AS result, NULL AS message, t.lease_expires_at
    FROM pgtask_tasks t
  UNION ALL
  SELECT h.id, h.queue, h.task_type, h.payload, h.state, h.priority, h.run_at, h.attempt,
         h.max_attempts, h.idempotency_key, h.target_url, h.worker_id, h.created_at,
         h.started_at, h.attempted_at, h.finished_at, h.errors, h.result, h.message,
         CAST(NULL AS DATETIME(6))
    FROM pgtask_task_history h;

-- Put a task on a queue and give me its id (OUT p_task_id), from any application, inside
-- its own transaction. The SQL twin of Python's enqueue; NULL arguments take the defaults
-- (queue, priority and max_attempts: the task type's, from pgtask_task_types, first):
--   CALL pgtask_enqueue_task('emails.send', '{"to": "a@b.c"}', NULL, NULL, NULL,
--                            'signup-42', NULL, NULL, @id);
--   SELECT @id;
-- With an idempotency key, a second call for the same (queue, key) returns the first task's
-- id instead. run_at is UTC.
DROP PROCEDURE IF EXISTS pgtask_enqueue_task;

DELIMITER $$
CREATE PROCEDURE pgtask_enqueue_task(
  IN  p_task_type       VARCHAR(255) CHARACTER SET utf8mb4,
  IN  p_payload         LONGTEXT CHARACTER SET utf8mb4,
  IN  p_queue           VARCHAR(255) CHARACTER SET utf8mb4,
  IN  p_run_at          DATETIME(6),
  IN  p_priority        INT,
  IN  p_idempotency_key VARCHAR(1024) CHARACTER SET utf8mb4,
  IN  p_max_attempts    INT,
  IN  p_target_url      TEXT CHARACTER SET utf8mb4,
  OUT p_task_id         BIGINT)
MODIFIES SQL DATA
SQL SECURITY DEFINER
enqueue: BEGIN
  DECLARE v_queue    VARCHAR(255) CHARACTER SET utf8mb4 DEFAULT p_queue;
  DECLARE v_payload  LONGTEXT CHARACTER SET utf8mb4 DEFAULT COALESCE(p_payload, '{}');
  DECLARE v_priority INT DEFAULT p_priority;
  DECLARE v_max_attempts INT DEFAULT p_max_attempts;
  DECLARE v_error    VARCHAR(512);

  -- What the call leaves out comes from the task type's definition, then 'default', 0 and
  -- the queue's max_attempts. An aggregate always gives one row, found or not.
  IF v_queue IS NULL OR v_priority IS NULL OR v_max_attempts IS NULL THEN
    SELECT COALESCE(v_queue, MAX(d.queue), 'default'), COALESCE(v_priority, MAX(d.priority), 0),
           COALESCE(v_max_attempts, MAX(d.max_attempts))
      INTO v_queue, v_priority, v_max_attempts
      FROM pgtask_task_types d WHERE d.name = p_task_type COLLATE utf8mb4_bin;
  END IF;

  -- Refuse what the tables would refuse, with a message that says what to fix.
  IF p_task_type IS NULL
     OR NOT (p_task_type COLLATE utf8mb4_bin REGEXP '^[a-z0-9][a-z0-9_.:-]{0,127}\\z') THEN
    SET v_error = CONCAT('pgtask: invalid task type ', COALESCE(QUOTE(p_task_type), 'NULL'),
                         ' (names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''emails.send'')');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF NOT (v_queue COLLATE utf8mb4_bin REGEXP '^[a-z0-9][a-z0-9_.:-]{0,127}\\z') THEN
    SET v_error = CONCAT('pgtask: invalid queue name ', QUOTE(v_queue),
                         ' (names match ^[a-z0-9][a-z0-9_.:-]{0,127}$, e.g. ''default'')');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF NOT JSON_VALID(v_payload) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'pgtask: payload must be a JSON object, got invalid JSON';
  END IF;
  IF JSON_TYPE(v_payload) <> 'OBJECT' THEN
    SET v_error = CONCAT('pgtask: payload must be a JSON object, got ', LOWER(JSON_TYPE(v_payload)));
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF OCTET_LENGTH(v_payload) > 1048576 THEN
    SET v_error = CONCAT('pgtask: payload is ', OCTET_LENGTH(v_payload),
                         ' bytes; the limit is 1048576 bytes (1 MiB)');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  -- A time every reader can load (pgtask.check_run_at on Postgres). Depth needs no check
  -- of ours: JSON_VALID above refuses more than 32 levels on MariaDB, 100 on MySQL.
  IF p_run_at IS NOT NULL AND NOT (p_run_at BETWEEN '1970-01-01 00:00:00'
                                   AND UTC_TIMESTAMP(6) + INTERVAL 100 YEAR) THEN
    SET v_error = CONCAT('pgtask: run_at ', p_run_at,
                         ' is out of range (1970-01-01 to 100 years from now)');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF v_priority NOT BETWEEN -1000 AND 1000 THEN
    SET v_error = CONCAT('pgtask: priority ', v_priority,
                         ' is out of range (-1000 to 1000, higher runs first)');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF v_max_attempts IS NOT NULL AND v_max_attempts NOT BETWEEN 1 AND 1000 THEN
    SET v_error = CONCAT('pgtask: max_attempts ', v_max_attempts, ' is out of range (1 to 1000)');
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_error;
  END IF;
  IF p_idempotency_key IS NOT NULL AND CHAR_LENGTH(p_idempotency_key) NOT BETWEEN 1 AND 255 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'pgtask: idempotency_key must be 1 to 255 characters';
  END IF;
  IF p_target_url IS NOT NULL AND NOT (p_target_url REGEXP '^https?://') THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'pgtask: target_url must start with http:// or https://';
  END IF;

  -- A plain read first: INSERT IGNORE on an existing row would take a shared lock on it until
  -- commit, and claimers of a rate-limited queue lock that row.
  IF NOT EXISTS (SELECT 1 FROM pgtask_queues WHERE name = v_queue COLLATE utf8mb4_bin) THEN
    INSERT IGNORE INTO pgtask_queues (name) VALUES (v_queue);
  END IF;

  IF p_idempotency_key IS NOT NULL THEN
    -- The key's primary key settles races: a concurrent caller waits here for the winner's
    -- transaction, then finds its row (a locking read sees it even in REPEATABLE READ).
    INSERT IGNORE INTO pgtask_idempotency_keys (queue, `key`, task_id)
    VALUES (v_queue, p_idempotency_key, 0);
    IF ROW_COUNT() = 0 THEN
      SELECT k.task_id INTO p_task_id FROM pgtask_idempotency_keys k
       WHERE k.queue = v_queue COLLATE utf8mb4_bin
         AND k.`key` = p_idempotency_key COLLATE utf8mb4_bin
       LOCK IN SHARE MODE;
      LEAVE enqueue;
    END IF;
  END IF;

  INSERT INTO pgtask_tasks (queue, task_type, payload, priority, run_at, idempotency_key,
                            max_attempts, target_url)
  VALUES (v_queue, p_task_type, v_payload, v_priority, COALESCE(p_run_at, UTC_TIMESTAMP(6)),
          p_idempotency_key, v_max_attempts, p_target_url);
  SET p_task_id = LAST_INSERT_ID();

  IF p_idempotency_key IS NOT NULL THEN
    UPDATE pgtask_idempotency_keys k SET k.task_id = p_task_id
     WHERE k.queue = v_queue COLLATE utf8mb4_bin
       AND k.`key` = p_idempotency_key COLLATE utf8mb4_bin;
  END IF;
END enqueue$$
DELIMITER ;
