"""Training processes seen from the server: the warm worker it keeps ready, and the process a run trains in."""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ft_app import system
from ft_app.config import RunConfig
from ft_app.pids import ProcessId
from ft_app.runs import RunStore
from ft_app.training.launch import HOOK_ENV, LaunchPlan, child_env

log = logging.getLogger(__name__)
# Importing torch, transformers and datasets took 15 s on a busy 2-core machine; a loaded one can take longer.
READY_TIMEOUT_S = 300.0
WORKER_COMMAND = (sys.executable, "-m", "ft_app.training.worker")


class WorkerError(ValueError):
    """The training process could not start or answer (a ValueError, so the page shows its plain sentence)."""


class WarmWorker:
    """A `python -m ft_app.training.worker` process: its imports done (or on their way), waiting for a run."""

    def __init__(self) -> None:
        env = child_env()
        env.pop(HOOK_ENV, None)  # a test hook reaches the worker with the run, never from the time it was started
        self.process = subprocess.Popen(
            WORKER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            # Its own process group: a signal for it reaches no one else, and Ctrl-C on the server does not reach it.
            **system.new_group_options(),
        )
        self.hello: dict[str, Any] | None = None
        self._said_hello = threading.Event()
        threading.Thread(target=self._read_hello, name=f"worker-{self.process.pid}-hello", daemon=True).start()

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process.poll() is None

    def wait_ready(self, timeout: float | None = READY_TIMEOUT_S) -> dict[str, Any]:
        """Wait until its imports are done; its hello (pid, device) or a WorkerError."""
        if not self._said_hello.wait(timeout):
            raise WorkerError(
                f"The training process is still starting after {timeout:.0f} s (importing torch and transformers); "
                "the machine is very busy. Try again in a minute."
            )
        if self.hello is None:
            code = self.process.wait()
            raise WorkerError(
                f"The training process could not start (exit code {code}); the app's console shows why. "
                "Check that torch, transformers and datasets are installed."
            )
        return self.hello

    def check(self, config: RunConfig, token: str | None) -> LaunchPlan:
        """Run the checks on a config in the worker (where torch is already imported); the launch plan, or ValueError."""
        reply = self._request({"op": "check", "config": config.to_dict(), "token": token})
        if not reply.get("ok"):
            raise ValueError(reply.get("error") or "The run config did not pass the checks.")
        return LaunchPlan.from_dict(reply.get("plan") or {})

    def run(self, run_dir: Path, resume: bool) -> subprocess.Popen:
        """Hand it the run folder (it trains what it last checked); the process is then the run's own."""
        env = {HOOK_ENV: os.environ.get(HOOK_ENV, "")}
        self._request({"op": "run", "run_dir": str(run_dir), "resume": resume, "env": env})
        for stream in (self.process.stdin, self.process.stdout):
            _close_quietly(stream)
        return self.process

    def close(self) -> None:
        """End an idle worker."""
        for stream in (self.process.stdin, self.process.stdout):
            _close_quietly(stream)
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            log.warning("Worker %d did not end after SIGKILL.", self.pid)

    def _read_hello(self) -> None:
        assert self.process.stdout is not None
        try:
            line = self.process.stdout.readline()
            self.hello = json.loads(line) if line.strip() else None
        except (OSError, ValueError) as exc:
            log.warning("Worker %d said something unreadable: %s", self.pid, exc)
        finally:
            self._said_hello.set()

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.wait_ready()
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError, ValueError):
            line = ""
        if not line.strip():
            code = self.process.poll()
            raise WorkerError(f"The training process ended unexpectedly (exit code {code}). Press Train again.")
        return json.loads(line)


