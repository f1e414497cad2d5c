"""Trainer callbacks: append every log record to metrics.jsonl and the live snapshot; stop on request."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ft_app.runs import CHECKPOINT_MARKER, METRICS_FILE, RunStore, append_jsonl, now_iso, write_json_atomic
from ft_app.training.progress import RunProgress, planned_checks

# Trainer keys that describe the run as a whole rather than a point on the curve.
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
# How often the step reaches status.json, which the server reads for the progress bar.
STATUS_WRITE_INTERVAL_S = 1.0


class MetricsCallback(TrainerCallback):
    """Writes each log record (train, eval, summary) to disk and to the in-memory progress."""

    def __init__(
        self, run_dir: Path, store: RunStore, progress: RunProgress, samples_per_step: int, time_offset: float = 0.0,
        steps_per_epoch: int = 0,
    ) -> None:
        self.path = run_dir / METRICS_FILE
        self.run_dir = run_dir
        self.store = store
        self.progress = progress
        self.samples_per_step = samples_per_step
        self.steps_per_epoch = steps_per_epoch  # where a pass ends: per-pass evaluations and checkpoints come there
        self.started = time.monotonic()
        self.time_offset = time_offset  # a resumed run's clock continues where the last attempt stopped
        self.last_status_write = 0.0
        self.bad_loss: tuple[int, str, float] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self.progress.start_training(state.max_steps, state.global_step)
        checks = planned_checks(state.max_steps, self.steps_per_epoch, [(args.eval_strategy, args.eval_steps),
                                                                         (args.save_strategy, args.save_steps)])
        self.progress.update(check_steps=checks)
        if state.is_world_process_zero:
            self.store.write_status(self.run_dir, phase="training", total_steps=state.max_steps, step=state.global_step)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.begin_step()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress.end_step(state.global_step)
        self.progress.update(epoch=float(state.epoch or 0.0))
        now = time.monotonic()
        if state.is_world_process_zero and now - self.last_status_write > STATUS_WRITE_INTERVAL_S:
            self.last_status_write = now
            snap = self.progress.snapshot()  # everything the page shows comes from here, through status.json
            self.store.write_status(self.run_dir, step=state.global_step, epoch=state.epoch, elapsed_s=snap.elapsed_s,
                                    eta_s=snap.eta_s, s_per_step=snap.s_per_step, measured_steps=snap.measured_steps,
                                    awaiting_check=snap.awaiting_check)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """The run's speed over all its steps, for the Train tab and for the next plan of the same kind here."""
        if state.is_world_process_zero:
            snap = self.progress.snapshot()
            self.store.write_status(self.run_dir, s_per_step=snap.s_per_step, measured_steps=snap.measured_steps)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Mark the checkpoint just written as complete, so a resume never picks a half-written one."""
        if not state.is_world_process_zero:
            return
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        trainer_state = ckpt / "trainer_state.json"
        if trainer_state.is_file():
            json.loads(trainer_state.read_text(encoding="utf-8"))  # raises if torn: then no marker is written
            write_json_atomic(ckpt / CHECKPOINT_MARKER, {"step": state.global_step, "time": now_iso()})

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = dict(logs or {})
        # A step record has "loss"; with tokens counted (causal LM, seq2seq) the Trainer also puts
        # train_runtime in it, so "loss" must decide before the summary keys do.
        if "loss" in logs:
            kind = "train"
        elif any(k in logs for k in SUMMARY_KEYS):
            kind = "summary"
        elif any(k.startswith("eval_") for k in logs):
            kind = "eval"
        else:
            kind = "train"
        record: dict[str, Any] = {
            "kind": kind,
            "step": state.global_step,
            "epoch": round(float(state.epoch or 0.0), 4),
            "time": round(self.time_offset + time.monotonic() - self.started, 3),
            "samples_seen": state.global_step * self.samples_per_step,
        }
        if getattr(state, "num_input_tokens_seen", 0):
            record["tokens_seen"] = int(state.num_input_tokens_seen)
        for key, value in logs.items():
            record[key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        for key in ("loss", "eval_loss", "grad_norm"):
            value = record.get(key)
            if isinstance(value, float) and not math.isfinite(value) and self.bad_loss is None:
                self.bad_loss = (state.global_step, key, value)
                control.should_training_stop = True
        if state.is_world_process_zero:
            append_jsonl(self.path, record)
        self.progress.add_record(record)
        if kind == "eval" and isinstance(record.get("eval_runtime"), float):
            self.progress.update(eval_s=record["eval_runtime"])  # what checking the result will cost after training


class StopCallback(TrainerCallback):
    """Ends training after the current step once a stop was asked for (a signal, or the request in the run folder
    that the server writes on every OS), with a checkpoint to resume from."""

    def __init__(self, stop_event: threading.Event, run_dir: Path | None = None) -> None:
        self.stop_event = stop_event
        self.run_dir = run_dir

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._requested(args):
            control.should_training_stop = True
            control.should_save = True  # a checkpoint at the stop step, so Resume continues exactly from here

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._requested(args):
            control.should_training_stop = True

    def _requested(self, args: Any) -> bool:
        """Whether any process was asked to stop: all processes must end at the same step, or they would hang."""
        if not self.stop_event.is_set() and self.run_dir is not None and RunStore.stop_requested(self.run_dir):
            self.stop_event.set()
        asked = self.stop_event.is_set()
        if getattr(args, "world_size", 1) <= 1:
            return asked
        import torch
        import torch.distributed as dist

        if not dist.is_initialized():
            return asked
        flag = torch.tensor([1.0 if asked else 0.0], device=args.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class TrialEndCallback(TrainerCallback):
    """Ends a trial (ft_app/training/trial.py) once the steps after its warm-up number at least `min_steps` and took
    at least `min_s`: quick steps are timed for seconds, not for a few milliseconds of first-call costs."""

    def __init__(self, warm_up_steps: int, min_steps: int, min_s: float) -> None:
        self.warm_up_steps = warm_up_steps
        self.min_steps = min_steps
        self.min_s = min_s
        self.timed_from: float | None = None  # when the warm-up steps ended

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        if state.global_step <= self.warm_up_steps:
            self.timed_from = now
            return
        timed = state.global_step - self.warm_up_steps
        if timed >= self.min_steps and self.timed_from is not None and now - self.timed_from >= self.min_s:
            control.should_training_stop = True
