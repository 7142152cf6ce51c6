"""Leaving nothing behind: SIGKILL a server's process tree, remove its temp dir, and reap
what harness processes that died uncleanly left (only provably theirs)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psutil

TMP_PREFIX = "beds-fault-"
_OWNER_FILE = "owner.pid"  # pid of the harness process that made the dir


def make_root(slug: str) -> Path:
    """A fresh temp dir for one server, marked with our pid so `reap_stale` can judge it."""
    root = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{slug}-"))
    (root / _OWNER_FILE).write_text(f"{os.getpid()}\n")
    return root


def kill_tree(pid: int) -> None:
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


class Procs:
    """What the finalizer needs, held apart from the service so the service can be collected."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            kill_tree(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        self.proc = None

    def reap(self) -> None:
        """Finalizer / atexit: SIGKILL what is left, remove the temp dir."""
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def reap_stale() -> None:
    """Remove temp dirs (and stray servers) left by harness processes that died uncleanly.

    A server is only killed when its pid file's process provably belongs to that dir (the dir
    appears in its command line or environment), so a recycled pid is never hit.
    """
    for d in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        try:
            owner = int((d / _OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if psutil.pid_exists(owner):
            continue
        for pid_file in d.glob("*.pid"):
            if pid_file.name != _OWNER_FILE:
                _kill_if_owned_by(pid_file, d)
        shutil.rmtree(d, ignore_errors=True)


def _kill_if_owned_by(pid_file: Path, root: Path) -> None:
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        proc = psutil.Process(int(pid_file.read_text().strip()))
        marks = " ".join(proc.cmdline()) + " " + " ".join(proc.environ().values())
        if str(root) in marks:
            kill_tree(proc.pid)


@functools.cache
def reap_stale_once() -> None:
    """`reap_stale` on the first server of this process only; never fails the caller."""
    with contextlib.suppress(Exception):
        reap_stale()
