-- Demo domain `order_line` (TLA orl). DBA-owned; idempotent. Contract with
-- templates/order_line_rec.toml and order_lines_rel.toml:
--   v_order_line                                        read view
--   sp_order_line_create(guid, order, sku, quantity, price)   idempotent on guid; the row
--   sp_order_line_create_many(rows)                     JSON array of create params; the rows
--   sp_order_line_update(guid, quantity, price)         NULL keeps a value
--   sp_order_line_delete(guid)                          one row `affected`
--   sp_order_line_by_orders(keys)                       JSON array of order guids; their lines

CREATE TABLE IF NOT EXISTS order_lines (
    orl_id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    orl_guid     CHAR(32)      NOT NULL,
    orl_order    CHAR(32)      NOT NULL,
    orl_sku      VARCHAR(64)   NOT NULL,
    orl_quantity INT           NOT NULL,
    orl_price    DECIMAL(12,2) NOT NULL,
    UNIQUE KEY uq_order_lines_guid (orl_guid),
    KEY ix_order_lines_order (orl_order),
    KEY ix_order_lines_sku (orl_sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE OR REPLACE VIEW v_order_line AS
    SELECT orl_guid, orl_order, orl_sku, orl_quantity, orl_price FROM order_lines;

DELIMITER //

CREATE OR REPLACE PROCEDURE sp_order_line_create(
    IN p_guid CHAR(32), IN p_order CHAR(32), IN p_sku VARCHAR(64), IN p_quantity INT,
    IN p_price DECIMAL(12,2))
BEGIN
    INSERT INTO order_lines (orl_guid, orl_order, orl_sku, orl_quantity, orl_price)
    VALUES (p_guid, p_order, p_sku, p_quantity, p_price)
        ON DUPLICATE KEY UPDATE orl_guid = orl_guid;
    SELECT * FROM v_order_line WHERE orl_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_order_line_create_many(IN p_rows LONGTEXT)
BEGIN
    INSERT INTO order_lines (orl_guid, orl_order, orl_sku, orl_quantity, orl_price)
    SELECT r.guid, r.ord, r.sku, r.quantity, r.price
      FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
               guid     CHAR(32)      PATH '$.guid',
               ord      CHAR(32)      PATH '$.order',
               sku      VARCHAR(64)   PATH '$.sku',
               quantity INT           PATH '$.quantity',
               price    DECIMAL(12,2) PATH '$.price')) AS r
        ON DUPLICATE KEY UPDATE orl_guid = order_lines.orl_guid;
    SELECT * FROM v_order_line
     WHERE orl_guid IN (SELECT k.guid FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
                            guid CHAR(32) PATH '$.guid')) AS k);
END //

CREATE OR REPLACE PROCEDURE sp_order_line_update(
    IN p_guid CHAR(32), IN p_quantity INT, IN p_price DECIMAL(12,2))
BEGIN
    UPDATE order_lines SET orl_quantity = COALESCE(p_quantity, orl_quantity),
                           orl_price = COALESCE(p_price, orl_price)
     WHERE orl_guid = p_guid;
    SELECT * FROM v_order_line WHERE orl_guid = p_guid;
END //

CREATE OR REPLACE PROCEDURE sp_order_line_delete(IN p_guid CHAR(32))
BEGIN
    DELETE FROM order_lines WHERE orl_guid = p_guid;
    SELECT ROW_COUNT() AS affected;
END //

CREATE OR REPLACE PROCEDURE sp_order_line_by_orders(IN p_keys LONGTEXT)
BEGIN
    SELECT l.* FROM v_order_line l
     WHERE l.orl_order IN (SELECT k.v FROM JSON_TABLE(p_keys, '$[*]' COLUMNS (
                               v CHAR(32) PATH '$')) AS k);
END //

DELIMITER ;
