"""The server's side of a run that trains in another process: follow its run folder, stop it, record its end.

While the training process lives, it alone writes status.json; the watcher only reads the folder (status.json
and the new lines of metrics.jsonl) into the run's in-memory progress, which the page polls. Once the process
has ended, the watcher is the writer: if the process could not record an outcome (killed, crashed, or ended by
the watcher after a Stop it did not obey), the watcher records one, in plain words.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ft_app.runs import METRICS_FILE, RunStore, now_iso
from ft_app.training.errors import explain_exit
from ft_app.training.process import TrainingProcess
from ft_app.training.progress import FINAL, STOPPING, RunProgress

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often the folder is read: the page's first point waits at most this much on the watcher
# How long a Stop may take: the step in progress, a checkpoint and the saved model. A process that takes longer
# is taken to hang and is ended; its run resumes from the last complete checkpoint.
STOP_GRACE_S = 60.0
# After the launcher ends, how long the run's other processes (the ranks of a multi-process launch) get to end on
# their own before they are ended: whatever a run starts ends with it.
LEFTOVER_GRACE_S = 5.0


class MetricsTail:
    """The records appended to metrics.jsonl since the last read; notices when a resume rewrote the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: int | None = None
        self.offset = 0
        self.partial = b""

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """New complete records, and whether the file was replaced (then they are all of it, from the start)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return [], False
        replaced = self.inode is not None and (stat.st_ino != self.inode or stat.st_size < self.offset)
        if replaced or self.inode is None:
            self.inode, self.offset, self.partial = stat.st_ino, 0, b""
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")  # the last piece waits for its newline
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # not a record (only a line torn by a crash can be)
        return records, replaced


class RunWatcher:
    """Follows one run's training process and folder on a background thread, until the process has ended."""

    def __init__(
        self,
        store: RunStore,
        progress: RunProgress,
        process: TrainingProcess,
        stop_grace_s: float = STOP_GRACE_S,
        on_end: Callable[[], None] | None = None,
        max_run_s: float | None = None,
        life_before_s: float = 0.0,
        limit_reason: str = "",
    ) -> None:
        self.store = store
        self.progress = progress
        self.process = process
        self.stop_grace_s = stop_grace_s
        self.on_end = on_end
        self.max_run_s = max_run_s  # the host's limit for this attempt: reached, the run is stopped as with Stop
        self.life_before_s = life_before_s  # how long the run's earlier attempts took (the limit counts them too)
        self.limit_reason = limit_reason  # the sentence said when the limit stops the run
        self.stopped_by: str | None = None  # "limit", "shutdown" or "delete" when the server itself stopped the run
        self.ended_at_once = False  # ended by end_now (Delete, shutdown), not after a Stop's grace
        self.run_dir = progress.run_dir
        self.tail = MetricsTail(self.run_dir / METRICS_FILE)
        self.stop_asked: float | None = None
        self.stop_reason = ""  # why the server stopped the run itself (its limit), said in the run's message
        self.killed = False
        self.thread = threading.Thread(target=self._follow, name=f"watch-{self.run_dir.name}", daemon=True)

    def start(self) -> RunWatcher:
        """Begin following."""
        self.refresh()
        self.thread.start()
        return self

    @property
    def alive(self) -> bool:
        """Whether the run is still being followed (its process has not ended, or its end is being recorded)."""
        return self.thread.is_alive()

    @property
    def active(self) -> bool:
        """Whether the run is still on: followed, and no final status recorded yet.

        A process that has recorded its outcome writes nothing more; while it exits, the next run may start.
        """
        return self.alive and self.progress.status not in FINAL

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
        if self.progress.status not in FINAL:
            self.progress.update(status="stopping", phase=STOPPING)

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

    def refresh(self) -> None:
        """Read the run folder into the progress."""
        status = self.store.read_status(self.run_dir)
        if self.stop_asked is not None and status.get("status") == "running":
            status = {**status, "status": "stopping", "phase": STOPPING}  # the process has not answered yet
        self.progress.apply_status(status)
        records, replaced = self.tail.read()
        if records or replaced:
            self.progress.add_records(records, replace=replaced)

    def _follow(self) -> None:
        code: int | None = None
        try:
            while True:
                ended, code = self.process.ended()
                self.refresh()
                if ended:
                    self._end_leftovers()
                    break
                self._enforce_limit()
                if self.stop_asked is not None and not self.killed and time.monotonic() - self.stop_asked > self.stop_grace_s:
                    log.warning("Run %s did not stop within %.0f s of Stop: ending its process.", self.run_dir.name,
                                self.stop_grace_s)
                    self.killed = True
                    self.process.kill()
                time.sleep(POLL_S)
            self._record_end(code)
        except Exception:  # the page must learn the run ended even if its folder cannot be read
            log.exception("Watching run %s failed.", self.run_dir.name)
            self.progress.update(status="failed", phase="failed",
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
                log.warning("Run %s: ended %d process(es) left after its launcher ended: %s", self.run_dir.name,
                            len(ended), ended)
                return
            time.sleep(POLL_S)

    def _enforce_limit(self) -> None:
        """Stop the run, as Stop does (it saves what it learned), once it has run as long as the host allows."""
        if self.max_run_s is None or self.stop_asked is not None or self.progress.status in FINAL:
            return
        if self.progress.snapshot().elapsed_s < self.max_run_s:
            return
        log.info("Run %s reached its time limit here (%s): stopping it.", self.run_dir.name,
                 duration_words(self.max_run_s))
        self.stop(self.limit_reason or f"This server stops a run after {duration_words(self.max_run_s)}.", by="limit")

    def _record_end(self, code: int | None) -> None:
        """Record how long the run has trained in all, and an outcome when the process ended without one (killed,
        crashed, or ended after a Stop)."""
        life = {"life_s": round(self.life_before_s + self.progress.snapshot().elapsed_s, 1)}
        status = self.store.read_status(self.run_dir)
        if status.get("status") in FINAL:
            extra: dict[str, Any] = {}
            said = status.get("message", "")
            if self.stop_reason and status.get("status") == "stopped" and not said.startswith(self.stop_reason):
                extra = {"message": f"{self.stop_reason} {said}".strip(), "stopped_by": self.stopped_by}
            self.progress.apply_status(self.store.write_status(self.run_dir, **life, **extra))
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
        log.warning("Run %s: %s", self.run_dir.name, message)
        written = self.store.write_status(
            self.run_dir,
            status=outcome,
            phase=outcome,
            message=message,
            exit_code=code,
            error_type=None if outcome == "stopped" else "ProcessEnded",
            finished=now_iso(),
            step=self.progress.snapshot().step,  # the last step it logged, which its status may not have caught up on
            stopped_by=self.stopped_by,
            **life,
        )
        self.progress.apply_status(written)


def duration_words(seconds: float) -> str:
    """'60 minutes', '1 minute', '6 seconds': a host's limit as a sentence says it."""
    if seconds < 60:
        n, unit = round(seconds), "second"
    else:
        n, unit = round(seconds / 60), "minute"
    return f"{n} {unit}{'' if n == 1 else 's'}"
