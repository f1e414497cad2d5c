"""What trials of a few steps before Train measured (training/trial.py runs them), kept beside the runs
(RunStore.trials_dir), where the plan of the same kind of run finds them (estimate.measured_speed)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.runs import RunStore, write_json_atomic

# Trial results kept beside the runs (the newest first).
KEEP_TRIALS = 20
# Share of the free memory a run may take and still be said to fit (the rest: other programs, fragmentation).
FITS_SHARE = 0.9


@dataclass(frozen=True)
class TrialResult:
    """What a trial measured: a step's seconds, over how many steps, and the memory the training process took."""

    s_per_step: float
    steps: int
    peak_gb: float | None  # the process's peak (CPU: resident memory; GPU: memory the GPU's allocator reserved)
    free_gb: float | None  # what the device had free when the trial began
    device: str  # "cpu", "cuda" or "mps"
    took_s: float  # the whole trial: starting the process, loading the model and data, the steps
    key: list[Any] = dataclasses.field(default_factory=list)  # estimate.speed_key of the config it timed
    when: str = ""

    @property
    def fits(self) -> bool | None:
        """Whether the run fits in the device's free memory, by the trial's peak; None when not measured."""
        if self.peak_gb is None or self.free_gb is None:
            return None
        return self.peak_gb <= self.free_gb * FITS_SHARE

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrialResult:
        """A result from `as_dict` values."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})


def save_trial(store: RunStore, result: TrialResult) -> Path:
    """Keep a trial's result beside the runs, where the next plan of the same kind of run finds it."""
    path = store.trials_dir / f"trial-{time.time_ns()}.json"
    write_json_atomic(path, result.as_dict())
    for old in sorted(store.trials_dir.glob("trial-*.json"), reverse=True)[KEEP_TRIALS:]:
        old.unlink(missing_ok=True)  # only the newest of each kind is read; a few are kept for other kinds
    return path


def latest_trial(store: RunStore, key: tuple[Any, ...]) -> TrialResult | None:
    """The newest trial of a run of this kind (estimate.speed_key), or None."""
    folder = store.trials_dir
    if not folder.is_dir():
        return None
    wanted = json.loads(json.dumps(list(key)))  # as a result file holds it (tuples become lists)
    for path in sorted(folder.glob("trial-*.json"), reverse=True):
        try:
            result = TrialResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError):  # torn or from another version: not comparable
            continue
        if list(result.key) == wanted:
            return result
    return None
