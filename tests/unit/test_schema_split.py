"""Splitting DBA SQL scripts into statements, and finding the versioned schema files."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from beds_actors.stores.schema import SchemaError, schema_files, split_statements


def split(sql: str) -> list[str]:
    return split_statements(textwrap.dedent(sql))


def test_plain_statements_split_on_semicolons():
    assert split("CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n") == [
        "CREATE TABLE a (x INT)",
        "INSERT INTO a VALUES (1)",
    ]


def test_multi_line_statement_stays_whole():
    assert split("CREATE TABLE a (\n  x INT,\n  y INT\n);\n") == [
        "CREATE TABLE a (\n  x INT,\n  y INT\n)"
    ]


def test_comments_and_blank_lines_between_statements_are_dropped():
    sql = """
        -- header comment;

        SELECT 1;

        -- between
        SELECT 2;
    """
    assert split(sql) == ["SELECT 1", "SELECT 2"]


def test_delimiter_block_keeps_procedure_body_semicolons():
    sql = """
        CREATE TABLE t (x INT);
        DELIMITER //
        CREATE PROCEDURE p()
        BEGIN
            INSERT INTO t VALUES (1);
            SELECT x FROM t;
        END //
        delimiter ;
        SELECT 3;
    """
    statements = split(sql)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE PROCEDURE p()")
    assert statements[1].endswith("END")
    assert "SELECT x FROM t;" in statements[1]
    assert statements[2] == "SELECT 3"


def test_unterminated_tail_is_kept():
    assert split("SELECT 1;\nSELECT 2\n") == ["SELECT 1", "SELECT 2"]


def test_shipped_customer_schema_has_five_statements(repo_root):
    sql = (repo_root / "schema" / "mariadb" / "V001__customer.sql").read_text(encoding="utf-8")
    heads = [s.splitlines()[0] for s in split_statements(sql)]
    assert heads == [
        "CREATE TABLE IF NOT EXISTS customer (",
        "CREATE OR REPLACE VIEW v_customer AS",
        "CREATE OR REPLACE PROCEDURE sp_customer_create(",
        "CREATE OR REPLACE PROCEDURE sp_customer_update(",
        "CREATE OR REPLACE PROCEDURE sp_customer_delete(IN p_guid CHAR(32))",
    ]


def test_shipped_statements_carry_no_delimiters(repo_root):
    sql = (repo_root / "schema" / "mariadb" / "V001__customer.sql").read_text(encoding="utf-8")
    for statement in split_statements(sql):
        assert not statement.endswith((";", "//"))
        assert "DELIMITER" not in statement.upper()


def test_trailing_comment_after_delimiter_still_ends_the_statement():
    assert split("SELECT 1; -- first\nSELECT 2;\n") == ["SELECT 1", "SELECT 2"]


def test_schema_files_sort_by_numeric_version(tmp_path):
    for name in ("V10__later.sql", "V2__second.sql", "V001__first.sql"):
        (tmp_path / name).write_text(f"-- {name}\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not sql", encoding="utf-8")
    files = schema_files(tmp_path)
    assert [(f.version, f.path.name) for f in files] == [
        (1, "V001__first.sql"),
        (2, "V2__second.sql"),
        (10, "V10__later.sql"),
    ]
    assert files[0].checksum == hashlib.sha256(b"-- V001__first.sql\n").hexdigest()


@pytest.mark.parametrize("name", ["customer.sql", "V1_customer.sql", "v1__customer.sql"])
def test_schema_files_reject_a_badly_named_file(tmp_path, name):
    (tmp_path / "V001__ok.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"V<number>__<name>\.sql") as info:
        schema_files(tmp_path)
    assert name in str(info.value)
