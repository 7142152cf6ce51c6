-- The logger store (template mst_logger, TLA lgr) in its own database (store `logs`).
-- DBA-owned; idempotent. Contract with templates/mst_logger_rec.toml:
--   v_mst_logger                     read view (fetch by root, event id or trace id: indexed)
--   sp_mst_logger_create(...)        one event; idempotent on guid (derived from the event id)
--   sp_mst_logger_create_many(rows)  a JSON array of events; idempotent; returns their guids
--   sp_mst_logger_purge(days)        deletes events older than `days`, in chunks; returns purged

CREATE TABLE IF NOT EXISTS mst_logger (
    lgr_id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    lgr_guid        CHAR(32)      NOT NULL,
    lgr_event_id    VARCHAR(160)  NOT NULL,
    lgr_parent      VARCHAR(160)  NULL,
    lgr_root        VARCHAR(160)  NOT NULL,
    lgr_kind        VARCHAR(16)   NOT NULL,
    lgr_node        VARCHAR(64)   NOT NULL DEFAULT '',
    lgr_role        VARCHAR(32)   NOT NULL DEFAULT '',
    lgr_broker      VARCHAR(64)   NOT NULL DEFAULT '',
    lgr_instance    INT           NULL,
    lgr_template    VARCHAR(64)   NOT NULL DEFAULT '',
    lgr_op          VARCHAR(32)   NOT NULL DEFAULT '',
    lgr_status      VARCHAR(16)   NOT NULL DEFAULT '',
    lgr_code        VARCHAR(32)   NOT NULL DEFAULT '',
    lgr_attempt     INT           NOT NULL DEFAULT 1,
    lgr_started     DATETIME(6)   NOT NULL,
    lgr_ended       DATETIME(6)   NULL,
    lgr_duration_us BIGINT        NOT NULL DEFAULT 0,
    lgr_trace_id    VARCHAR(32)   NOT NULL DEFAULT '',
    lgr_message_id  VARCHAR(255)  NOT NULL DEFAULT '',
    lgr_detail      VARCHAR(4000) NOT NULL DEFAULT '',
    -- Every index costs each of the ~4 inserts per request: only the lookups BEDS makes
    -- (a trace by root or by any of its event ids, by trace id; recent events; system events).
    UNIQUE KEY uq_mst_logger_guid (lgr_guid),
    KEY ix_mst_logger_root (lgr_root, lgr_started),
    KEY ix_mst_logger_event (lgr_event_id),
    KEY ix_mst_logger_started (lgr_started),
    KEY ix_mst_logger_kind (lgr_kind, lgr_started),
    KEY ix_mst_logger_trace (lgr_trace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE OR REPLACE VIEW v_mst_logger AS
    SELECT lgr_guid, lgr_event_id, lgr_parent, lgr_root, lgr_kind, lgr_node, lgr_role,
           lgr_broker, lgr_instance, lgr_template, lgr_op, lgr_status, lgr_code, lgr_attempt,
           lgr_started, lgr_ended, lgr_duration_us, lgr_trace_id, lgr_message_id, lgr_detail
      FROM mst_logger;

DELIMITER //

CREATE OR REPLACE PROCEDURE sp_mst_logger_create(
    IN p_guid CHAR(32), IN p_event_id VARCHAR(160), IN p_parent VARCHAR(160),
    IN p_root VARCHAR(160), IN p_kind VARCHAR(16), IN p_node VARCHAR(64), IN p_role VARCHAR(32),
    IN p_broker VARCHAR(64), IN p_instance INT, IN p_template VARCHAR(64), IN p_op VARCHAR(32),
    IN p_status VARCHAR(16), IN p_code VARCHAR(32), IN p_attempt INT, IN p_started DATETIME(6),
    IN p_ended DATETIME(6), IN p_duration_us BIGINT, IN p_trace_id VARCHAR(32),
    IN p_message_id VARCHAR(255), IN p_detail VARCHAR(4000))
BEGIN
    INSERT INTO mst_logger (lgr_guid, lgr_event_id, lgr_parent, lgr_root, lgr_kind, lgr_node,
        lgr_role, lgr_broker, lgr_instance, lgr_template, lgr_op, lgr_status, lgr_code,
        lgr_attempt, lgr_started, lgr_ended, lgr_duration_us, lgr_trace_id, lgr_message_id,
        lgr_detail)
    VALUES (p_guid, p_event_id, p_parent, p_root, p_kind, COALESCE(p_node, ''),
        COALESCE(p_role, ''), COALESCE(p_broker, ''), p_instance, COALESCE(p_template, ''),
        COALESCE(p_op, ''), COALESCE(p_status, ''), COALESCE(p_code, ''), COALESCE(p_attempt, 1),
        p_started, p_ended, COALESCE(p_duration_us, 0), COALESCE(p_trace_id, ''),
        COALESCE(p_message_id, ''), COALESCE(p_detail, ''))
        ON DUPLICATE KEY UPDATE lgr_guid = lgr_guid;
    SELECT * FROM v_mst_logger WHERE lgr_guid = p_guid;
END //

-- Returns only the guids: the logs brokers need to know each event was stored, not its echo.
CREATE OR REPLACE PROCEDURE sp_mst_logger_create_many(IN p_rows LONGTEXT)
BEGIN
    INSERT INTO mst_logger (lgr_guid, lgr_event_id, lgr_parent, lgr_root, lgr_kind, lgr_node,
        lgr_role, lgr_broker, lgr_instance, lgr_template, lgr_op, lgr_status, lgr_code,
        lgr_attempt, lgr_started, lgr_ended, lgr_duration_us, lgr_trace_id, lgr_message_id,
        lgr_detail)
    SELECT r.guid, r.event_id, r.parent, r.root, r.kind, COALESCE(r.node, ''),
           COALESCE(r.role, ''), COALESCE(r.broker, ''), r.instance, COALESCE(r.template, ''),
           COALESCE(r.op, ''), COALESCE(r.status, ''), COALESCE(r.code, ''),
           COALESCE(r.attempt, 1), r.started, r.ended, COALESCE(r.duration_us, 0),
           COALESCE(r.trace_id, ''), COALESCE(r.message_id, ''), COALESCE(r.detail, '')
      FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
               guid        CHAR(32)      PATH '$.guid',
               event_id    VARCHAR(160)  PATH '$.event_id',
               parent      VARCHAR(160)  PATH '$.parent',
               root        VARCHAR(160)  PATH '$.root',
               kind        VARCHAR(16)   PATH '$.kind',
               node        VARCHAR(64)   PATH '$.node',
               role        VARCHAR(32)   PATH '$.role',
               broker      VARCHAR(64)   PATH '$.broker',
               instance    INT           PATH '$.instance',
               template    VARCHAR(64)   PATH '$.template',
               op          VARCHAR(32)   PATH '$.op',
               status      VARCHAR(16)   PATH '$.status',
               code        VARCHAR(32)   PATH '$.code',
               attempt     INT           PATH '$.attempt',
               started     DATETIME(6)   PATH '$.started',
               ended       DATETIME(6)   PATH '$.ended',
               duration_us BIGINT        PATH '$.duration_us',
               trace_id    VARCHAR(32)   PATH '$.trace_id',
               message_id  VARCHAR(255)  PATH '$.message_id',
               detail      VARCHAR(4000) PATH '$.detail')) AS r
        ON DUPLICATE KEY UPDATE lgr_guid = mst_logger.lgr_guid;
    SELECT lgr_guid FROM mst_logger
     WHERE lgr_guid IN (SELECT k.guid FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
                            guid CHAR(32) PATH '$.guid')) AS k);
END //

CREATE OR REPLACE PROCEDURE sp_mst_logger_purge(IN p_days DOUBLE)
BEGIN
    DECLARE v_cutoff DATETIME(6) DEFAULT UTC_TIMESTAMP(6) - INTERVAL ROUND(p_days * 86400) SECOND;
    DECLARE v_total BIGINT DEFAULT 0;
    DECLARE v_chunk BIGINT DEFAULT 1;
    -- Chunks keep each transaction short, so live writes never wait long behind a purge.
    WHILE v_chunk > 0 DO
        DELETE FROM mst_logger WHERE lgr_started < v_cutoff LIMIT 10000;
        SET v_chunk = ROW_COUNT();
        SET v_total = v_total + v_chunk;
    END WHILE;
    SELECT v_total AS purged;
END //

DELIMITER ;
