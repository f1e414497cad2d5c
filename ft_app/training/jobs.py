"""The job manager: one training run at a time, in a background thread, shared by every visitor."""

from __future__ import annotations

import contextvars
import logging
import threading
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.hosting import HostSettings
from ft_app.hub_token import set_token
from ft_app.runs import FINAL_STATUSES, RunStore
from ft_app.training.progress import JobSnapshot, RunProgress

log = logging.getLogger(__name__)


RESUMABLE_STATUSES = ("interrupted", "stopped", "failed")


class JobBusyError(ValueError):
    """Raised when a run is asked for while another one is active."""


class NothingRunningError(ValueError):
    """Raised when Stop is pressed with no active run."""


class JobManager:
    """Starts, stops and reports on the single active training run; all state behind one lock."""

    def __init__(self, store: RunStore | None = None, host: HostSettings | None = None) -> None:
        self.store = store or RunStore()
        self.host = host or HostSettings()
        self._lock = threading.Lock()
        self._progress: RunProgress | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: threading.Event | None = None

    @property
    def busy(self) -> bool:
        """Whether a run is queued, running or stopping."""
        with self._lock:
            return self._active()

    def _active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, config: RunConfig, token: str | None = None) -> str:
        """Create the run folder and start training in the background; returns the run id at once.

        `token` is a Hugging Face token for this run only: used for Hub downloads, never written anywhere.
        """
        self.host.check_run_allowed(config, self.store.uploads_dir)
        if self.busy:
            raise JobBusyError(self._busy_message())
        context = _context_with_token(token)
        checked = context.run(_preflight, config)  # bad input fails here, before a run folder or a thread exists
        return self._launch(config, context, checked=checked)

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
        checkpoint = self.store.last_complete_checkpoint(run_dir)
        if checkpoint is None:
            raise ValueError(
                f"Run {run_id!r} has no complete checkpoint to resume from (none was saved before it ended). "
                "Start it again with the same settings instead."
            )
        config = self.store.read_config(run_dir)
        self.host.check_run_allowed(config, self.store.uploads_dir)
        if self.busy:
            raise JobBusyError(self._busy_message())
        context = _context_with_token(token)
        checked = context.run(_preflight, config)
        return self._launch(config, context, checked=checked, run_dir=run_dir, resume_from=checkpoint)

    def _launch(
        self,
        config: RunConfig,
        context: contextvars.Context,
        checked: Any,
        run_dir: Path | None = None,
        resume_from: Path | None = None,
    ) -> str:
        from ft_app.training.runner import run_training

        with self._lock:
            if self._active():
                raise JobBusyError(self._busy_message())
            run_dir = run_dir or self.store.create(config)
            progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
            stop_event = threading.Event()
            thread = threading.Thread(
                target=context.run,
                args=(run_training,),
                kwargs=dict(
                    config=config,
                    run_dir=run_dir,
                    store=self.store,
                    progress=progress,
                    stop_event=stop_event,
                    checked=checked,
                    resume_from=resume_from,
                ),
                name=f"train-{run_dir.name}",
                daemon=True,
            )
            self._progress, self._stop_event, self._thread = progress, stop_event, thread
            thread.start()
            return run_dir.name

    def stop(self) -> str:
        """Ask the active run to stop after the current step; returns its run id."""
        with self._lock:
            if not self._active() or self._progress is None or self._stop_event is None:
                raise NothingRunningError("Nothing is training right now, so there is nothing to stop.")
            self._stop_event.set()
            if self._progress.status not in FINAL_STATUSES:
                self._progress.update(status="stopping", phase="stopping after this step")
                self.store.write_status(self._progress.run_dir, status="stopping")
            return self._progress.run_id

    def current(self) -> JobSnapshot | None:
        """The active run's snapshot, or the last run this process started, or None."""
        with self._lock:
            return self._progress.snapshot() if self._progress else None

    def snapshot(self, run_id: str) -> JobSnapshot:
        """Live progress for the current run, or progress rebuilt from disk for any other run."""
        with self._lock:
            if self._progress is not None and self._progress.run_id == run_id:
                return self._progress.snapshot()
        return snapshot_from_disk(self.store, run_id)

    def wait(self, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the current run ends (for the CLI and tests)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.current()

    def _busy_message(self) -> str:
        snap = self._progress.snapshot() if self._progress else None
        if snap is None:
            return "A training run is already in progress. Wait for it to finish or stop it first."
        left = f", about {max(1, round(snap.eta_s / 60))} min left" if snap.eta_s is not None else ""
        return (
            f"Busy: run {snap.run_id} is training (step {snap.step}/{snap.total_steps or '?'}{left}). "
            "Only one run can train at a time: wait for it to finish, or stop it first."
        )


def _context_with_token(token: str | None) -> contextvars.Context:
    """A copy of the current context in which Hub calls use this run's token."""
    context = contextvars.copy_context()
    context.run(set_token, token)
    return context


def _preflight(config: RunConfig) -> Any:
    from ft_app.training.runner import preflight

    return preflight(config)


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
