-- Demo domain `order` (TLA ord). DBA-owned; idempotent. Contract with templates/order_rec.toml
-- and customer_orders_rel.toml:
--   v_order                                  read view
--   sp_order_create(guid, customer, status, total)   idempotent on guid; returns the row
--   sp_order_create_many(rows)               JSON array of create params; returns the rows
--   sp_order_update(guid, status, total)     NULL keeps a value; no row for an unknown guid
--   sp_order_delete(guid)                    one row `affected`
--   sp_order_by_customers(keys)              JSON array of customer guids; their orders

CREATE TABLE IF NOT EXISTS orders (
    ord_id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    ord_guid     CHAR(32)      NOT NULL,
    ord_customer CHAR(32)      NOT NULL,
    ord_status   VARCHAR(16)   NOT NULL DEFAULT 'new',
    ord_total    DECIMAL(12,2) NULL,
    ord_created  DATETIME(3)   NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_orders_guid (ord_guid),
    KEY ix_orders_customer (ord_customer),
    KEY ix_orders_status (ord_status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE OR REPLACE VIEW v_order AS
    SELECT ord_guid, ord_customer, ord_status, ord_total, ord_created FROM orders;

DELIMITER //

CREATE OR REPLACE PROCEDURE sp_order_create(
    IN p_guid CHAR(32), IN p_customer CHAR(32), IN p_status VARCHAR(16), IN p_total DECIMAL(12,2))
BEGIN
    INSERT INTO orders (ord_guid, ord_customer, ord_status, ord_total)
    VALUES (p_guid, p_customer, COALESCE(p_status, 'new'), p_total)
        ON DUPLICATE KEY UPDATE ord_guid = ord_guid;
    SELECT * FROM v_order WHERE ord_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_order_create_many(IN p_rows LONGTEXT)
BEGIN
    INSERT INTO orders (ord_guid, ord_customer, ord_status, ord_total)
    SELECT r.guid, r.customer, COALESCE(r.status, 'new'), r.total
      FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
               guid     CHAR(32)      PATH '$.guid',
               customer CHAR(32)      PATH '$.customer',
               status   VARCHAR(16)   PATH '$.status',
               total    DECIMAL(12,2) PATH '$.total')) AS r
        ON DUPLICATE KEY UPDATE ord_guid = orders.ord_guid;
    SELECT * FROM v_order
     WHERE ord_guid IN (SELECT k.guid FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
                            guid CHAR(32) PATH '$.guid')) AS k);
END //

CREATE OR REPLACE PROCEDURE sp_order_update(
    IN p_guid CHAR(32), IN p_status VARCHAR(16), IN p_total DECIMAL(12,2))
BEGIN
    UPDATE orders SET ord_status = COALESCE(p_status, ord_status),
                      ord_total = COALESCE(p_total, ord_total)
     WHERE ord_guid = p_guid;
    SELECT * FROM v_order WHERE ord_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_order_delete(IN p_guid CHAR(32))
BEGIN
    DELETE FROM orders WHERE ord_guid = p_guid;
    SELECT ROW_COUNT() AS affected;
END //

CREATE OR REPLACE PROCEDURE sp_order_by_customers(IN p_keys LONGTEXT)
BEGIN
    SELECT o.* FROM v_order o
     WHERE o.ord_customer IN (SELECT k.v FROM JSON_TABLE(p_keys, '$[*]' COLUMNS (
                                  v CHAR(32) PATH '$')) AS k);
END //

DELIMITER ;
