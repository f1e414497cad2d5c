"""Recognise a training process again by its pid and start time, so a reused pid is never taken for it."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from ft_app import system

# Start times come from the kernel's tick count plus the boot time, which the clock can nudge by a fraction
# of a second; a pid is reused only after the whole pid space went round, never within a second.
START_TOLERANCE_S = 1.0
# A reused pid would also have to belong to another ft_app process to be mistaken for a run.
COMMAND_MARK = "ft_app"


@dataclass(frozen=True)
class ProcessId:
    """A process as a run records it in status.json: pid, start time, host and process group."""

    pid: int
    started: float
    host: str
    group: int

    @classmethod
    def own(cls) -> ProcessId:
        """This process."""
        pid = os.getpid()
        return cls(pid=pid, started=start_time(pid) or 0.0, host=socket.gethostname(), group=system.process_group())

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> ProcessId | None:
        """The training process a status.json names, or None when it names none (or only a bare pid)."""
        pid, started, host = status.get("pid"), status.get("pid_started"), status.get("host")
        if not isinstance(pid, int) or not isinstance(started, (int, float)) or not isinstance(host, str):
            return None
        group = status.get("pgid")
        return cls(pid=pid, started=float(started), host=host, group=group if isinstance(group, int) else pid)

    def as_status(self) -> dict[str, Any]:
        """The fields this identity takes in status.json."""
        return {"pid": self.pid, "pid_started": self.started, "host": self.host, "pgid": self.group}

    def alive(self) -> bool:
        """Whether this very process still runs: same host, same pid, same start time, an ft_app command line."""
        if self.host != socket.gethostname():
            return False
        started = start_time(self.pid)
        if started is None or abs(started - self.started) > START_TOLERANCE_S:
            return False
        return is_ft_app_process(self.pid)


def start_time(pid: int) -> float | None:
    """When a process started (seconds since the epoch), or None when there is no such process."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None  # it has ended; only its exit code is left for its parent to collect
        return proc.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return None


def is_ft_app_process(pid: int) -> bool:
    """Whether a process runs ft_app code (its command line names it)."""
    import psutil

    try:
        return any(COMMAND_MARK in part for part in psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # another user's process: its start time matched, which is already a strong sign
