"""The lifecycle shared by every private server: temp dir, spawn, bounded waits, kill, cleanup.

Cleanup is layered: `close()` (or the context manager / session fixture) stops gracefully and
removes the temp dir; a `weakref.finalize` (which also runs at interpreter exit) SIGKILLs
whatever is still alive and removes the dir; and servers spawned from the main thread carry a
parent-death signal (`setpriv --pdeathsig KILL`), so even a SIGKILLed pytest leaves nothing
behind. Gotcha: the parent-death signal is bound to the spawning *thread*, so it is only set
when spawning from the main thread (`astart()` & co. run in a worker thread and rely on the
finalizer instead).

Subclasses say how to launch their server and how to tell it is up (`_argv`, `_ready`, ...);
the order of events, the time budgets and the bookkeeping live here only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

from tests.faults.services.ports import LOOPBACK, SHARED_PORTS, free_port
from tests.faults.services.reaping import Procs, make_root, reap_stale_once

_ADDR_IN_USE = re.compile(r"eaddrinuse|address already in use|in use by another", re.IGNORECASE)
_POLL_S = 0.05


class ServiceError(RuntimeError):
    """A private server failed to start, stop or answer within its time budget."""


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class PrivateServer(ABC):
    """Process handling shared by all private servers: spawn, bounded waits, kill, cleanup.

    Subclasses set `port` (and any other ports) before their `__init__` returns.
    """

    kind: ClassVar[str] = "server"
    _slug: ClassVar[str]  # temp dir name part
    _pid_name: ClassVar[str]  # pid file the server writes into the temp dir
    port: int

    def __init__(self, *, fixed_ports: bool, start_timeout_s: float, stop_timeout_s: float) -> None:
        reap_stale_once()
        self.root = make_root(self._slug)
        self._procs = Procs(self.root)
        self._finalizer = weakref.finalize(self, Procs.reap, self._procs)
        self._lock = threading.RLock()
        self._fixed_ports = fixed_ports
        self._started_once = False
        self._closed = False
        self._boot_note = ""  # why the last `_ready` probe failed, for the not-ready error
        self.host = LOOPBACK
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.timings: dict[str, list[float]] = {"start": [], "stop": [], "kill": []}

    # ---- hooks

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """True when the server's binaries are installed."""

    @abstractmethod
    def _argv(self) -> list[str]:
        """Command line that runs the server in the foreground (its pid is the server's)."""

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    @abstractmethod
    def _ready(self, remaining: float) -> bool:
        """Whether the spawned server is provably ours and serving; `remaining` s of budget."""

    @abstractmethod
    def _log_files(self) -> list[Path]:
        """Files whose tails explain a failure, in the order they are shown."""

    def _exit_message(self, code: int) -> str:
        return f"exited with {code} while starting"  # `_fail` prefixes `kind`

    def _not_ready_message(self) -> str:
        return f"not ready after {self.start_timeout_s:.0f}s"

    def _ports(self) -> tuple[int, ...]:
        return (self.port,)

    def _move_ports(self) -> None:
        """After a port conflict on the first start: switch to fresh free ports."""
        self.port = free_port()

    def _before_boot(self) -> None:  # noqa: B027 - optional hook
        """Runs inside `start()`, before the server is spawned (and within its time budget)."""

    def _after_boot(self) -> None:  # noqa: B027 - optional hook
        """Runs inside `start()` once the server is up."""

    def _shutdown(self) -> None:
        """Graceful shutdown: SIGTERM, bounded wait (SIGKILL + error if it hangs)."""
        self._terminate(self.stop_timeout_s)

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
    def pid_file(self) -> Path:
        return self.root / self._pid_name

    @property
    def last_start_s(self) -> float | None:
        return self.timings["start"][-1] if self.timings["start"] else None

    @property
    def last_stop_s(self) -> float | None:
        return self.timings["stop"][-1] if self.timings["stop"] else None

    def log_tail(self, lines: int = 40) -> str:
        parts = [f"[{p.name}]\n{_tail(p, lines)}" for p in self._log_files() if p.exists()]
        return "\n".join(parts)

    def _refuse_shared_ports(self) -> None:
        ports = self._ports()
        if set(ports) & SHARED_PORTS:
            shown = "/".join(map(str, ports))
            raise ValueError(f"refusing to use a shared port: {shown}")

    def _check_usable(self) -> None:
        if self._closed:
            raise ServiceError(f"{self.kind} at {self.root} is closed")

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

    def _await_exit(self, timeout: float, failure: str) -> None:
        """Wait up to `timeout` for the server to exit; if it does not, SIGKILL it and raise."""
        if not self._wait_exit(timeout):
            self._procs.kill()
            raise self._fail(failure)
        self._procs.proc = None

    def _terminate(self, timeout: float) -> None:
        """SIGTERM, bounded wait, then SIGKILL; raises if SIGKILL was needed."""
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        self._await_exit(timeout, f"did not exit within {timeout:.0f}s of SIGTERM; SIGKILLed")

    # ---- lifecycle

    def start(self) -> None:
        """Start the server on its kept data; returns once it is provably ours and serving."""
        with self._lock:
            self._check_usable()
            if self.running:
                return
            t0 = time.monotonic()
            self._before_boot()
            self._boot(t0 + self.start_timeout_s)
            self._after_boot()
            self._started_once = True
            self.timings["start"].append(time.monotonic() - t0)

    def _boot(self, deadline: float) -> None:
        # Ports we picked may be grabbed by a parallel run before the server binds them: retry
        # on fresh ones, but never for caller-given ports or once clients know ours.
        attempts = 1 if (self._started_once or self._fixed_ports) else 3
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(deadline)
                return
            except ServiceError as exc:
                self._procs.kill()
                if attempt == attempts or not _ADDR_IN_USE.search(str(exc)):
                    raise
                self._move_ports()

    def _start_once(self, deadline: float) -> None:
        self._spawn(self._argv(), self._env(), self.root / "server.out")
        self._boot_note = ""
        while True:
            code = self._exited()
            if code is not None:
                raise self._fail(self._exit_message(code))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._procs.kill()
                raise self._fail(self._not_ready_message())
            if self._ready(remaining):
                return
            time.sleep(_POLL_S)

    def stop(self) -> None:
        """Graceful stop (bounded; SIGKILL + ServiceError if the server hangs)."""
        with self._lock:
            if not self.running:
                self._procs.proc = None
                return
            t0 = time.monotonic()
            self._shutdown()
            self.timings["stop"].append(time.monotonic() - t0)

    def kill(self) -> None:
        """SIGKILL the server process (and its helper children), as a crash would."""
        with self._lock:
            if not self.running:
                return
            t0 = time.monotonic()
            self._procs.kill()
            self.timings["kill"].append(time.monotonic() - t0)

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
