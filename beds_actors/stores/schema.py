"""Apply a store's versioned, idempotent DBA SQL files (`V001__name.sql`, …) in order."""

from __future__ import annotations

import hashlib
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import aiomysql
import pymysql

from beds_actors.config import StoreConfig

log = logging.getLogger("beds.schema")
VERSION_FILE = re.compile(r"^V(\d+)__[\w-]+\.sql$")
HISTORY_TABLE = "beds_schema_history"
# `-- comment` at the end of a line (MariaDB needs whitespace after the dashes).
_TRAILING_COMMENT = re.compile(r"(^|\s)--(\s.*)?$")


class SchemaError(Exception):
    """A schema file failed to apply; the message names the file and the statement."""


@dataclass(frozen=True)
class SchemaFile:
    version: int
    path: Path
    checksum: str


def schema_files(directory: str | Path) -> list[SchemaFile]:
    """The `V<n>__<name>.sql` files of `directory`, by version."""
    files = []
    for path in Path(directory).glob("*.sql"):
        match = VERSION_FILE.match(path.name)
        if match is None:
            raise SchemaError(f"{path}: schema files are named V<number>__<name>.sql")
        files.append(SchemaFile(int(match[1]), path, hashlib.sha256(path.read_bytes()).hexdigest()))
    files.sort(key=lambda f: f.version)
    return files


def split_statements(sql: str) -> list[str]:
    """Split a script on its delimiter, honouring `DELIMITER //` blocks as the mariadb CLI does."""
    statements: list[str] = []
    delimiter = ";"
    current: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith("DELIMITER "):
            delimiter = stripped.split(None, 1)[1]
            continue
        if not current and (not stripped or stripped.startswith("--")):
            continue
        code = _TRAILING_COMMENT.sub("", line).rstrip()
        current.append(code)
        if code.endswith(delimiter):
            text = "\n".join(current).rstrip()
            statements.append(text[: -len(delimiter)].strip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


async def apply_schema(store_name: str, cfg: StoreConfig) -> list[str]:
    """Apply new or changed files of the store's `schema_dir`; return what was applied."""
    if cfg.kind != "mariadb" or not cfg.schema_dir:
        return []
    ep = cfg.master
    try:
        conn = await aiomysql.connect(
            host=ep.host,
            port=ep.port,
            user=ep.user,
            password=ep.password,
            autocommit=True,
            connect_timeout=cfg.connect_timeout_s,
            charset="utf8mb4",
        )
    except (pymysql.err.MySQLError, OSError) as exc:
        raise SchemaError(
            f"store {store_name!r}: cannot connect to MariaDB at {ep.where}: {exc}"
        ) from None
    applied: list[str] = []
    # "IF NOT EXISTS" statements raise driver warnings on every idempotent re-run.
    warnings.filterwarnings("ignore", category=pymysql.Warning)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE IF NOT EXISTS `{ep.database}`")
            await cur.execute(f"USE `{ep.database}`")
            await cur.execute(
                f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (version INT PRIMARY KEY, "
                "name VARCHAR(255) NOT NULL, checksum CHAR(64) NOT NULL, "
                "applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))"
            )
            await cur.execute(f"SELECT version, checksum FROM {HISTORY_TABLE}")
            done = {int(v): c for v, c in await cur.fetchall()}
            for file in schema_files(cfg.schema_dir):
                if done.get(file.version) == file.checksum:
                    continue
                for statement in split_statements(file.path.read_text(encoding="utf-8")):
                    try:
                        await cur.execute(statement)
                    except pymysql.err.MySQLError as exc:
                        first = statement.splitlines()[0][:80]
                        raise SchemaError(
                            f"{file.path}: statement `{first}…` failed: {exc}"
                        ) from None
                await cur.execute(
                    f"REPLACE INTO {HISTORY_TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                    (file.version, file.path.name, file.checksum),
                )
                applied.append(file.path.name)
                log.info("store %s: applied %s", store_name, file.path.name)
    finally:
        conn.close()
    return applied
