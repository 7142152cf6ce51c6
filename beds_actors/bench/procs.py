"""CPU seconds and memory per process group: generator, BEDS actors, Ray, RabbitMQ, MariaDB."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

RABBITMQ = frozenset({"beam.smp", "erl_child_setup", "inet_gethost", "epmd"})
MARIADB = frozenset({"mariadbd", "mysqld"})
RAY_DAEMONS = frozenset({"raylet", "gcs_server"})
SERVICE_PORTS = {5672: "rabbitmq", 3306: "mariadb"}


def service_pids(ports: Mapping[int, str] = SERVICE_PORTS) -> dict[int, str]:
    """The processes listening on the shared RabbitMQ and MariaDB ports.

    Other instances of the same servers (a test's private broker, say) then count as `other`.
    """
    out: dict[int, str] = {}
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.pid and conn.laddr.port in ports:
                out[conn.pid] = ports[conn.laddr.port]
    except psutil.AccessDenied:
        return {}
    return out


def classify(proc: psutil.Process, labels: Mapping[int, str]) -> str:
    """The group a process belongs to.

    `labels` maps pids (and, via `with_children`, their descendants) to a group: the shared
    services (`service_pids`) and the systems under test. A pid labelled `beds` (a `beds up`
    process) is split into broker actors, adapter actors, Ray's own processes and the driver.
    When systems under test are labelled, Ray or BEDS processes outside them (another Ray on
    the same machine) count as `other`; without labels they are recognised by name.
    """
    if proc.pid == os.getpid():
        return "generator"
    label = labels.get(proc.pid)
    if label is not None and label != "beds":
        return label
    try:
        name = proc.name()
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    services = set(SERVICE_PORTS.values())
    if not services & set(labels.values()):  # no listener found: recognise servers by name
        if name in RABBITMQ:
            return "rabbitmq"
        if name in MARIADB:
            return "mariadb"
    if label is None and set(labels.values()) - services:
        return "other"
    if cmd.startswith("ray::BrokerActor"):
        return "beds broker"
    if cmd.startswith("ray::AdapterActor"):
        return "beds adapter"
    if "bin/beds up" in cmd or cmd.endswith("beds_actors.cli.main up"):
        return "beds driver"
    if name in RAY_DAEMONS or cmd.startswith("ray::") or "/ray/" in cmd:
        return "ray"
    return "other"


def with_children(pids: Mapping[int, str]) -> dict[int, str]:
    """Label every descendant of each given pid like its ancestor (the services included)."""
    out = {**service_pids(), **pids}
    for pid, label in list(out.items()):
        try:
            for child in psutil.Process(pid).children(recursive=True):
                out.setdefault(child.pid, label)
        except psutil.NoSuchProcess:
            continue
    return out


@dataclass
class CpuSnapshot:
    """CPU times of every process, and of the machine, at one instant."""

    at: float
    procs: dict[tuple[int, float], tuple[str, str, float]]  # (pid, start) -> group, name, cpu
    busy: float

    @classmethod
    def take(cls, labels: Mapping[int, str] | None = None) -> CpuSnapshot:
        """Read every process's user+system CPU seconds."""
        labels = with_children(labels or {})
        procs: dict[tuple[int, float], tuple[str, str, float]] = {}
        for proc in psutil.process_iter(["name", "create_time", "cpu_times"]):
            info = proc.info
            times = info.get("cpu_times")
            if times is None:
                continue
            key = (proc.pid, info.get("create_time") or 0.0)
            cpu = times.user + times.system
            procs[key] = (classify(proc, labels), info.get("name") or "?", cpu)
        total = psutil.cpu_times()
        busy = sum(total) - total.idle - getattr(total, "iowait", 0.0)
        return cls(time.monotonic(), procs, busy)


@dataclass
class CpuUsage:
    """CPU seconds spent between two snapshots, by group and by process."""

    elapsed_s: float
    machine_busy_s: float
    cores: int
    groups: dict[str, float] = field(default_factory=dict)
    processes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "machine_busy_s": round(self.machine_busy_s, 3),
            "machine_util": round(self.machine_busy_s / (self.elapsed_s * self.cores), 3)
            if self.elapsed_s > 0
            else 0.0,
            "cores": self.cores,
            "groups": {k: round(v, 3) for k, v in sorted(self.groups.items())},
            "processes": self.processes,
        }


def cpu_between(before: CpuSnapshot, after: CpuSnapshot, min_s: float = 0.05) -> CpuUsage:
    """Group the CPU spent between two snapshots; processes born meanwhile count fully."""
    usage = CpuUsage(after.at - before.at, after.busy - before.busy, psutil.cpu_count() or 1)
    for key, (group, name, cpu) in after.procs.items():
        spent = cpu - before.procs[key][2] if key in before.procs else cpu
        usage.groups[group] = usage.groups.get(group, 0.0) + spent
        if spent >= min_s:
            usage.processes.append(
                {"pid": key[0], "name": name, "group": group, "cpu_s": round(spent, 3)}
            )
    usage.processes.sort(key=lambda p: -p["cpu_s"])
    return usage


def memory_by_group(labels: Mapping[int, str] | None = None) -> dict[str, dict[str, float]]:
    """RSS and PSS (MiB) and process count per group; PSS splits shared pages fairly."""
    labels = with_children(labels or {})
    out: dict[str, dict[str, float]] = {}
    for proc in psutil.process_iter():
        try:
            group = classify(proc, labels)
            mem = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        row = out.setdefault(group, {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0})
        row["processes"] += 1
        row["rss_mib"] += mem.rss / 2**20
        row["pss_mib"] += getattr(mem, "pss", mem.rss) / 2**20
    return {g: {k: round(v, 1) for k, v in row.items()} for g, row in sorted(out.items())}
