"""Live progress of one run, kept by the training process, which writes it into the run folder (status.json,
metrics.jsonl): the server reads only the folder (RunStore.read_progress)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import FINAL_STATUSES, TRAINING, TRAINING_STATUSES, JobSnapshot


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
            if self.train_started is not None and done > 0:
                per_step = (end - self.train_started) / done  # evaluations and saves on the way included
                if self.status in TRAINING_STATUSES:
                    eta = max(0.0, per_step * (self.total_steps - self.step))
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
                measured_steps=max(0, done),
            )
