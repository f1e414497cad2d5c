"""The job manager: one training run at a time, in a training process of its own, shared by every visitor.

Start: the warm worker checks the config (bad input fails here, before a run folder exists), the run folder is
made, and the worker trains it (or, for several processes or chosen GPUs, `accelerate launch` / a fresh
`python -m ft_app train`). A watcher thread supervises the process; the page reads the run folder itself.
The server never holds training weights: a crash or an OOM kill of the training takes only that process down,
and its memory comes back when the run ends. After each run, the next warm worker starts.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.hosting import HostSettings
from ft_app.limits import Machine, check_processes
from ft_app.ownership import Access, Visitor, record_owner
from ft_app.pids import ProcessId
from ft_app.runs import ACTIVE_STATUSES, LOG_FILE, JobSnapshot, RunStore, RunSummary
from ft_app.text import limit_words
from ft_app.training.launch import LaunchPlan, child_env, train_command
from ft_app.training.process import TrainingProcess, WarmWorker, WorkerPool, shared_pool
from ft_app.training.watch import STOP_GRACE_S, RunWatcher
from ft_app.trials import TrialResult

log = logging.getLogger(__name__)


LONGEST_ETA_S = 24 * 3600  # a busy message says "more than a day" beyond this, never an absurd number of minutes
# A server that shuts down stops its run as Stop does (a checkpoint, resumable); past this its processes are ended.
# Short enough for a platform's grace between SIGTERM and SIGKILL (a Space gives about 30 s).
SHUTDOWN_GRACE_S = 20.0


class JobBusyError(ValueError):
    """Raised when a run is asked for while another one is active; `run_id` names that run, so that a page can drop
    the refusal once that run has ended (its cause is gone)."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


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
        self.access = Access(self.host)
        self.backups = backup_for(self.host)
        self._lock = threading.Lock()  # guards _watcher
        self._launching = threading.Lock()  # one start or resume at a time, from the checks to the launch
        self._watcher: RunWatcher | None = None
        self._deleting: set[str] = set()  # runs deleted while training: their end is not backed up
        self._closing = False  # the server is shutting down: no new warm worker
        self._trial: str | None = None  # the model a trial of a few steps is timing now (it uses the machine too)

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

    def start(self, config: RunConfig, token: str | None = None, visitor: Visitor | None = None) -> str:
        """Check the config, create the run folder and start training; returns the run id once it is launched.

        `token` is a Hugging Face token for this run only: used for Hub downloads, never written anywhere.
        `visitor` is who asks (the run becomes theirs); None for a trusted caller on this machine (CLI, tests).
        """
        self.host.check_run_allowed(config, self.store.uploads_dir, visitor)
        config = self.host.apply_limits(config)
        with self._launching:
            self._refuse_if_busy(visitor)
            worker = self.workers.ready()
            self._check_processes(config, worker)
            plan = worker.check(config, token)  # bad input fails here, before a run folder exists
            run_dir = self.store.create(config)
            record_owner(run_dir, visitor)
            self.store.write_status(run_dir, limits=self.host.run_limits())  # before its process starts writing
            return self._launch(run_dir, worker, plan, token, resume=False)

    def trial(self, config: RunConfig, token: str | None = None, visitor: Visitor | None = None) -> TrialResult:
        """Time a few real steps of this config before it trains, and measure the memory they take; the result is
        kept beside the runs, where the plan of this kind of run reads it. Refused while a run trains (each would
        slow the other, and the trial would time a shared machine), and while another trial runs."""
        from ft_app.training.trial import run_trial
        from ft_app.trials import save_trial

        self.host.check_run_allowed(config, self.store.uploads_dir, visitor)
        config = self.host.apply_limits(config)
        with self._launching:
            self._refuse_if_busy(visitor)
            with self._lock:
                self._trial = config.model.name_or_path
        try:
            result = run_trial(config, token=token)
        finally:
            with self._lock:
                self._trial = None
        save_trial(self.store, result)
        return result

    def resume(self, run_id: str, token: str | None = None, visitor: Visitor | None = None) -> str:
        """Continue an interrupted, stopped or failed run from its last complete checkpoint, in the same folder."""
        run_dir = self.run_dir(run_id, visitor)
        self._check_manage(run_dir, visitor, "resume")
        blocker = self.store.resume_blocker(run_dir)
        if blocker:
            raise ValueError(blocker)
        left, _ = self._time_left(run_dir)
        if left is not None and left <= 0:
            raise ValueError(
                f"Run {run_id!r} has had all the training time this server gives one run ({self._life_words()}, "
                "resumes included), so it cannot be resumed here. Its model is kept: compare it, or download it from "
                "the Export tab."
            )
        config = self.store.read_config(run_dir)
        self.host.check_run_allowed(config, self.store.uploads_dir, visitor)
        self.host.apply_limits(config)  # a run from before a lower limit is refused, not cut short in silence
        with self._launching:
            self._refuse_if_busy(visitor)
            worker = self.workers.ready()
            self._check_processes(config, worker)
            plan = worker.check(config, token)
            self.store.write_status(run_dir, status="queued", phase="waiting to start", message="",
                                    limits=self.host.run_limits())
            return self._launch(run_dir, worker, plan, token, resume=True)

    def _check_processes(self, config: RunConfig, worker: WarmWorker) -> None:
        """Refuse more training processes than this machine may start, before anything starts."""
        machine = Machine.from_dict((worker.hello or {}).get("device"))
        check_processes(config.training.num_processes, machine, self.host.public, self.host.max_processes)

    def _launch(self, run_dir: Path, worker: WarmWorker, plan: LaunchPlan, token: str | None, resume: bool) -> str:
        """Hand the run to its training process and start watching it."""
        self.store.clear_stop_request(run_dir)  # an earlier attempt's Stop must not stop this one
        self.store.clear_processes(run_dir)
        if plan.warm:
            self.workers.claim(worker)
            process = TrainingProcess(popen=worker.run(run_dir, resume), run_dir=run_dir)
        else:
            extra = {**plan.env(), **({"HF_TOKEN": token} if token else {})}  # the token lives in memory only
            process = TrainingProcess.start(train_command(run_dir, plan, resume), child_env(extra), run_dir,
                                            run_dir / LOG_FILE)
        log.info("Run %s trains in process %d (%d process(es)).", run_dir.name, process.pid, plan.processes)
        self._watch(run_dir, process)
        return run_dir.name

    def _life_words(self) -> str:
        life = self.host.run_life_limit
        return limit_words(life * 60.0) if life else "no limit"

    def _time_left(self, run_dir: Path) -> tuple[float | None, str]:
        """Seconds the run may still train here (None: no limit) and the sentence said when they run out: the limit
        per attempt, and what is left of the limit on the run's whole life (its earlier attempts count)."""
        used = self._life_used(run_dir)
        limits = []
        per_run, life = self.host.run_minutes_limit, self.host.run_life_limit
        if per_run:
            limits.append((per_run * 60.0, f"This server stops a run after {limit_words(per_run * 60.0)}."))
        if life:
            limits.append((life * 60.0 - used,
                           f"This server gives a run {limit_words(life * 60.0)} of training in all, resumes included."))
        return min(limits, key=lambda limit: limit[0]) if limits else (None, "")  # the per-run one when equal

    def _life_used(self, run_dir: Path) -> float:
        """Seconds the run has trained in all. Its watcher records them once the process has ended, a moment after
        the run recorded its outcome: until then the live watcher's clock counts, so a quick Resume cannot slip in."""
        with self._lock:
            watcher = self._watcher
        if watcher is not None and watcher.alive and watcher.run_dir == run_dir:
            return watcher.life_before_s + watcher.elapsed_s
        return float(self.store.read_status(run_dir).get("life_s") or 0.0)

    def _watch(self, run_dir: Path, process: TrainingProcess, elapsed_s: float = 0.0) -> None:
        left, reason = self._time_left(run_dir)
        used = self._life_used(run_dir)
        watcher = RunWatcher(self.store, run_dir, process, self.stop_grace_s, on_end=lambda: self._run_ended(run_dir),
                             max_run_s=max(0.0, left) if left is not None else None, life_before_s=used,
                             limit_reason=reason, elapsed_s=elapsed_s)
        with self._lock:
            self._watcher = watcher
        watcher.start()

    def _run_ended(self, run_dir: Path) -> None:
        """The next run's worker starts now that this run's memory is free; a finished run is backed up."""
        if not self.host.demo and not self._closing:
            self.workers.prepare()
        if self.backups is not None and run_dir.name not in self._deleting:
            self.backups.after_run(run_dir, self.store)

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
            with self._launching:
                if self.busy:
                    return None
                self._watch(summary.path, TrainingProcess(identity=identity, run_dir=summary.path),
                            elapsed_s=float(status.get("elapsed_s") or 0.0))
            log.info("Re-attached to run %s (training process %d).", summary.run_id, identity.pid)
            return summary.run_id
        return None

    def stop(self, visitor: Visitor | None = None) -> str:
        """Ask the active run to stop after the current step (only its owner or an admin, when runs have owners);
        returns its run id."""
        with self._lock:
            watcher = self._watcher
            if watcher is None or not watcher.active or not self._visible(watcher.run_dir, visitor):
                raise NothingRunningError("Nothing is training right now, so there is nothing to stop.")
            self._check_manage(watcher.run_dir, visitor, "stop")
            watcher.stop()
            return watcher.run_id

    def delete(self, run_id: str, visitor: Visitor | None = None) -> None:
        """Delete a run for good: its folder, its backup on the Hub, and (while it trains) every process it started.
        Only its owner or an admin, when runs have owners."""
        run_dir = self.run_dir(run_id, visitor)
        self._check_manage(run_dir, visitor, "delete")
        with self._lock:
            watcher = self._watcher if self._watcher is not None and self._watcher.run_dir == run_dir else None
        if watcher is not None and watcher.alive:  # training, or its end (and backup) still being recorded
            self._deleting.add(run_id)
            watcher.end_now("Deleted while it was training.", by="delete")
        if self.backups is not None:
            self.backups.forget(run_id)  # a backup left behind could be restored later, and the run come back
        self.store.delete(run_id)

    def shutdown(self, grace_s: float = SHUTDOWN_GRACE_S) -> str | None:
        """The server is going away: stop the active run as Stop does (it saves a checkpoint and can be resumed),
        end every process it started that has not ended within `grace_s`, and end the idle worker. Returns the
        id of the run that was stopped, if any."""
        self._closing = True
        with self._lock:
            watcher = self._watcher
        stopped = None
        if watcher is not None and watcher.alive:
            stopped = watcher.run_id
            log.info("Server shutting down: stopping run %s.", stopped)
            watcher.stop("The server shut down while this run trained.", by="shutdown")
            watcher.join(grace_s)
            if watcher.alive:
                watcher.end_now("The server shut down while this run trained.", by="shutdown")
        self.workers.close()
        return stopped

    def current(self, visitor: Visitor | None = None) -> JobSnapshot | None:
        """The active run's snapshot, or the last run this server started or watched (if the visitor may see it)."""
        with self._lock:
            watcher = self._watcher
        if watcher is None or not self._visible(watcher.run_dir, visitor) or not watcher.run_dir.is_dir():
            return None
        return self.store.read_progress(watcher.run_dir)

    def snapshot(self, run_id: str, visitor: Visitor | None = None) -> JobSnapshot:
        """A run's progress, read from its folder (the one channel from the training process to the page)."""
        return self.store.read_progress(self.run_dir(run_id, visitor))

    # ---- runs as one visitor sees them ------------------------------------------------------------
    def runs(self, visitor: Visitor | None = None) -> list[RunSummary]:
        """The runs on disk this visitor may see, newest first."""
        return [s for s in self.store.list_runs() if self._visible(s.path, visitor)]

    def run_dir(self, run_id: str, visitor: Visitor | None = None) -> Path:
        """The folder of a run this visitor may see; "does not exist" otherwise (another visitor's private run
        is not even admitted to exist)."""
        run_dir = self.store.path(run_id)
        if not run_dir.is_dir() or not self._visible(run_dir, visitor):
            raise ValueError(f"Run {run_id!r} does not exist (deleted, or a typo?). Pick one from the list of runs.")
        return run_dir

    # ---- backups on the Hub --------------------------------------------------------------------------
    def backed_up(self, visitor: Visitor | None = None) -> list[Any]:
        """The runs backed up to the host's Hub repo that this visitor may see (BackupEntry), newest first."""
        if self.backups is None:
            raise ValueError("This server keeps no backups of its runs (the host has not set FT_APP_BACKUP_REPO).")
        return [e for e in self.backups.list() if visitor is None or self.access.may_see_owner(e.owner, visitor)]

    def restore(self, run_id: str, visitor: Visitor | None = None) -> str:
        """Bring a backed-up run back into the runs folder (with its owner); returns its id. Only its owner or an
        admin, when runs have owners."""
        entry = next((e for e in self.backed_up(visitor) if e.run_id == run_id), None)
        if entry is None:
            raise ValueError(f"Run {run_id!r} is not among the backed-up runs. Refresh the list of backups.")
        if visitor is not None and not self.access.may_manage_owner(entry.owner, visitor):
            raise ValueError(
                f"Run {run_id} was started by another visitor: only they (or an admin of this server) can restore it."
            )
        self.backups.restore(run_id, self.store)
        return run_id

    def may_manage(self, run_id: str, visitor: Visitor | None = None) -> bool:
        """Whether the visitor may stop, delete or resume this run (what the page shows buttons for)."""
        return visitor is None or self.access.may_manage(self.store.path(run_id), visitor)

    def _visible(self, run_dir: Path, visitor: Visitor | None) -> bool:
        return visitor is None or self.access.may_see(run_dir, visitor)

    def _check_manage(self, run_dir: Path, visitor: Visitor | None, action: str) -> None:
        if visitor is not None:
            self.access.check_manage(run_dir, visitor, action)

    def wait(self, timeout: float | None = None) -> JobSnapshot | None:
        """Block until the current run ends and its outcome is recorded (for the CLI and tests)."""
        with self._lock:
            watcher = self._watcher
        if watcher is not None:
            watcher.join(timeout)
        return self.current()

    def _refuse_if_busy(self, visitor: Visitor | None = None) -> None:
        with self._lock:
            if self._trial is not None:
                raise JobBusyError(
                    "Busy: a trial is timing a few steps of a model on this machine (it takes seconds to a minute or "
                    "two). Press again once it has finished."
                )
            if self._active():
                raise JobBusyError(self._busy_message(visitor), run_id=self._watcher.run_id if self._watcher else None)

    def active_run(self, visitor: Visitor | None = None) -> tuple[JobSnapshot, bool] | None:
        """The active run's snapshot (queued, running or stopping), whoever started it, and whether this visitor may
        see it; None when nothing is active (what the page's Train button shows follows this)."""
        with self._lock:
            watcher = self._watcher if self._active() else None
        if watcher is None or not watcher.run_dir.is_dir():
            return None
        return self.store.read_progress(watcher.run_dir), self._visible(watcher.run_dir, visitor)

    def _busy_message(self, visitor: Visitor | None = None) -> str:
        watcher = self._watcher
        snap = self.store.read_progress(watcher.run_dir) if watcher else None
        if watcher is None or snap is None:
            return "A training run is already in progress. Wait for it to finish or stop it first."
        which = f"run {snap.run_id}" if self._visible(watcher.run_dir, visitor) else "another visitor's run"
        if snap.status == "stopping":  # Stop was pressed: the wait is short, and there is nothing more to do
            return (
                f"Busy: {which} is stopping and saving what it learned (at step {snap.step}). Press Train again in a "
                "few seconds, once it shows as stopped."
            )
        can_stop = visitor is None or self.access.may_manage(watcher.run_dir, visitor)
        left = time_left_words(snap, self.host.run_minutes_limit)
        return (
            f"Busy: {which} is training (step {snap.step}/{snap.total_steps or '?'}{left}). "
            "Only one run can train at a time: wait for it to finish" + (", or stop it first." if can_stop else ".")
        )


def time_left_words(snap: JobSnapshot, limit_minutes: float | None = None) -> str:
    """', about 12 min left' for a busy message: never more than the host's limit allows, never an absurd number."""
    left = snap.eta_s
    if limit_minutes:
        cap = max(0.0, limit_minutes * 60.0 - snap.elapsed_s)
        left = cap if left is None else min(left, cap)
    if left is None:
        return ""
    if left > LONGEST_ETA_S:
        return ", more than a day left"
    minutes = max(1, round(left / 60))
    return f", about {minutes} min left" if minutes < 120 else f", about {minutes / 60:.0f} h left"


def backup_for(host: HostSettings) -> Any:
    """The Hub backup of finished runs this host asked for (FT_APP_BACKUP_REPO), or None."""
    if not host.backup_repo:
        return None
    from ft_app.backup import RunBackups

    return RunBackups(host.backup_repo)
