"""The job manager: one training run at a time, in a training process of its own, shared by every visitor.

Start: the warm worker checks the config (bad input fails here, before a run folder exists), the run folder is
made, and the worker trains it (or, for several processes or chosen GPUs, `accelerate launch` / a fresh
`python -m ft_app train`). A watcher thread follows the run folder into the live snapshot the page polls.
The server never holds training weights: a crash or an OOM kill of the training takes only that process down,
and its memory comes back when the run ends. After each run, the next warm worker starts.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ft_app.config import RunConfig
from ft_app.hosting import HostSettings
from ft_app.runs import ACTIVE_STATUSES, LOG_FILE, RunStore
from ft_app.training.launch import LaunchPlan, child_env, train_command
from ft_app.training.pids import ProcessId
from ft_app.training.process import TrainingProcess, WarmWorker, WorkerPool, shared_pool
from ft_app.training.progress import JobSnapshot, RunProgress
from ft_app.training.watch import STOP_GRACE_S, RunWatcher

log = logging.getLogger(__name__)


RESUMABLE_STATUSES = ("interrupted", "stopped", "failed")


class JobBusyError(ValueError):
    """Raised when a run is asked for while another one is active."""


class NothingRunningError(ValueError):
    """Raised when Stop is pressed with no active run."""


class JobManager:
    """Starts, stops and reports on the single active training run; its state behind one lock."""

    def __init__(
        self,
        store: RunStore | None = None,
        host: HostSettings | None = None,
        workers: WorkerPool | None = None,
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        self.store = store or RunStore()
        self.host = host or HostSettings()
        self.workers = workers or shared_pool()
        self.stop_grace_s = stop_grace_s
        self._lock = threading.Lock()  # guards _watcher
        self._launching = threading.Lock()  # one start or resume at a time, from the checks to the launch
        self._watcher: RunWatcher | None = None

    @property
    def busy(self) -> bool:
        """Whether a run is queued, running or stopping."""
        with self._lock:
            return self._active()

    def _active(self) -> bool:
        return self._watcher is not None and self._watcher.active

    def prepare(self) -> None:
        """Start the warm worker in the background (after the page is up, so that it does not slow the start)."""
        if not self.host.demo:
            self.workers.prepare()

    def start(self, config: RunConfig, token: str | None = None) -> str:
        """Check the config, create the run folder and start training; returns the run id once it is launched.

        `token` is a Hugging Face token for this run only: used for Hub downloads, never written anywhere.
        """
        self.host.check_run_allowed(config, self.store.uploads_dir)
        with self._launching:
            self._refuse_if_busy()
            worker = self.workers.ready()
            plan = worker.check(config, token)  # bad input fails here, before a run folder exists
            run_dir = self.store.create(config)
            return self._launch(run_dir, worker, plan, token, resume=False)

    def resume(self, run_id: str, token: str | None = None) -> str:
        """Continue an interrupted, stopped or failed run from its last complete checkpoint, in the same folder."""
        run_dir = self.store.path(run_id)
        if not run_dir.is_dir():
            raise ValueError(f"Run {run_id!r} does not exist in {self.store.root}.")
        status = self.store.read_status(run_dir).get("status", "unknown")
        if status not in RESUMABLE_STATUSES:
            raise ValueError(
                f"Run {run_id!r} is {status}; only interrupted, stopped or failed runs can be resumed."
            )
        if self.store.last_complete_checkpoint(run_dir) is None:
            raise ValueError(
                f"Run {run_id!r} has no complete checkpoint to resume from (none was saved before it ended). "
                "Start it again with the same settings instead."
            )
        config = self.store.read_config(run_dir)
        self.host.check_run_allowed(config, self.store.uploads_dir)
        with self._launching:
            self._refuse_if_busy()
            worker = self.workers.ready()
            plan = worker.check(config, token)
            self.store.write_status(run_dir, status="queued", phase="waiting to start", message="")
            return self._launch(run_dir, worker, plan, token, resume=True)

    def _launch(self, run_dir: Path, worker: WarmWorker, plan: LaunchPlan, token: str | None, resume: bool) -> str:
        """Hand the run to its training process and start watching it."""
        progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
        if plan.warm:
            self.workers.claim(worker)
            process = TrainingProcess(popen=worker.run(run_dir, resume))
        else:
            extra = {**plan.env(), **({"HF_TOKEN": token} if token else {})}  # the token lives in memory only
            process = TrainingProcess.start(train_command(run_dir, plan, resume), child_env(extra), run_dir / LOG_FILE)
        log.info("Run %s trains in process %d (%d process(es)).", run_dir.name, process.pid, plan.processes)
        self._watch(progress, process)
        return run_dir.name

    def _watch(self, progress: RunProgress, process: TrainingProcess) -> None:
        watcher = RunWatcher(self.store, progress, process, self.stop_grace_s, on_end=self._run_ended)
        with self._lock:
            self._watcher = watcher
        watcher.start()

    def _run_ended(self) -> None:
        """The next run's worker starts now that this run's memory is free."""
        if not self.host.demo:
            self.workers.prepare()

    def reattach(self) -> str | None:
        """Watch again a run whose training process outlived the server that started it; returns its id.

        The process is recognised by the pid and start time the run recorded, never by a pid alone.
        """
        for summary in self.store.list_runs():
            if summary.status not in ACTIVE_STATUSES:
                continue
            status = self.store.read_status(summary.path)
            identity = ProcessId.from_status(status)
            if status.get("owner") != "app" or identity is None or not identity.alive():
                continue
            progress = RunProgress(run_id=summary.run_id, run_dir=summary.path)
            progress.started = time.monotonic() - float(status.get("elapsed_s") or 0.0)
            with self._launching:
                if self.busy:
                    return None
                self._watch(progress, TrainingProcess(identity=identity))
            log.info("Re-attached to run %s (training process %d).", summary.run_id, identity.pid)
            return summary.run_id
        return None

    def stop(self) -> str:
        """Ask the active run to stop after the current step; returns its run id."""
        with self._lock:
            watcher = self._watcher
            if watcher is None or not watcher.active:
                raise NothingRunningError("Nothing is training right now, so there is nothing to stop.")
            watcher.stop()
            return watcher.progress.run_id

    def current(self) -> JobSnapshot | None:
        """The active run's snapshot, or the last run this server started or watched, or None."""
        with self._lock:
            return self._watcher.progress.snapshot() if self._watcher else None

    def snapshot(self, run_id: str) -> JobSnapshot:
        """Live progress for the current run, or progress rebuilt from disk for any other run."""
        with self._lock:
            if self._watcher is not None and self._watcher.progress.run_id == run_id:
                return self._watcher.progress.snapshot()
        return snapshot_from_disk(self.store, run_id)

    def wait(self, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the current run ends and its outcome is recorded (for the CLI and tests)."""
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.join(timeout)
        return self.current()

    def _refuse_if_busy(self) -> None:
        with self._lock:
            if self._active():
                raise JobBusyError(self._busy_message())

    def _busy_message(self) -> str:
        snap = self._watcher.progress.snapshot() if self._watcher else None
        if snap is None:
            return "A training run is already in progress. Wait for it to finish or stop it first."
        left = f", about {max(1, round(snap.eta_s / 60))} min left" if snap.eta_s is not None else ""
        return (
            f"Busy: run {snap.run_id} is training (step {snap.step}/{snap.total_steps or '?'}{left}). "
            "Only one run can train at a time: wait for it to finish, or stop it first."
        )


def snapshot_from_disk(store: RunStore, run_id: str) -> JobSnapshot:
    """Rebuild a snapshot for a run from its files (after a restart, or for a finished run)."""
    run_dir: Path = store.path(run_id)
    if not run_dir.is_dir():
        raise ValueError(f"Run {run_id!r} does not exist in {store.root}.")
    status = store.read_status(run_dir)
    records = store.read_metrics(run_dir)
    steps = [r.get("step", 0) for r in records]
    return JobSnapshot(
        run_id=run_id,
        run_dir=run_dir,
        status=status.get("status", "unknown"),
        phase=status.get("phase", ""),
        step=int(status.get("step", max(steps, default=0))),
        total_steps=int(status.get("total_steps", 0)),
        epoch=float(status.get("epoch", 0.0)),
        elapsed_s=float(status.get("elapsed_s", 0.0)),
        eta_s=None,
        records=tuple(records),
        message=status.get("message", ""),
        trainable_params=status.get("trainable_params"),
        total_params=status.get("total_params"),
    )
