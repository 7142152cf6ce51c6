"""A private MariaDB server: own datadir, socket and port on loopback, app user and database."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.faults.services.base import PrivateServer, ServiceError
from tests.faults.services.ports import LOOPBACK, port_accepts, prefer_ports

MARIADB_DEFAULT_PORT = 3307


def _which(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for f in fallbacks:
        if Path(f).exists():
            return f
    return None


class PrivateMariaDB(PrivateServer):
    """A MariaDB server of our own on loopback with user beds/beds and database `beds_fault`.

    The datadir is created once (mariadb-install-db) and kept across stop/start/kill; the
    first start also adds the app user and database. Stopping is SIGTERM, bounded.
    """

    kind = "MariaDB"
    _slug = "mariadb"
    _pid_name = "mariadbd.pid"

    def __init__(
        self,
        port: int | None = None,
        *,
        user: str = "beds",
        password: str = "beds",
        database: str = "beds_fault",
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        super().__init__(
            fixed_ports=port is not None,
            start_timeout_s=start_timeout_s,
            stop_timeout_s=stop_timeout_s,
        )
        if port is None:
            (port,) = prefer_ports(MARIADB_DEFAULT_PORT)
        self.port = port
        self._refuse_shared_ports()
        self.user = user
        self.password = password
        self.database = database
        self._extra_args = list(extra_args)
        self._installed = False
        self._provisioned = False

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_path(self) -> Path:
        return self.root / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        return self.root / "error.log"

    @property
    def url(self) -> str:
        return f"mysql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for aiomysql.connect / pymysql.connect as the app user."""
        kw: dict[str, Any] = {
            "host": LOOPBACK,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "db": self.database,
        }
        kw.update(overrides)
        return kw

    def _log_files(self) -> list[Path]:
        return [self.root / "install.log", self.root / "server.out", self.error_log]

    @classmethod
    def available(cls) -> bool:
        return bool(_which("mariadbd", "/usr/sbin/mariadbd")) and bool(_which("mariadb-install-db"))

    # ---- one-time setup: datadir, then app user and database

    def _server_opts(self) -> list[str]:
        return [
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--skip-log-bin",
            "--skip-name-resolve",
            *self._extra_args,
        ]

    def _before_boot(self) -> None:
        if not self._installed:
            self._install()

    def _after_boot(self) -> None:
        if not self._provisioned:
            self._provision()

    def _install(self) -> None:
        install_db = _which("mariadb-install-db")
        if install_db is None:
            raise ServiceError("mariadb-install-db not found")
        argv = [
            install_db,
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *self._server_opts(),
        ]
        with (self.root / "install.log").open("wb") as fh:
            try:
                res = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    timeout=self.start_timeout_s,
                )
            except subprocess.TimeoutExpired as exc:
                raise self._fail("mariadb-install-db timed out") from exc
        if res.returncode != 0:
            raise self._fail(f"mariadb-install-db exited {res.returncode}")
        self._installed = True

    def _root_connect(self, timeout: float = 2.0) -> Any:
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", password="", connect_timeout=timeout
        )

    def _provision(self) -> None:
        q = "`" + self.database.replace("`", "``") + "`"
        grant_db = "`" + self.user.replace("`", "``") + "%%`"  # %% : pymysql formats the query
        conn = self._root_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {q}")
                for host in (LOOPBACK, "localhost"):
                    cur.execute(
                        "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s",
                        (self.user, host, self.password),
                    )
                    cur.execute(f"GRANT ALL ON {grant_db}.* TO %s@%s", (self.user, host))
                    cur.execute(f"GRANT ALL ON {q}.* TO %s@%s", (self.user, host))
            conn.commit()
        finally:
            conn.close()
        self._provisioned = True

    # ---- lifecycle hooks

    def _argv(self) -> list[str]:
        mariadbd = _which("mariadbd", "/usr/sbin/mariadbd")
        if mariadbd is None:
            raise ServiceError("mariadbd not found")
        return [
            mariadbd,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--bind-address={LOOPBACK}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.error_log}",
            "--user=root",
            *self._server_opts(),
        ]

    def _ready(self, remaining: float) -> bool:
        # Our own unix socket answering proves it is *our* server; then TCP must accept too.
        if not self.socket_path.exists():
            return False
        try:
            self._root_connect(timeout=1.0).close()
        except Exception:
            return False
        return port_accepts(self.port)

    def _exit_message(self, code: int) -> str:
        return f"mariadbd exited with {code} while starting"
