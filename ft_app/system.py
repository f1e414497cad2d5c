"""What differs between operating systems, in one place: process groups, stop signals, ending processes.

POSIX (Linux, macOS) starts each training run in a session of its own, so that one signal reaches the run's
launcher and nothing else, and stops it with SIGTERM. Windows has no process groups of that kind and no SIGTERM
that a process can catch: there a run is stopped through the stop request in its run folder (which the trainer
reads after every step on every OS), and processes are ended with TerminateProcess (psutil's `kill`).
Every function takes `windows=` so that tests can force the other operating system's branch.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

# Linux's prctl option: the kernel sends this process a signal when its parent ends.
PR_SET_PDEATHSIG = 1
# How `python -m ft_app train` and `export` end: done, failed (e.g. the Hub unreachable), bad input, and (130, as for
# Ctrl-C) a run that stopped on request.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


def is_windows(windows: bool | None = None) -> bool:
    """Whether to take the Windows branch (this machine's OS unless a test forces one)."""
    return os.name == "nt" if windows is None else windows


def new_group_options(windows: bool | None = None) -> dict[str, Any]:
    """`subprocess.Popen` options that start a process in a group of its own: a stop for the run reaches no one
    else, and Ctrl-C on the server does not reach the run."""
    if is_windows(windows):
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200)}
    return {"start_new_session": True}


def process_group(pid: int | None = None, windows: bool | None = None) -> int:
    """The process group of a process (this one when None); on Windows, the process itself."""
    pid = os.getpid() if pid is None else pid
    if is_windows(windows):
        return pid
    return os.getpgid(pid)


def stop_signals(windows: bool | None = None) -> tuple[int, ...]:
    """The signals that ask a training process to stop cleanly (a run's Stop, SLURM, Kubernetes, Ctrl-C)."""
    if is_windows(windows):
        return tuple(s for s in (signal.SIGINT, getattr(signal, "SIGBREAK", None)) if s is not None)
    return (signal.SIGTERM, signal.SIGINT)


def ask_group_to_stop(group: int, windows: bool | None = None) -> bool:
    """Send the stop signal to a run's process group, where the OS has one; False when there is no such signal
    (Windows: the stop request in the run folder does the work) or the group has already gone."""
    if is_windows(windows):
        return False
    if group <= 1 or group == os.getpgid(0):
        raise RuntimeError(f"Refusing to signal process group {group}: it is not a training run's own group.")
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def kill_group(group: int, windows: bool | None = None) -> None:
    """End every process of a run's group at once (POSIX); on Windows the processes are ended one by one."""
    if is_windows(windows):
        return
    if group <= 1 or group == os.getpgid(0):
        raise RuntimeError(f"Refusing to kill process group {group}: it is not a training run's own group.")
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it has just ended


def kill_processes(pids: Iterable[int]) -> list[int]:
    """End these processes at once (SIGKILL on POSIX, TerminateProcess on Windows); the pids that were alive."""
    import psutil

    ended = []
    for pid in dict.fromkeys(pids):
        if pid in (os.getpid(), 0, 1):
            continue
        try:
            psutil.Process(pid).kill()
            ended.append(pid)
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            log.warning("Process %d could not be ended: access denied.", pid)
    return ended


def descendants(pid: int) -> list[int]:
    """Every process started by this one, and by those, while they are still its descendants."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def die_with_parent(windows: bool | None = None, platform: str | None = None) -> bool:
    """Ask the kernel to end this process when the process that started it ends (Linux only).

    For the workers of a multi-process launch: torch's launcher puts each in a session of its own, so a signal
    for the launcher's group misses them, and a launcher killed outright would leave them training on their own.
    """
    if is_windows(windows) or (platform or sys.platform) != "linux":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except OSError:
        return False


def signal_name(returncode: int) -> str | None:
    """The name of the signal that ended a process ('SIGKILL'), from a negative exit code (POSIX only)."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def killed_outright(returncode: int) -> bool:
    """Whether an exit code means the process was killed without a chance to clean up (SIGKILL, e.g. by the
    out-of-memory killer)."""
    sigkill = getattr(signal, "SIGKILL", None)
    return sigkill is not None and returncode == -sigkill
