"""A private single-node RabbitMQ: own node name, cookie, ports and mnesia, loopback only."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import subprocess
from pathlib import Path

from tests.faults.services.base import PrivateServer, ServiceError
from tests.faults.services.ports import LOOPBACK, free_port, port_accepts, prefer_ports

RABBITMQ_DEFAULT_PORT = 5673
RABBITMQ_DIST_OFFSET = 20000

_RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
_RABBITMQ_APPS_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins"
_instance_ids = itertools.count(1)


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


class PrivateRabbitMQ(PrivateServer):
    """A single-node RabbitMQ of our own: node `beds_fault_<pid>_<n>@localhost` on loopback.

    `port=None` tries 5673 (dist port 25673) and falls back to free ports; a port conflict
    on the first start (parallel runs) is retried on fresh free ports. `rabbitmqctl` always
    runs with `-n <private node>` and a private cookie, so it could not even authenticate
    against the shared node.
    """

    kind = "RabbitMQ"
    _slug = "rabbitmq"
    _pid_name = "rabbitmq.pid"

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
        super().__init__(
            fixed_ports=port is not None,
            start_timeout_s=start_timeout_s,
            stop_timeout_s=stop_timeout_s,
        )
        self.node = node or f"beds_fault_{os.getpid()}_{next(_instance_ids)}@localhost"
        if port is None:
            default_dist = RABBITMQ_DEFAULT_PORT + RABBITMQ_DIST_OFFSET
            port, dist_port = prefer_ports(RABBITMQ_DEFAULT_PORT, dist_port or default_dist)
        self.port = port
        self.dist_port: int = dist_port or free_port()
        self._refuse_shared_ports()
        self.user = "guest"
        self.password = "guest"
        self._minimal_plugins = minimal_plugins
        self._prepare_files()

    # ---- files and environment

    @property
    def mnesia_base(self) -> Path:
        return self.root / "mnesia"

    @property
    def log_base(self) -> Path:
        return self.root / "log"

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{LOOPBACK}:{self.port}/"

    def _prepare_files(self) -> None:
        for sub in ("mnesia", "log", "home", "conf.d"):
            (self.root / sub).mkdir()
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("# private: do not source /etc/rabbitmq\n")
        cookie = self.root / "home" / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        self._plugins_dir = self._link_minimal_plugins() if self._minimal_plugins else None
        self._write_config()

    def _link_minimal_plugins(self) -> Path | None:
        """A plugins dir holding just what `rabbit` needs: boots faster than the full set."""
        apps = sorted(Path("/").glob(_RABBITMQ_APPS_GLOB.lstrip("/")))
        if not apps:
            return None
        plugins_dir = self.root / "plugins"
        plugins_dir.mkdir()
        for app in _rabbit_app_closure(apps[-1]):
            (plugins_dir / app.name).symlink_to(app)
        return plugins_dir

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

    def _log_files(self) -> list[Path]:
        return [self.root / "server.out", self.log_base / f"{self.node}.log"]

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

    # ---- lifecycle hooks

    @classmethod
    def available(cls) -> bool:
        return (_RABBITMQ_BIN / "rabbitmq-server").exists()

    def _ports(self) -> tuple[int, ...]:
        return (self.port, self.dist_port)

    def _move_ports(self) -> None:
        self.port, self.dist_port = free_port(), free_port()
        self._write_config()

    def _argv(self) -> list[str]:
        return [str(_RABBITMQ_BIN / "rabbitmq-server")]

    def _ready(self, remaining: float) -> bool:
        # The port alone could be someone else's; await_startup on *our* node settles it
        # (a node whose listener cannot bind fails its boot and exits).
        if not port_accepts(self.port):
            return False
        wait_s = max(int(remaining), 1)
        res = self.ctl("await_startup", "--timeout", str(wait_s), timeout=wait_s + 15, check=False)
        if res.returncode == 0 and self._exited() is None:
            return True
        self._boot_note = f"(await_startup: {res.stdout.strip()} {res.stderr.strip()})"
        return False

    def _exit_message(self, code: int) -> str:
        return f"node {self.node} exited with {code} while booting"

    def _not_ready_message(self) -> str:
        return (
            f"node {self.node} not up on port {self.port} after "
            f"{self.start_timeout_s:.0f}s {self._boot_note}"
        )

    def _shutdown(self) -> None:
        """Graceful `rabbitmqctl -n <node> stop`, then wait for the VM to exit (bounded)."""
        try:
            self.ctl("stop", timeout=self.stop_timeout_s)
        except ServiceError:
            self._terminate(10.0)  # rabbit also stops gracefully on SIGTERM
        self._await_exit(
            self.stop_timeout_s,
            f"node {self.node} still alive {self.stop_timeout_s:.0f}s after stop",
        )

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
