-- Bulk create for the `customer` domain: one CALL for a whole batch of creates.
-- Contract with templates/customer_rec.toml (objects.create_many):
--   sp_customer_create_many(rows)  rows: a JSON array of objects with the create params as keys
--                                  ({"guid", "name", "email"}); inserts every row (idempotent on
--                                  guid, like sp_customer_create) and returns them as v_customer.
DELIMITER //

CREATE OR REPLACE PROCEDURE sp_customer_create_many(IN p_rows LONGTEXT)
BEGIN
    INSERT INTO customer (cst_guid, cst_name, cst_email)
    SELECT r.guid, r.name, r.email
      FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
               guid  CHAR(32)     PATH '$.guid',
               name  VARCHAR(100) PATH '$.name',
               email VARCHAR(254) PATH '$.email')) AS r
        ON DUPLICATE KEY UPDATE cst_guid = customer.cst_guid;
    SELECT cst_guid, cst_name, cst_email, cst_created, cst_updated
      FROM v_customer
     WHERE cst_guid IN (SELECT k.guid
                          FROM JSON_TABLE(p_rows, '$[*]' COLUMNS (
                                   guid CHAR(32) PATH '$.guid')) AS k);
END //

DELIMITER ;
