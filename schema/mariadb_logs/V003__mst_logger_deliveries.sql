-- One row per delivery (V003): the steps of a request's delivery (batch hop, database call,
-- retry, parking, reply) are columns of its row, and the read view presents each as its own
-- event. Storing 1 row instead of 4 per request is what keeps lineage cheap (bench/README.md).
-- Contract with templates/mst_logger_in_rec.toml (write) and mst_logger_rec.toml (read):
--   sp_mst_logger_write(...)         one delivery or system event; idempotent on guid
--   sp_mst_logger_write_many(rows)   a JSON array of them; idempotent; returns their guids
--   v_mst_logger                     every event: deliveries and their steps (UNION ALL; a
--                                    fetch by root uses the root index in every branch)

ALTER TABLE mst_logger
    ADD COLUMN IF NOT EXISTS lgr_b_started DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_b_ended DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_b_detail VARCHAR(200) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_c_started DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_c_ended DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_c_detail VARCHAR(400) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_s_started DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_s_ended DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_s_detail VARCHAR(200) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_d_started DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_d_ended DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_d_detail VARCHAR(400) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_y_started DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_y_ended DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS lgr_y_detail VARCHAR(200) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_c_status VARCHAR(16) NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS lgr_c_code VARCHAR(32) NOT NULL DEFAULT '';

CREATE OR REPLACE VIEW v_mst_logger AS
    SELECT lgr_guid,
           lgr_event_id AS lgr_event_id,
           lgr_parent AS lgr_parent,
           lgr_root,
           lgr_kind AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           lgr_status AS lgr_status,
           lgr_code AS lgr_code,
           lgr_attempt,
           lgr_started AS lgr_started,
           lgr_ended AS lgr_ended,
           lgr_duration_us,
           lgr_trace_id,
           lgr_message_id AS lgr_message_id,
           lgr_detail AS lgr_detail
      FROM mst_logger
  UNION ALL
    SELECT lgr_guid,
           CONCAT(lgr_event_id, '/b') AS lgr_event_id,
           lgr_event_id AS lgr_parent,
           lgr_root,
           'batch' AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           'ok' AS lgr_status,
           '' AS lgr_code,
           lgr_attempt,
           lgr_b_started AS lgr_started,
           lgr_b_ended AS lgr_ended,
           TIMESTAMPDIFF(MICROSECOND, lgr_b_started, lgr_b_ended) AS lgr_duration_us,
           lgr_trace_id,
           '' AS lgr_message_id,
           lgr_b_detail AS lgr_detail
      FROM mst_logger WHERE lgr_b_started IS NOT NULL
  UNION ALL
    SELECT lgr_guid,
           CONCAT(lgr_event_id, '/b/c') AS lgr_event_id,
           CONCAT(lgr_event_id, '/b') AS lgr_parent,
           lgr_root,
           'db_call' AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           lgr_c_status AS lgr_status,
           lgr_c_code AS lgr_code,
           lgr_attempt,
           lgr_c_started AS lgr_started,
           lgr_c_ended AS lgr_ended,
           TIMESTAMPDIFF(MICROSECOND, lgr_c_started, lgr_c_ended) AS lgr_duration_us,
           lgr_trace_id,
           '' AS lgr_message_id,
           lgr_c_detail AS lgr_detail
      FROM mst_logger WHERE lgr_c_started IS NOT NULL
  UNION ALL
    SELECT lgr_guid,
           CONCAT(lgr_event_id, '/s') AS lgr_event_id,
           lgr_event_id AS lgr_parent,
           lgr_root,
           'retry' AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           'retry' AS lgr_status,
           lgr_code AS lgr_code,
           lgr_attempt,
           lgr_s_started AS lgr_started,
           lgr_s_ended AS lgr_ended,
           TIMESTAMPDIFF(MICROSECOND, lgr_s_started, lgr_s_ended) AS lgr_duration_us,
           lgr_trace_id,
           '' AS lgr_message_id,
           lgr_s_detail AS lgr_detail
      FROM mst_logger WHERE lgr_s_started IS NOT NULL
  UNION ALL
    SELECT lgr_guid,
           CONCAT(lgr_event_id, '/d') AS lgr_event_id,
           lgr_event_id AS lgr_parent,
           lgr_root,
           'dead_lettered' AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           'parked' AS lgr_status,
           lgr_code AS lgr_code,
           lgr_attempt,
           lgr_d_started AS lgr_started,
           lgr_d_ended AS lgr_ended,
           TIMESTAMPDIFF(MICROSECOND, lgr_d_started, lgr_d_ended) AS lgr_duration_us,
           lgr_trace_id,
           '' AS lgr_message_id,
           lgr_d_detail AS lgr_detail
      FROM mst_logger WHERE lgr_d_started IS NOT NULL
  UNION ALL
    SELECT lgr_guid,
           CONCAT(lgr_event_id, '/y') AS lgr_event_id,
           lgr_event_id AS lgr_parent,
           lgr_root,
           'reply' AS lgr_kind,
           lgr_node,
           lgr_role,
           lgr_broker,
           lgr_instance,
           lgr_template,
           lgr_op,
           'ok' AS lgr_status,
           '' AS lgr_code,
           lgr_attempt,
           lgr_y_started AS lgr_started,
           lgr_y_ended AS lgr_ended,
           TIMESTAMPDIFF(MICROSECOND, lgr_y_started, lgr_y_ended) AS lgr_duration_us,
           lgr_trace_id,
           '' AS lgr_message_id,
           lgr_y_detail AS lgr_detail
      FROM mst_logger WHERE lgr_y_started IS NOT NULL;

