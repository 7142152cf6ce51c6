-- BEDS demo domain `customer` (TLA cst). DBA-owned: BEDS only calls the view and procedures below.
-- Idempotent: safe to apply any number of times (`beds schema apply`, run by make run / make test).
-- Contract with templates/customer_rec.toml:
--   v_customer                    read view, one row per record, TLA-prefixed columns
--   sp_customer_create(guid, name, email)   inserts, returns the new row as v_customer does;
--                                 idempotent on guid: a redelivered create returns the first row
--   sp_customer_update(guid, name, email)   NULL keeps a column's value; returns the row, or no row
--   sp_customer_delete(guid)      returns one row with `affected` (0 = not found)

CREATE TABLE IF NOT EXISTS customer (
    cst_id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    cst_guid    CHAR(32)     NOT NULL,
    cst_name    VARCHAR(100) NOT NULL,
    cst_email   VARCHAR(254) NULL,
    cst_created DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    cst_updated DATETIME(3)  NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_customer_guid (cst_guid),
    KEY ix_customer_email (cst_email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE OR REPLACE VIEW v_customer AS
    SELECT cst_guid, cst_name, cst_email, cst_created, cst_updated FROM customer;

DELIMITER //

CREATE OR REPLACE PROCEDURE sp_customer_create(
    IN p_guid CHAR(32), IN p_name VARCHAR(100), IN p_email VARCHAR(254))
BEGIN
    -- BEDS derives the guid from the message id, so a second delivery of the same create
    -- must return the existing row instead of failing or inserting twice.
    INSERT INTO customer (cst_guid, cst_name, cst_email) VALUES (p_guid, p_name, p_email)
        ON DUPLICATE KEY UPDATE cst_guid = cst_guid;
    SELECT cst_guid, cst_name, cst_email, cst_created, cst_updated
      FROM v_customer WHERE cst_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_customer_update(
    IN p_guid CHAR(32), IN p_name VARCHAR(100), IN p_email VARCHAR(254))
BEGIN
    UPDATE customer
       SET cst_name = COALESCE(p_name, cst_name),
           cst_email = COALESCE(p_email, cst_email)
     WHERE cst_guid = p_guid;
    SELECT cst_guid, cst_name, cst_email, cst_created, cst_updated
      FROM v_customer WHERE cst_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_customer_delete(IN p_guid CHAR(32))
BEGIN
    DELETE FROM customer WHERE cst_guid = p_guid;
    SELECT ROW_COUNT() AS affected;
END //

DELIMITER ;
