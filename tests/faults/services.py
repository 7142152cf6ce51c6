"""Private RabbitMQ and MariaDB servers that fault-injection tests may stop, kill and restart.

Each instance owns a temp dir (data, logs, config, pid file, Erlang cookie), its own ports and,
for RabbitMQ, its own Erlang node name. Everything listens on 127.0.0.1 only. The machine's
shared servers (RabbitMQ `rabbit@localhost` on 5672/25672, MariaDB on 3306) are never
addressed: no signal is sent to any pid but the one this harness spawned (and that pid's own
children), and `rabbitmqctl` always runs with `-n <private node>` and a private cookie, so it
could not even authenticate against the shared node.

Cleanup is layered: `close()` (or the context manager / session fixture) stops gracefully and
removes the temp dir; a `weakref.finalize` (which also runs at interpreter exit) SIGKILLs
whatever is still alive and removes the dir; and servers spawned from the main thread carry a
parent-death signal (`setpriv --pdeathsig KILL`), so even a SIGKILLed pytest leaves nothing
behind. Gotcha: the parent-death signal is bound to the spawning *thread*, so it is only set
when spawning from the main thread (`astart()` & co. run in a worker thread and rely on the
finalizer instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import psutil

LOOPBACK = "127.0.0.1"

RABBITMQ_DEFAULT_PORT = 5673
RABBITMQ_DIST_OFFSET = 20000
MARIADB_DEFAULT_PORT = 3307

# Ports of the machine's shared servers: never chosen, whatever the caller asks for.
SHARED_PORTS = frozenset({5672, 25672, 3306, 4369})

_RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
_RABBITMQ_APPS_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins"
_ADDR_IN_USE = re.compile(r"eaddrinuse|address already in use|in use by another", re.IGNORECASE)
_instance_ids = itertools.count(1)


class ServiceError(RuntimeError):
    """A private server failed to start, stop or answer within its time budget."""


# --------------------------------------------------------------------------- helpers


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:`port` can be bound (as a server with SO_REUSEADDR would)."""
    if port in SHARED_PORTS:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A currently free loopback port chosen by the kernel."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if port not in SHARED_PORTS:
            return port