DELIMITER //

CREATE OR REPLACE PROCEDURE sp_mst_logger_write(
    IN p_guid CHAR(32),
    IN p_event_id VARCHAR(160),
    IN p_parent VARCHAR(160),
    IN p_root VARCHAR(160),
    IN p_kind VARCHAR(16),
    IN p_node VARCHAR(64),
    IN p_role VARCHAR(32),
    IN p_broker VARCHAR(64),
    IN p_instance INT,
    IN p_template VARCHAR(64),
    IN p_op VARCHAR(32),
    IN p_status VARCHAR(16),
    IN p_code VARCHAR(32),
    IN p_attempt INT,
    IN p_started DATETIME(6),
    IN p_ended DATETIME(6),
    IN p_duration_us BIGINT,
    IN p_trace_id VARCHAR(32),
    IN p_message_id VARCHAR(255),
    IN p_detail VARCHAR(4000),
    IN p_b_started DATETIME(6),
    IN p_b_ended DATETIME(6),
    IN p_b_detail VARCHAR(200),
    IN p_c_started DATETIME(6),
    IN p_c_ended DATETIME(6),
    IN p_c_detail VARCHAR(400),
    IN p_s_started DATETIME(6),
    IN p_s_ended DATETIME(6),
    IN p_s_detail VARCHAR(200),
    IN p_d_started DATETIME(6),
    IN p_d_ended DATETIME(6),
    IN p_d_detail VARCHAR(400),
    IN p_y_started DATETIME(6),
    IN p_y_ended DATETIME(6),
    IN p_y_detail VARCHAR(200),
    IN p_c_status VARCHAR(16),
    IN p_c_code VARCHAR(32))
BEGIN
    INSERT INTO mst_logger (lgr_guid, lgr_event_id, lgr_parent, lgr_root, lgr_kind, lgr_node, lgr_role, lgr_broker, lgr_instance, lgr_template, lgr_op, lgr_status, lgr_code, lgr_attempt, lgr_started, lgr_ended, lgr_duration_us, lgr_trace_id, lgr_message_id, lgr_detail, lgr_b_started, lgr_b_ended, lgr_b_detail, lgr_c_started, lgr_c_ended, lgr_c_detail, lgr_s_started, lgr_s_ended, lgr_s_detail, lgr_d_started, lgr_d_ended, lgr_d_detail, lgr_y_started, lgr_y_ended, lgr_y_detail, lgr_c_status, lgr_c_code)
    VALUES (p_guid, p_event_id, p_parent, p_root, p_kind, COALESCE(p_node, ''), COALESCE(p_role, ''), COALESCE(p_broker, ''), p_instance, COALESCE(p_template, ''), COALESCE(p_op, ''), COALESCE(p_status, ''), COALESCE(p_code, ''), COALESCE(p_attempt, 1), p_started, p_ended, COALESCE(p_duration_us, 0), COALESCE(p_trace_id, ''), COALESCE(p_message_id, ''), COALESCE(p_detail, ''), p_b_started, p_b_ended, COALESCE(p_b_detail, ''), p_c_started, p_c_ended, COALESCE(p_c_detail, ''), p_s_started, p_s_ended, COALESCE(p_s_detail, ''), p_d_started, p_d_ended, COALESCE(p_d_detail, ''), p_y_started, p_y_ended, COALESCE(p_y_detail, ''), COALESCE(p_c_status, ''), COALESCE(p_c_code, ''))
        ON DUPLICATE KEY UPDATE lgr_guid = lgr_guid;
    SELECT lgr_guid FROM mst_logger WHERE lgr_guid = p_guid;
