"""Live progress of one run: kept by the training process, and rebuilt by the server from the run folder."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The phases of a run, as the page shows them.
CHECKING = "checking the model and data"
LOADING_DATA = "loading data"
TOKENIZING = "tokenizing data"
LOADING_MODEL = "loading model"
TRAINING = "training"
SAVING = "saving the model"
EVALUATING_RESULT = "evaluating the fine-tuned model"
EVALUATING_BASE = "evaluating the base model"
RECORDING = "recording the results"
STOPPING = "stopping after this step"
# Phases a Stop may cut short at once: they read and compute, and write nothing that could be left half-done.
INTERRUPTIBLE_PHASES = frozenset({CHECKING, LOADING_DATA, TOKENIZING, LOADING_MODEL, EVALUATING_RESULT, EVALUATING_BASE})
FINAL = ("completed", "stopped", "failed", "interrupted")


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, read-only copy of a run's progress at one moment."""

    run_id: str
    run_dir: Path
    status: str
    phase: str
    step: int
    total_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    records: tuple[dict[str, Any], ...]
    message: str = ""
    trainable_params: int | None = None
    total_params: int | None = None

    @property
    def fraction(self) -> float:
        """Share of the steps done, 0 to 1."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def active(self) -> bool:
        """Whether the run is still queued, running or stopping."""
        return self.status in ("queued", "running", "stopping")


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
    status_step: int = 0  # the step status.json last gave (server side)
    record_step: int = 0  # the step of the last train record read from metrics.jsonl (server side)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes: Any) -> None:
        """Set several fields at once."""
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)
            if changes.get("status") in FINAL and self.finished is None:
                self.finished = time.monotonic()

    def apply_status(self, status: dict[str, Any]) -> None:
        """Take what the training process last wrote in status.json (how the server follows a run)."""
        with self._lock:
            for key in ("status", "phase", "message"):
                if isinstance(status.get(key), str):
                    setattr(self, key, status[key])
            for key in ("trainable_params", "total_params"):
                if isinstance(status.get(key), int):
                    setattr(self, key, status[key])
            if isinstance(status.get("total_steps"), int):
                self.total_steps = status["total_steps"]
            if isinstance(status.get("step"), int):
                self.status_step = status["step"]
            self.step = max(self.status_step, self.record_step)
            if isinstance(status.get("epoch"), (int, float)):
                self.epoch = float(status["epoch"])
            if self.phase == TRAINING and self.train_started is None and self.total_steps:
                self.train_started, self.first_step = time.monotonic(), self.step  # the ETA counts from here
            if self.status in FINAL and self.finished is None:
                self.finished = time.monotonic()

    def add_records(self, records: list[dict[str, Any]], replace: bool = False) -> None:
        """Append metrics records (or start the list again, when the file was rewritten for a resume)."""
        with self._lock:
            if replace:
                self.records, self.record_step = [], 0
            self.records.extend(records)
            steps = [r["step"] for r in records if r.get("kind") == "train" and isinstance(r.get("step"), int)]
            self.record_step = max([self.record_step, *steps])
            self.step = max(self.status_step, self.record_step)

    def start_training(self, total_steps: int, first_step: int = 0) -> None:
        """Note that optimizer steps begin now (ETA counts from here, not from model loading)."""
        with self._lock:
            self.total_steps = total_steps
            self.step = first_step
            self.first_step = first_step
            self.train_started = time.monotonic()
            self.phase = "training"

    def add_record(self, record: dict[str, Any]) -> None:
        """Append one metrics record."""
        with self._lock:
            self.records.append(record)

    def snapshot(self) -> JobSnapshot:
        """An immutable copy, safe to use outside the lock."""
        with self._lock:
            end = self.finished or time.monotonic()
            eta = None
            done = self.step - self.first_step
            if self.train_started is not None and done > 0 and self.status in ("running", "stopping"):
                per_step = (end - self.train_started) / done
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
            )