class WorkerPool:
    """Keeps one warm worker ready; a run takes it, and the next one is started once that run has ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: WarmWorker | None = None

    def prepare(self) -> WarmWorker:
        """Start a worker in the background unless one is ready or on its way; returns it."""
        with self._lock:
            if self._worker is None or not self._worker.alive():
                started = time.perf_counter()
                self._worker = WarmWorker()
                log.info("Warm training worker %d started (%.2f s to spawn).", self._worker.pid,
                         time.perf_counter() - started)
            return self._worker

    def ready(self, timeout: float | None = READY_TIMEOUT_S) -> WarmWorker:
        """A worker whose imports are done (waiting for them if needed); one that died is replaced once."""
        worker = self.prepare()
        try:
            worker.wait_ready(timeout)
        except WorkerError:
            if worker.alive():
                raise
            worker = self.prepare()
            worker.wait_ready(timeout)
        return worker

    def claim(self, worker: WarmWorker) -> None:
        """Take a worker out of the pool: it becomes a run's training process."""
        with self._lock:
            if self._worker is worker:
                self._worker = None

    def close(self) -> None:
        """End the idle worker, if any."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process's one pool: a server keeps one warm worker, whichever job manager asks for it."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = WorkerPool()
            atexit.register(_shared.close)
        return _shared


class TrainingProcess:
    """The processes a run trains in: the one this server started (or found again after a restart), the processes
    it started in turn (the ranks of a multi-process launch), and every process the run noted in its folder."""

    def __init__(self, popen: subprocess.Popen | None = None, identity: ProcessId | None = None,
                 run_dir: Path | None = None) -> None:
        if popen is None and identity is None:
            raise ValueError("A training process needs its Popen or its recorded identity.")
        self.popen = popen
        self.identity = identity
        self.run_dir = run_dir
        self.pid = popen.pid if popen is not None else identity.pid  # type: ignore[union-attr]
        # Started in a group of its own: the group is the process we started (or, found again, the recorded one).
        self.group = popen.pid if popen is not None else identity.group  # type: ignore[union-attr]

    @classmethod
    def start(cls, command: list[str], env: dict[str, str], run_dir: Path, log_path: Path) -> TrainingProcess:
        """Start a cold training process (several processes under accelerate, or other GPUs), its output to the log."""
        with log_path.open("a", encoding="utf-8") as out:
            popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                     **system.new_group_options())
        return cls(popen=popen, run_dir=run_dir)

    def ended(self) -> tuple[bool, int | None]:
        """Whether it has ended, and its exit code (None when unknown: a process found again is not our child)."""
        if self.popen is not None:
            code = self.popen.poll()
            return code is not None, code
        assert self.identity is not None
        return not self.identity.alive(), None

    def _launcher_alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return bool(self.identity and self.identity.alive())

    def stop(self, reason: str = "", by: str | None = None) -> None:
        """Ask every process of the run to stop after the current step: the request in the run folder (read on
        every OS, with why the server stops it), and the stop signal to the run's group where the OS has one."""
        if self.run_dir is not None:
            RunStore.request_stop(self.run_dir, reason, by)
        if self._launcher_alive():  # a group found again and gone may belong to someone else by now
            system.ask_group_to_stop(self.group)

    def others(self) -> list[int]:
        """The run's processes besides the launcher that still run: its descendants, and the processes the run
        noted in its folder (recognised by pid and start time, so a reused pid is never taken for one)."""
        found = system.descendants(self.pid) if self._launcher_alive() else []
        if self.run_dir is not None:
            for record in RunStore.recorded_processes(self.run_dir):
                identity = ProcessId.from_status(record)
                if identity is not None and identity.pid != self.pid and identity.alive():
                    found.append(identity.pid)
        return list(dict.fromkeys(found))

    def kill(self) -> list[int]:
        """End every process of the run at once (the launcher, what it started, what the run noted); the pids ended.

        The others are collected before the launcher dies: afterwards they are no longer its descendants.
        """
        others = self.others()
        launcher = [self.pid] if self._launcher_alive() else []
        if launcher:
            system.kill_group(self.group)
        return system.kill_processes([*launcher, *others])


def _close_quietly(stream: IO[str] | None) -> None:
    if stream is None:
        return
    try:
        stream.close()
    except OSError:
        pass  # the other end is already gone
