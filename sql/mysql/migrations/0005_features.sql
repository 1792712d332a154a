-- pgtask schema revision 0005 for MySQL/MariaDB: every feature as a user meets it (issue 16).
-- Frozen once released, like 0001 and 0004: sql/mysql/pgtask.sql is the whole current
-- schema.

-------------------------------------------------------------------------------------------
-- Task types in the database
-------------------------------------------------------------------------------------------

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

-------------------------------------------------------------------------------------------
-- Queue limits and policy
-------------------------------------------------------------------------------------------

-- Unstuck: a queue's longest run in seconds, enforced at heartbeat (NULL: none, the default).
ALTER TABLE pgtask_queues ADD COLUMN max_run_time DOUBLE NULL,
  ADD CONSTRAINT queues_max_run_time_in_range CHECK (max_run_time BETWEEN 1 AND 31536000);

-- A rate now comes with one second's worth of burst (store/mysql/queue_settings.py); queues
-- still at the old default burst of 1 get it too (see the Postgres revision).
UPDATE pgtask_queues SET rate_burst = LEAST(GREATEST(1, CEIL(rate_limit)), 1000000)
 WHERE rate_limit IS NOT NULL AND rate_burst = 1;

-------------------------------------------------------------------------------------------
-- Operators' tools
-------------------------------------------------------------------------------------------

-------------------------------------------------------------------------------------------
-- HTTP delivery
-------------------------------------------------------------------------------------------