END //

-- Returns only the guids: the logs brokers need to know each event was stored, not its echo.
CREATE OR REPLACE PROCEDURE sp_mst_logger_write_many(IN p_rows LONGTEXT)
BEGIN
    INSERT INTO mst_logger (lgr_guid, lgr_event_id, lgr_parent, lgr_root, lgr_kind, lgr_node, lgr_role, lgr_broker, lgr_instance, lgr_template, lgr_op, lgr_status, lgr_code, lgr_attempt, lgr_started, lgr_ended, lgr_duration_us, lgr_trace_id, lgr_message_id, lgr_detail, lgr_b_started, lgr_b_ended, lgr_b_detail, lgr_c_started, lgr_c_ended, lgr_c_detail, lgr_s_started, lgr_s_ended, lgr_s_detail, lgr_d_started, lgr_d_ended, lgr_d_detail, lgr_y_started, lgr_y_ended, lgr_y_detail, lgr_c_status, lgr_c_code)
    SELECT r.guid, r.event_id, r.parent, r.root, r.kind, COALESCE(r.node, ''), COALESCE(r.role, ''), COALESCE(r.broker, ''), r.instance, COALESCE(r.template, ''), COALESCE(r.op, ''), COALESCE(r.status, ''), COALESCE(r.code, ''), COALESCE(r.attempt, 1), r.started, r.ended, COALESCE(r.duration_us, 0), COALESCE(r.trace_id, ''), COALESCE(r.message_id, ''), COALESCE(r.detail, ''), r.b_started, r.b_ended, COALESCE(r.b_detail, ''), r.c_started, r.c_ended, COALESCE(r.c_detail, ''), r.s_started, r.s_ended, COALESCE(r.s_detail, ''), r.d_started, r.d_ended, COALESCE(r.d_detail, ''), r.y_started, r.y_ended, COALESCE(r.y_detail, ''), COALESCE(r.c_status, ''), COALESCE(r.c_code, '')
      FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
               guid CHAR(32) PATH '$.guid',
               event_id VARCHAR(160) PATH '$.event_id',
               parent VARCHAR(160) PATH '$.parent',
               root VARCHAR(160) PATH '$.root',
               kind VARCHAR(16) PATH '$.kind',
               node VARCHAR(64) PATH '$.node',
               role VARCHAR(32) PATH '$.role',
               broker VARCHAR(64) PATH '$.broker',
               instance INT PATH '$.instance',
               template VARCHAR(64) PATH '$.template',
               op VARCHAR(32) PATH '$.op',
               status VARCHAR(16) PATH '$.status',
               code VARCHAR(32) PATH '$.code',
               attempt INT PATH '$.attempt',
               started DATETIME(6) PATH '$.started',
               ended DATETIME(6) PATH '$.ended',
               duration_us BIGINT PATH '$.duration_us',
               trace_id VARCHAR(32) PATH '$.trace_id',
               message_id VARCHAR(255) PATH '$.message_id',
               detail VARCHAR(4000) PATH '$.detail',
               b_started DATETIME(6) PATH '$.b_started',
               b_ended DATETIME(6) PATH '$.b_ended',
               b_detail VARCHAR(200) PATH '$.b_detail',
               c_started DATETIME(6) PATH '$.c_started',
               c_ended DATETIME(6) PATH '$.c_ended',
               c_detail VARCHAR(400) PATH '$.c_detail',
               s_started DATETIME(6) PATH '$.s_started',
               s_ended DATETIME(6) PATH '$.s_ended',
               s_detail VARCHAR(200) PATH '$.s_detail',
               d_started DATETIME(6) PATH '$.d_started',
               d_ended DATETIME(6) PATH '$.d_ended',
               d_detail VARCHAR(400) PATH '$.d_detail',
               y_started DATETIME(6) PATH '$.y_started',
               y_ended DATETIME(6) PATH '$.y_ended',
               y_detail VARCHAR(200) PATH '$.y_detail',
               c_status VARCHAR(16) PATH '$.c_status',
               c_code VARCHAR(32) PATH '$.c_code')) AS r
        ON DUPLICATE KEY UPDATE lgr_guid = mst_logger.lgr_guid;
    SELECT lgr_guid FROM mst_logger
     WHERE lgr_guid IN (SELECT k.guid FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
                            guid CHAR(32) PATH '$.guid')) AS k);
END //

DELIMITER ;

-- The writers of one row per event (V001) are replaced by the ones above.
DROP PROCEDURE IF EXISTS sp_mst_logger_create;
DROP PROCEDURE IF EXISTS sp_mst_logger_create_many;
