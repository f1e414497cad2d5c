"""The server's side of a run that trains in another process: supervise it (its end, the Stop grace, the host's time
limit) and record its end when the process could not.

The watcher reads nothing the page shows: the page reads the run folder itself (RunStore.read_progress). While the
training process lives, it alone writes status.json; once it has ended, the watcher is the writer: if the process
could not record an outcome (killed, crashed, or ended by the watcher after a Stop it did not obey), the watcher
records one, in plain words.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ft_app.runs import FINAL_STATUSES, RunStore, now_iso
from ft_app.text import limit_words
from ft_app.training.errors import explain_exit
from ft_app.training.process import TrainingProcess

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often the process is looked at
# How long a Stop may take: the step in progress, a checkpoint and the saved model. A process that takes longer
# is taken to hang and is ended; its run resumes from the last complete checkpoint.
STOP_GRACE_S = 60.0
# After the launcher ends, how long the run's other processes (the ranks of a multi-process launch) get to end on
# their own before they are ended: whatever a run starts ends with it.
LEFTOVER_GRACE_S = 5.0


class RunWatcher:
    """Supervises one run's training process on a background thread, until the process has ended."""

    def __init__(
        self,
        store: RunStore,
        run_dir: Path,
        process: TrainingProcess,
        stop_grace_s: float = STOP_GRACE_S,
        on_end: Callable[[], None] | None = None,
        max_run_s: float | None = None,
        life_before_s: float = 0.0,
        limit_reason: str = "",
        elapsed_s: float = 0.0,
    ) -> None:
        self.store = store
        self.run_dir = run_dir
        self.process = process
        self.stop_grace_s = stop_grace_s
        self.on_end = on_end
        self.max_run_s = max_run_s  # the host's limit for this attempt: reached, the run is stopped as with Stop
        self.life_before_s = life_before_s  # how long the run's earlier attempts took (the limit counts them too)
        self.limit_reason = limit_reason  # the sentence said when the limit stops the run
        self.started = time.monotonic() - elapsed_s  # a run found again after a restart has been going for a while
        self.stop_asked: float | None = None
        self.stop_reason = ""  # why the server stopped the run itself (its limit, a shutdown, Delete)
        self.stopped_by: str | None = None  # "limit", "shutdown" or "delete" when the server itself stopped the run
        self.killed = False
        self.ended_at_once = False  # ended by end_now (Delete, shutdown), not after a Stop's grace
        self.thread = threading.Thread(target=self._follow, name=f"watch-{run_dir.name}", daemon=True)

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.run_dir.name

    @property
    def elapsed_s(self) -> float:
        """How long this attempt has been going."""
        return time.monotonic() - self.started

    def start(self) -> RunWatcher:
        """Begin supervising."""
        self.thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the run is still supervised (its process has not ended, or its end is being recorded)."""
        return self.thread.is_alive()

    @property
    def active(self) -> bool:
        """Whether the run is still on: supervised, and no final status recorded yet.

        A process that has recorded its outcome writes nothing more; while it exits, the next run may start.
        """
        return self.alive and self.store.read_status(self.run_dir).get("status") not in FINAL_STATUSES

    def join(self, timeout: float | None = None) -> None:
        """Wait until the run has ended and its outcome is recorded."""
        self.thread.join(timeout)

    def stop(self, reason: str = "", by: str | None = None) -> None:
        """Ask the run to stop after its current step (the request in its folder, and a signal where the OS has
        one); it is ended if it does not within the grace. `reason`: why the server stops it, said in its message."""
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
        if reason and not self.stop_reason:
            self.stop_reason, self.stopped_by = reason, by
        self.process.stop(self.stop_reason, self.stopped_by)

    def end_now(self, reason: str, by: str, timeout: float = 30.0) -> None:
        """End every process of the run at once (Delete, or a server shutdown past its grace) and wait until the
        end is recorded."""
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
        if reason and not self.stop_reason:
            self.stop_reason, self.stopped_by = reason, by
        self.killed = self.ended_at_once = True
        self.process.kill()
        self.join(timeout)

    def _follow(self) -> None:
        code: int | None = None
        try:
            while True:
                ended, code = self.process.ended()
                if ended:
                    self._end_leftovers()
                    break
                self._enforce_limit()
                if self.stop_asked is not None and not self.killed and time.monotonic() - self.stop_asked > self.stop_grace_s:
                    log.warning("Run %s did not stop within %.0f s of Stop: ending its process.", self.run_id,
                                self.stop_grace_s)
                    self.killed = True
                    self.process.kill()
                time.sleep(POLL_S)
            self._record_end(code)
        except Exception:  # the page must learn the run ended even if its folder cannot be read
            log.exception("Watching run %s failed.", self.run_id)
            self.store.write_status(self.run_dir, status="failed", phase="failed", finished=now_iso(),
                                    message="The app lost track of this run's training process; see the app's console.")
        finally:
            if self.on_end is not None:
                self.on_end()

    def _end_leftovers(self) -> None:
        """Once the launcher has ended, make sure no process of the run lives on (a rank whose launcher was killed)."""
        deadline = time.monotonic() + LEFTOVER_GRACE_S
        while self.process.others():
            if time.monotonic() > deadline:
                ended = self.process.kill()
                log.warning("Run %s: ended %d process(es) left after its launcher ended: %s", self.run_id,
                            len(ended), ended)
                return
            time.sleep(POLL_S)

    def _enforce_limit(self) -> None:
        """Stop the run, as Stop does (it saves what it learned), once it has run as long as the host allows."""
        if self.max_run_s is None or self.stop_asked is not None or self.elapsed_s < self.max_run_s:
            return
        if self.store.read_status(self.run_dir).get("status") in FINAL_STATUSES:
            return
        log.info("Run %s reached its time limit here (%s): stopping it.", self.run_id, limit_words(self.max_run_s))
        self.stop(self.limit_reason or f"This server stops a run after {limit_words(self.max_run_s)}.", by="limit")

    def _record_end(self, code: int | None) -> None:
        """Record how long the run has trained in all, and an outcome when the process ended without one (killed,
        crashed, or ended after a Stop)."""
        life = {"life_s": round(self.life_before_s + self.elapsed_s, 1)}
        status = self.store.read_status(self.run_dir)
        if status.get("status") in FINAL_STATUSES:
            extra: dict[str, Any] = {}
            said = status.get("message", "")
            if self.stop_reason and status.get("status") == "stopped" and not said.startswith(self.stop_reason):
                extra = {"message": f"{self.stop_reason} {said}".strip(), "stopped_by": self.stopped_by}
            self.store.write_status(self.run_dir, **life, **extra)
            return
        checkpoint = self.store.last_complete_checkpoint(self.run_dir)
        resume = (
            f" Resume continues from its last complete checkpoint ({checkpoint.name})."
            if checkpoint is not None
            else " It saved no complete checkpoint, so it has to start again."
        )
        if self.stop_asked is not None:
            outcome = "stopped"
            if self.ended_at_once:
                message = "Its training processes were ended at once."
            elif self.killed:
                message = f"Stopped: the training process did not end within {self.stop_grace_s:.0f} s of Stop, so it was ended."
            else:
                message = "Stopped before the training process could record it."
            message = f"{self.stop_reason} {message}{resume}".strip()
        else:
            outcome = "failed"
            message = explain_exit(code, self.store.read_log_tail(self.run_dir, 5)) + resume
        log.warning("Run %s: %s", self.run_id, message)
        self.store.write_status(
            self.run_dir,
            status=outcome,
            phase=outcome,
            message=message,
            exit_code=code,
            error_type=None if outcome == "stopped" else "ProcessEnded",
            finished=now_iso(),
            # the last step it logged, which its status may not have caught up on
            step=self.store.read_progress(self.run_dir).step,
            elapsed_s=self.elapsed_s,
            stopped_by=self.stopped_by,
            **life,
        )
