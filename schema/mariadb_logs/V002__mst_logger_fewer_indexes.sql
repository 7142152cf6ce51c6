-- Stores made by an earlier V001 carried an index per queryable field; each slowed every
-- insert (about four per request). Keep only the lookups BEDS makes (see V001). Idempotent.
ALTER TABLE mst_logger
    DROP INDEX IF EXISTS ix_mst_logger_parent,
    DROP INDEX IF EXISTS ix_mst_logger_node,
    DROP INDEX IF EXISTS ix_mst_logger_broker,
    DROP INDEX IF EXISTS ix_mst_logger_template,
    DROP INDEX IF EXISTS ix_mst_logger_status,
    DROP INDEX IF EXISTS ix_mst_logger_code,
    DROP INDEX IF EXISTS ix_mst_logger_message;