def port_accepts(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class _Procs:
    """What the finalizer needs, held apart from the service so the service can be collected."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _kill_tree(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self.proc = None

    def reap(self) -> None:
        """Finalizer / atexit: SIGKILL what is left, remove the temp dir."""
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its descendants (never epmd: it may be serving the shared node)."""
    try:
        root = psutil.Process(pid)
        children = root.children(recursive=True)
    except psutil.Error:
        children = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.name() != "epmd":
                child.kill()


_TMP_PREFIX = "beds-fault-"
_stale_reaped = False


def reap_stale() -> None:
    """Remove temp dirs (and stray servers) left by harness processes that died uncleanly.

    A server is only killed when its pid file's process provably belongs to that dir (the dir
    appears in its command line or environment), so a recycled pid is never hit.
    """
    for d in Path(tempfile.gettempdir()).glob(_TMP_PREFIX + "*"):
        try:
            owner = int((d / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if psutil.pid_exists(owner):
            continue
        for pid_file in (d / "rabbitmq.pid", d / "mariadbd.pid"):
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                proc = psutil.Process(int(pid_file.read_text().strip()))
                marks = " ".join(proc.cmdline()) + " " + " ".join(proc.environ().values())
                if str(d) in marks:
                    _kill_tree(proc.pid)
        shutil.rmtree(d, ignore_errors=True)


class _PrivateServer:
    """Process handling shared by both servers: spawn, bounded waits, kill, cleanup."""

    kind = "server"

    def __init__(self, prefix: str) -> None:
        global _stale_reaped
        if not _stale_reaped:
            _stale_reaped = True
            with contextlib.suppress(Exception):
                reap_stale()
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        (self.root / "owner.pid").write_text(f"{os.getpid()}\n")
        self._procs = _Procs(self.root)
        self._finalizer = weakref.finalize(self, _Procs.reap, self._procs)
        self._lock = threading.RLock()
        self._started_once = False
        self._closed = False
        self.timings: dict[str, list[float]] = {"start": [], "stop": [], "kill": []}

    # ---- state

    @property
    def pid(self) -> int | None:
        """Pid of the running server process (the beam / mariadbd itself), else None."""
        proc = self._procs.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def last_start_s(self) -> float | None:
        return self.timings["start"][-1] if self.timings["start"] else None

    @property
    def last_stop_s(self) -> float | None:
        return self.timings["stop"][-1] if self.timings["stop"] else None

    def log_tail(self, lines: int = 40) -> str:
        raise NotImplementedError

    # ---- process plumbing

    def _spawn(self, argv: Sequence[str], env: dict[str, str], out: Path) -> None:
        cmd = list(argv)
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # exec chain keeps the pid; the server dies with the test process even on SIGKILL.
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        with out.open("ab") as fh:
            self._procs.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.root,
                start_new_session=True,
            )

    def _exited(self) -> int | None:
        proc = self._procs.proc
        return None if proc is None else proc.poll()

    def _fail(self, what: str) -> ServiceError:
        return ServiceError(
            f"{self.kind} {what}\n--- log tail ({self.root}) ---\n{self.log_tail()}"
        )

    def _wait_exit(self, timeout: float) -> bool:
        proc = self._procs.proc
        if proc is None:
            return True
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _terminate(self, timeout: float) -> None:
        """SIGTERM, bounded wait, then SIGKILL; raises if SIGKILL was needed."""
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(timeout):
            self._procs.kill()
            raise self._fail(f"did not exit within {timeout:.0f}s of SIGTERM; SIGKILLed")
        self._procs.proc = None

    def kill(self) -> None:
        """SIGKILL the server process (and its helper children), as a crash would."""
        with self._lock:
            if not self.running:
                return
            t0 = time.monotonic()
            self._procs.kill()
            self.timings["kill"].append(time.monotonic() - t0)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Graceful stop then start, keeping data, ports and (RabbitMQ) node name."""
        with self._lock:
            self.stop()
            self.start()

    def close(self) -> None:
        """Stop (gracefully if possible), kill leftovers and remove the temp dir. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self.running:
                    self.stop()
            except Exception:
                pass
            finally:
                self._finalizer()

    # ---- async conveniences (run the blocking call in a worker thread)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_usable(self) -> None:
        if self._closed:
            raise ServiceError(f"{self.kind} at {self.root} is closed")


# --------------------------------------------------------------------------- RabbitMQ


def _erlang_app_deps(app_file: Path) -> list[str]:
    text = app_file.read_text(errors="replace")
    deps: list[str] = []
    for key in ("applications", "included_applications"):
        m = re.search(r"\{\s*" + key + r"\s*,\s*\[([^\]]*)\]", text)
        if m:
            deps += [d.strip() for d in m.group(1).split(",") if d.strip()]
    return deps


def _rabbit_app_closure(apps_dir: Path) -> list[Path]:
    """App dirs under `apps_dir` that the `rabbit` application needs (no optional plugins)."""
    by_name: dict[str, Path] = {}
    for d in apps_dir.iterdir():
        if d.is_dir():
            by_name[d.name.rsplit("-", 1)[0]] = d
    seen: set[str] = set()
    todo = ["rabbit"]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue  # OTP apps (kernel, ssl, ...) are on the default code path
        seen.add(name)
        app_file = by_name[name] / "ebin" / f"{name}.app"
        if app_file.exists():
            todo += _erlang_app_deps(app_file)
    return [by_name[n] for n in sorted(seen)]


class PrivateRabbitMQ(_PrivateServer):
    """A single-node RabbitMQ of our own: node `beds_fault_<pid>_<n>@localhost` on loopback.

    `port=None` tries 5673 (dist port 25673) and falls back to free ports; a port conflict
    on the first start (parallel runs) is retried on fresh free ports.
    """

    kind = "RabbitMQ"

    def __init__(
        self,
        port: int | None = None,
        *,
        dist_port: int | None = None,
        node: str | None = None,
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
        minimal_plugins: bool = True,
    ) -> None:
        super().__init__(_TMP_PREFIX + "rabbitmq-")
        self.node = node or f"beds_fault_{os.getpid()}_{next(_instance_ids)}@localhost"
        self._fixed_ports = port is not None
        if port is None:
            port = RABBITMQ_DEFAULT_PORT
            dist_port = dist_port or port + RABBITMQ_DIST_OFFSET
            if not (port_is_free(port) and port_is_free(dist_port)):
                port, dist_port = free_port(), free_port()
        self.port: int = port
        self.dist_port: int = dist_port or free_port()
        if {self.port, self.dist_port} & SHARED_PORTS:
            raise ValueError(f"refusing to use a shared port: {self.port}/{self.dist_port}")
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.user = "guest"
        self.password = "guest"
        self.host = LOOPBACK
        self._minimal_plugins = minimal_plugins
        self._prepare()

    # ---- files and environment

    @property
    def mnesia_base(self) -> Path:
        return self.root / "mnesia"

    @property
    def log_base(self) -> Path:
        return self.root / "log"

    @property
    def pid_file(self) -> Path:
        return self.root / "rabbitmq.pid"

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{LOOPBACK}:{self.port}/"

    def _prepare(self) -> None:
        for sub in ("mnesia", "log", "home", "conf.d"):
            (self.root / sub).mkdir()
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("# private: do not source /etc/rabbitmq\n")
        cookie = self.root / "home" / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        self._plugins_dir: Path | None = None
        if self._minimal_plugins:
            apps = sorted(Path("/").glob(_RABBITMQ_APPS_GLOB.lstrip("/")))
            if apps:
                self._plugins_dir = self.root / "plugins"
                self._plugins_dir.mkdir()
                for app in _rabbit_app_closure(apps[-1]):
                    (self._plugins_dir / app.name).symlink_to(app)
        self._write_config()

    def _write_config(self) -> None:
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {LOOPBACK}:{self.port}\n"
            "loopback_users.guest = true\n"
            "log.file.level = info\n"
        )

    def _env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RABBITMQ_", "ERL_", "CTL_", "NODENAME", "NODE_"))
        }
        loopback_dist = "-kernel inet_dist_use_interface {127,0,0,1}"
        env.update(
            HOME=str(self.root / "home"),  # private Erlang cookie
            ERL_EPMD_ADDRESS=LOOPBACK,
            RABBITMQ_CONF_ENV_FILE=str(self.root / "rabbitmq-env.conf"),
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS=LOOPBACK,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.mnesia_base),
            RABBITMQ_LOG_BASE=str(self.log_base),
            RABBITMQ_PID_FILE=str(self.pid_file),
            RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq.conf"),
            RABBITMQ_CONFIG_FILES=str(self.root / "conf.d"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.root / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
            RABBITMQ_MOTD_FILE=str(self.root / "motd"),
            # exec the VM in place of the script: the spawned pid *is* the beam pid.
            RABBITMQ_ALLOW_INPUT="1",
            RABBITMQ_SERVER_START_ARGS="-noinput",
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=loopback_dist,
            RABBITMQ_CTL_ERL_ARGS=loopback_dist,
        )
        if self._plugins_dir is not None:
            env["RABBITMQ_PLUGINS_DIR"] = str(self._plugins_dir)
        return env

    def log_tail(self, lines: int = 40) -> str:
        parts = [
            f"[{p.name}]\n{_tail(p, lines)}"
            for p in [self.root / "server.out", self.log_base / f"{self.node}.log"]
            if p.exists()
        ]
        return "\n".join(parts)

    # ---- rabbitmqctl, always against our node

    def ctl(
        self, *args: str, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `rabbitmqctl -n <our node> ...` with our cookie; returns the completed process."""
        try:
            res = subprocess.run(
                [str(_RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
                env=self._env(),
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise self._fail(
                f"rabbitmqctl {' '.join(args)} timed out after {timeout:.0f}s"
            ) from exc
        if check and res.returncode != 0:
            raise self._fail(
                f"rabbitmqctl {' '.join(args)} exited {res.returncode}: "
                f"{res.stdout.strip()} {res.stderr.strip()}"
            )
        return res

    # ---- lifecycle

    @classmethod
    def available(cls) -> bool:
        return (_RABBITMQ_BIN / "rabbitmq-server").exists()

    def start(self) -> None:
        """Boot the node; returns once AMQP accepts connections and `await_startup` passed."""
        with self._lock:
            self._check_usable()
            if self.running:
                return
            t0 = time.monotonic()
            attempts = 1 if (self._started_once or self._fixed_ports) else 3
            for attempt in range(1, attempts + 1):
                try:
                    self._start_once(t0 + self.start_timeout_s)
                    break
                except ServiceError as exc:
                    self._procs.kill()
                    if attempt == attempts or not _ADDR_IN_USE.search(str(exc)):
                        raise
                    self.port, self.dist_port = free_port(), free_port()
                    self._write_config()
            self._started_once = True
            self.timings["start"].append(time.monotonic() - t0)

    def _start_once(self, deadline: float) -> None:
        self._spawn([str(_RABBITMQ_BIN / "rabbitmq-server")], self._env(), self.root / "server.out")
        last_ctl = ""
        while True:
            if self._exited() is not None:
                raise self._fail(f"node {self.node} exited with {self._exited()} while booting")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._procs.kill()
                raise self._fail(
                    f"node {self.node} not up on port {self.port} after "
                    f"{self.start_timeout_s:.0f}s {last_ctl}"
                )
            # The port alone could be someone else's; await_startup on *our* node settles it
            # (a node whose listener cannot bind fails its boot and exits).
            if port_accepts(self.port):
                wait_s = max(int(remaining), 1)
                res = self.ctl(
                    "await_startup", "--timeout", str(wait_s), timeout=wait_s + 15, check=False
                )
                if res.returncode == 0 and self._exited() is None:
                    return
                last_ctl = f"(await_startup: {res.stdout.strip()} {res.stderr.strip()})"
            time.sleep(0.05)

    def stop(self) -> None:
        """Graceful `rabbitmqctl -n <node> stop`, then wait for the VM to exit (bounded)."""
        with self._lock:
            if not self.running:
                self._procs.proc = None
                return
            t0 = time.monotonic()
            try:
                self.ctl("stop", timeout=self.stop_timeout_s)
            except ServiceError:
                self._terminate(10.0)  # rabbit also stops gracefully on SIGTERM
            if not self._wait_exit(self.stop_timeout_s):
                self._procs.kill()
                raise self._fail(
                    f"node {self.node} still alive {self.stop_timeout_s:.0f}s after stop"
                )
            self._procs.proc = None
            self.timings["stop"].append(time.monotonic() - t0)

    def kill(self) -> None:
        """SIGKILL this node's beam (the spawned pid, cross-checked against its pid file)."""
        pid = self.pid
        if pid is not None and self.pid_file.exists():
            with contextlib.suppress(ValueError, OSError):
                recorded = int(self.pid_file.read_text().strip())
                if recorded != pid:
                    raise ServiceError(
                        f"pid file says {recorded}, spawned beam is {pid}: not killing"
                    )
        super().kill()


# --------------------------------------------------------------------------- MariaDB


def _which(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for f in fallbacks:
        if Path(f).exists():
            return f
    return None


class PrivateMariaDB(_PrivateServer):
    """A MariaDB server of our own on loopback with user beds/beds and database `beds_fault`.

    The datadir is created once (mariadb-install-db) and kept across stop/start/kill.
    """

    kind = "MariaDB"

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
        super().__init__(_TMP_PREFIX + "mariadb-")
        self._fixed_ports = port is not None
        if port is None:
            port = MARIADB_DEFAULT_PORT if port_is_free(MARIADB_DEFAULT_PORT) else free_port()
        if port in SHARED_PORTS:
            raise ValueError(f"refusing to use a shared port: {port}")
        self.port: int = port
        self.host = LOOPBACK
        self.user = user
        self.password = password
        self.database = database
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
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
    def pid_file(self) -> Path:
        return self.root / "mariadbd.pid"

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

    def log_tail(self, lines: int = 40) -> str:
        parts = [
            f"[{p.name}]\n{_tail(p, lines)}"
            for p in [self.root / "install.log", self.root / "server.out", self.error_log]
            if p.exists()
        ]
        return "\n".join(parts)

    @classmethod
    def available(cls) -> bool:
        return bool(_which("mariadbd", "/usr/sbin/mariadbd")) and bool(_which("mariadb-install-db"))

    def _server_opts(self) -> list[str]:
        return [
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--skip-log-bin",
            "--skip-name-resolve",
            *self._extra_args,
        ]

    def _install(self) -> None:
        install_db = _which("mariadb-install-db")
        if install_db is None:
            raise ServiceError("mariadb-install-db not found")
        with (self.root / "install.log").open("wb") as fh:
            try:
                res = subprocess.run(
                    [
                        install_db,
                        "--no-defaults",
                        f"--datadir={self.datadir}",
                        "--user=root",
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                        *self._server_opts(),
                    ],
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

    def start(self) -> None:
        """Start mariadbd on the kept datadir; first start also installs it and adds the user."""
        with self._lock:
            self._check_usable()
            if self.running:
                return
            t0 = time.monotonic()
            if not self._installed:
                self._install()
            attempts = 1 if (self._started_once or self._fixed_ports) else 3
            for attempt in range(1, attempts + 1):
                try:
                    self._start_once(t0 + self.start_timeout_s)
                    break
                except ServiceError as exc:
                    self._procs.kill()
                    if attempt == attempts or not _ADDR_IN_USE.search(str(exc)):
                        raise
                    self.port = free_port()
            if not self._provisioned:
                self._provision()
            self._started_once = True
            self.timings["start"].append(time.monotonic() - t0)

    def _start_once(self, deadline: float) -> None:
        mariadbd = _which("mariadbd", "/usr/sbin/mariadbd")
        if mariadbd is None:
            raise ServiceError("mariadbd not found")
        argv = [
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
        self._spawn(argv, dict(os.environ), self.root / "server.out")
        # Our own unix socket answering proves it is *our* server; then TCP must accept too.
        while True:
            if self._exited() is not None:
                raise self._fail(f"mariadbd exited with {self._exited()} while starting")
            if time.monotonic() > deadline:
                self._procs.kill()
                raise self._fail(f"not ready after {self.start_timeout_s:.0f}s")
            if self.socket_path.exists():
                try:
                    self._root_connect(timeout=1.0).close()
                except Exception:
                    pass
                else:
                    if port_accepts(self.port):
                        return
            time.sleep(0.05)

    def stop(self) -> None:
        """Graceful shutdown: SIGTERM, bounded wait (SIGKILL + error if it hangs)."""
        with self._lock:
            if not self.running:
                self._procs.proc = None
                return
            t0 = time.monotonic()
            self._terminate(self.stop_timeout_s)
            self.timings["stop"].append(time.monotonic() - t0)
