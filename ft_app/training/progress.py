"""Live progress of one run, kept by the training process, which writes it into the run folder (status.json,
metrics.jsonl): the server reads only the folder (RunStore.read_progress)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import FINAL_STATUSES, TRAINING, TRAINING_STATUSES, JobSnapshot

# The speed of the most recent steps decides the time left: a machine that becomes busier or quieter mid-run (another
# run starts or ends) changes what the remaining steps cost, and an average over the whole run follows that late.
RECENT_STEPS = 20


@dataclass
class RunProgress:
    """Mutable progress guarded by a lock; `snapshot()` hands out immutable copies."""

    run_id: str
    run_dir: Path
    status: str = "queued"
    phase: str = "waiting to start"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    message: str = ""
    trainable_params: int | None = None
    total_params: int | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    train_started: float | None = None
    first_step: int = 0
    finished: float | None = None
    # Step timing (begin_step/end_step): how long the recent optimizer steps took, not counting the first step of
    # this attempt (warm-up: memory allocation and first-call costs make it several times slower than the rest).
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_STEPS))
    timed_steps: int = 0  # steps after the warm-up step whose time was taken
    between_s: float = 0.0  # time outside steps since the warm-up step: evaluations, checkpoints, logging
    eval_s: float | None = None  # seconds the last evaluation pass took (the Trainer's eval_runtime)
    after_passes: int = 0  # evaluation passes the run makes after training (the result, and the base when asked)
    # Checks: the steps after which the run evaluates or saves a checkpoint (planned_checks), and what those done
    # so far took. A check costs seconds where a step costs a fraction of one, so it is counted apart: the time left
    # holds the checks still to come at their measured cost, and the plan box waits for the first one.
    check_steps: frozenset[int] = frozenset()
    checks_s: float = 0.0
    checks_done: int = 0
    _step_began: float | None = None
    _last_step_end: float | None = None
    _warmed_up: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes: Any) -> None:
        """Set several fields at once."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)
            if changes.get("status") in FINAL_STATUSES and self.finished is None:
                self.finished = time.monotonic()

    def start_training(self, total_steps: int, first_step: int = 0) -> None:
        """Note that optimizer steps begin now (ETA counts from here, not from model loading)."""
        with self._lock:
            self.total_steps = total_steps
            self.step = first_step
            self.first_step = first_step
            self.train_started = time.monotonic()
            self.phase = TRAINING

    def begin_step(self) -> None:
        """An optimizer step begins: the time since the last one ended was spent outside steps."""
        now = time.monotonic()
        with self._lock:
            if self._last_step_end is not None and self._warmed_up:
                if self.step in self.check_steps:
                    self.checks_s += now - self._last_step_end
                    self.checks_done += 1
                else:
                    self.between_s += now - self._last_step_end
            self._step_began = now

    def end_step(self, step: int) -> None:
        """An optimizer step ended: its time joins the recent steps' (the first one of the attempt is warm-up)."""
        now = time.monotonic()
        with self._lock:
            self.step = step
            if self._step_began is not None:
                if self._warmed_up:
                    self.recent.append(now - self._step_began)
                    self.timed_steps += 1
                self._warmed_up = True
                self._step_began = None
            self._last_step_end = now

    def add_record(self, record: dict[str, Any]) -> None:
        """Append one metrics record."""
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> JobSnapshot:
        """An immutable copy, safe to use outside the lock."""
        with self._lock:
            end = self.finished or time.monotonic()
            eta = per_step = None
            done = self.step - self.first_step
            measured = max(0, done)
            checks_left = sum(1 for c in self.check_steps if c > self.step)
            first_check = min(self.check_steps, default=self.total_steps)
            check_s = self.checks_s / self.checks_done if self.checks_done else 0.0
            if self.timed_steps:
                # Recent steps' mean, plus this attempt's share of the small time between steps (loading the next
                # batch, logging); the checks to come at what one took so far.
                step_s = sum(self.recent) / len(self.recent) + self.between_s / self.timed_steps
                per_step = step_s + self.checks_s / self.timed_steps  # what a step cost with its share of the checks
                measured = self.timed_steps
                remaining = step_s * max(0, self.total_steps - self.step) + check_s * checks_left
            elif self.train_started is not None and done > 0:
                per_step = (end - self.train_started) / done  # no step timed one by one: the average so far
                remaining = per_step * max(0, self.total_steps - self.step)
            if per_step is not None and self.status in TRAINING_STATUSES:
                after = (self.eval_s or 0.0) * self.after_passes  # checking the result (and the base) once trained
                eta = remaining + after
            return JobSnapshot(
                run_id=self.run_id,
                run_dir=self.run_dir,
                status=self.status,
                phase=self.phase,
                step=self.step,
                total_steps=self.total_steps,
                epoch=self.epoch,
                elapsed_s=end - self.started,
                eta_s=eta,
                records=tuple(dict(r) for r in self.records),
                message=self.message,
                trainable_params=self.trainable_params,
                total_params=self.total_params,
                s_per_step=per_step,
                measured_steps=measured,
                # A check comes before the end and none is timed yet: the time left cannot hold its cost yet.
                awaiting_check=not self.checks_done and self.step <= first_check < self.total_steps,
            )


def planned_checks(total_steps: int, steps_per_epoch: int, strategies: list[tuple[str, float | None]]) -> frozenset[int]:
    """The steps after which the Trainer evaluates or saves: for each (strategy, every) pair, 'epoch' at each pass's
    end, 'steps' every `every` steps (a share of the steps below 1, as the Trainer reads it), 'no' never."""
    import math

    checks: set[int] = set()
    for strategy, every in strategies:
        name = str(getattr(strategy, "value", strategy))
        if name == "epoch" and steps_per_epoch > 0:
            checks.update(range(steps_per_epoch, total_steps + 1, steps_per_epoch))
        elif name == "steps" and every:
            interval = math.ceil(total_steps * every) if every < 1 else int(every)
            checks.update(range(interval, total_steps + 1, max(1, interval)))
    return frozenset(checks)
