"""One run from config to saved model, in phases: check, load, train, save, evaluate, record.

This is the engine a training process runs (`python -m ft_app train`, the app's warm worker, or each process of
`accelerate launch`). While it runs, it alone writes the run's status.json.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import os
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app import runs as phases
from ft_app.config import CUDA_ONLY_OPTIMIZERS, RunConfig, resolve_precision, resolve_schedule, to_training_arguments
from ft_app.data import PreparedData, RawSplits, check_hub_dataset, load_splits, prepare_data
from ft_app.evaluation import answer_prompts, describe_change, evaluate_model, exact_match, zero_shot_baseline
from ft_app.hub_token import RedactingFilter, redact
from ft_app.modeling import DeviceInfo, check_method_supported, device_info, effective_max_length, load_model_config
from ft_app.paths import looks_like_path
from ft_app.pids import ProcessId
from ft_app.runs import (
    ADAPTER_DIR,
    BASE_RESULTS_FILE,
    CHECKPOINTS_DIR,
    COMPARE_FILE,
    DATA_INFO_FILE,
    EVAL_FILE,
    EXAMPLES_FILE,
    LABELS_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_DIR,
    RunStore,
    now_iso,
    read_jsonl,
    write_json_atomic,
)
from ft_app.tasks import get_task
from ft_app.training.errors import StopRequested, explain_error
from ft_app.training.launch import OWNER_ENV, LaunchPlan, plan_launch
from ft_app.training.progress import RunProgress

log = logging.getLogger(__name__)
N_EXAMPLES = 200  # held-out rows kept for one-click prompts and the batch side-by-side table
LOGGERS = ("ft_app", "transformers", "datasets", "peft", "accelerate")


@dataclass
class Preflight:
    """What was checked before any model weights were loaded."""

    config: RunConfig  # the config with max_length resolved against the model
    device: DeviceInfo
    precision: str
    raw: RawSplits | None  # local data already loaded and checked; None for Hub datasets
    plan: LaunchPlan = dataclasses.field(default_factory=LaunchPlan)


def preflight(config: RunConfig) -> Preflight:
    """Check everything that can be checked cheaply: machine, devices, model config, local data and columns."""
    device = device_info()
    check_method_supported(config, device)
    precision = resolve_precision(config, device.cuda, device.bf16)
    if config.training.optimizer in CUDA_ONLY_OPTIMIZERS and not device.cuda:
        raise ValueError(
            f"training.optimizer {config.training.optimizer!r} needs an NVIDIA GPU. Use 'adamw_torch' on this machine."
        )
    plan = plan_launch(config, device.kind, device.count)
    model_config = load_model_config(config.model)
    resolved = dataclasses.replace(
        config, data=dataclasses.replace(config.data, max_length=effective_max_length(config, model_config))
    )
    check_memory_fits(resolved, device)
    local = looks_like_path(config.data.train) and (not config.data.validation or looks_like_path(config.data.validation))
    raw = load_splits(resolved) if local else None
    if not looks_like_path(config.data.train):
        check_hub_dataset(config.data)  # an unreachable or unknown dataset fails here, like the model id
    return Preflight(config=resolved, device=device, precision=precision, raw=raw, plan=plan)


def check_memory_fits(config: RunConfig, device: DeviceInfo) -> None:
    """Refuse a batch that the app's own estimate says cannot fit in this machine's memory, before any weights load.

    A model the estimate cannot build is not refused here (its own load says what is wrong); that is logged.
    """
    from ft_app.estimate import estimate_config
    from ft_app.limits import Machine, check_memory

    t = config.training
    try:
        est = estimate_config(config)
    except ValueError as exc:
        log.info("No memory estimate for %s, so no memory check: %s", config.model.name_or_path, exc)
        return
    # The estimate's fixed overhead is the CUDA context; a CPU run has none.
    needed = est.total_gpu_gb if device.cuda else est.total_gpu_gb - est.overhead_gb
    machine = Machine(kind=device.kind, gpus=device.count, cpus=device.cpus, memory_gb=device.memory_gb)
    check_memory(t.batch_size, config.max_length, needed, machine)


def run_training(
    config: RunConfig,
    run_dir: Path,
    store: RunStore,
    progress: RunProgress,
    stop_event: threading.Event,
    checked: Preflight | None = None,
    show_progress_bar: bool = False,
    resume_from: Path | None = None,
) -> str:
    """Train one run to the end (or on from a checkpoint) and record the outcome; returns the final status.

    Never raises: every failure ends as a `failed` status with a plain message, a stop as `stopped`.
    """
    run = TrainingRun(config, run_dir, store, progress, stop_event, checked, show_progress_bar, resume_from)
    return run.execute()


@dataclass
class Loaded:
    """What the load phase produced: tokenized data, the tokenizer and the model wrapped for the method."""

    task: Any
    data: PreparedData
    tokenizer: Any
    model: Any


class TrainingRun:
    """The phases of one run, each a method, sharing the run's folder, progress and stop request."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        store: RunStore,
        progress: RunProgress,
        stop_event: threading.Event,
        checked: Preflight | None = None,
        show_progress_bar: bool = False,
        resume_from: Path | None = None,
        extra_callbacks: list[Any] | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.store = store
        self.progress = progress
        self.stop_event = stop_event
        self.checked = checked
        self.show_progress_bar = show_progress_bar
        self.resume_from = resume_from
        self.extra_callbacks = list(extra_callbacks or [])  # a trial's own end (ft_app/training/trial.py)
        self.is_main = int(os.environ.get("RANK", "0")) == 0
        self.world = int(os.environ.get("WORLD_SIZE", "1"))

    # ---- the whole run ---------------------------------------------------------------------------
    def execute(self) -> str:
        """Run every phase in order; record the outcome whatever happens."""
        handler = _attach_log_file(self.run_dir / LOG_FILE) if self.is_main else None
        trainer = None
        try:
            trainer, loaded = self.train_phases()
            stopped = self.stop_event.is_set()
            result = self.save(trainer, loaded)
            if not stopped:
                self.evaluate(trainer, loaded)
            return self.record(trainer, result, stopped)
        except BaseException as exc:  # everything ends as a recorded outcome; a process must not die silently
            return self.fail(exc)
        finally:
            del trainer
            _release_memory()
            if handler is not None:
                for name in LOGGERS:
                    logging.getLogger(name).removeHandler(handler)
                handler.close()

    def train_phases(self) -> tuple[Any, Loaded]:
        """The phases up to the end of the optimizer steps (a trial before Train runs only these); returns the trainer
        and what the load phase produced."""
        self.begin()
        checked = self.check()
        loaded = self.load(checked)
        trainer = self.build_trainer(checked, loaded)
        self.train(trainer)
        return trainer, loaded

    def phase(self, name: str) -> None:
        """Enter a phase: shown on the page (through status.json); a Stop asked for before training ends here."""
        if self.stop_event.is_set() and name in phases.INTERRUPTIBLE_PHASES:
            raise StopRequested()
        self.progress.update(phase=name)
        if self.is_main:
            self.store.write_status(self.run_dir, phase=name, elapsed_s=self.progress.snapshot().elapsed_s)

    # ---- phases ------------------------------------------------------------------------------------
    def begin(self) -> None:
        """Record that this process now owns the run: its identity, so a restarted server finds it again."""
        self.progress.update(status="running", phase=phases.CHECKING)
        if self.is_main:
            self.store.write_status(
                self.run_dir,
                status="running",
                phase=phases.CHECKING,
                started=now_iso(),
                owner=os.environ.get(OWNER_ENV, "cli"),
                resumed_from=self.resume_from.name if self.resume_from else None,
                message="",
                **ProcessId.own().as_status(),
            )

    def check(self) -> Preflight:
        """The checks, unless the caller already ran them (the app checks before it creates the run folder)."""
        self.phase(phases.CHECKING)
        checked = self.checked or preflight(self.config)
        self.config = checked.config
        return checked

    def load(self, checked: Preflight) -> Loaded:
        """Data, tokenizer and tokenized splits, then the model wrapped for the method."""
        from ft_app.modeling import load_model, load_tokenizer

        task = get_task(self.config.task)
        self.phase(phases.LOADING_DATA)
        raw = checked.raw or load_splits(self.config)
        tokenizer = load_tokenizer(self.config)
        self.phase(phases.TOKENIZING)
        data = prepare_data(self.config, tokenizer, raw)
        if self.is_main:
            _write_data_info(self.run_dir, self.config, data, task)
        self.phase(phases.LOADING_MODEL)
        loaded = load_model(self.config, tokenizer, data.label_names)
        self.progress.update(trainable_params=loaded.trainable_params, total_params=loaded.total_params)
        return Loaded(task=task, data=data, tokenizer=tokenizer, model=loaded.model)

    def build_trainer(self, checked: Preflight, loaded: Loaded) -> Any:
        """The Trainer with our callbacks: metrics to metrics.jsonl, stop on request, early stopping if asked."""
        from transformers import EarlyStoppingCallback
        from transformers.trainer_callback import PrinterCallback

        from ft_app.training.callbacks import MetricsCallback, StopCallback

        config, data = self.config, loaded.data
        has_eval = data.validation is not None and config.training.eval_strategy != "no"
        self.schedule = resolve_schedule(
            config, len(data.train), self.world, has_eval, model_params=self.progress.total_params or None
        )
        limit = self._steps_limit()
        if limit and self.schedule.total_steps > limit:
            # The host's limit per run: the schedule (decay, warm-up) is planned for the steps it will really take.
            log.warning("The plan has %d steps; this server allows %d per run, so the run takes %d.",
                        self.schedule.total_steps, limit, limit)
            config = self.config = dataclasses.replace(
                config, training=dataclasses.replace(config.training, max_steps=limit)
            )
            self.schedule = resolve_schedule(
                config, len(data.train), self.world, has_eval, model_params=self.progress.total_params or None
            )
            self.schedule.description += f" (at most {limit:,} steps per run on this server)"
        args = to_training_arguments(
            config,
            self.run_dir / CHECKPOINTS_DIR,
            self.schedule,
            precision=checked.precision,
            disable_tqdm=not self.show_progress_bar,
            use_cpu=checked.device.kind == "cpu",
        )
        samples_per_step = config.training.batch_size * config.training.gradient_accumulation_steps * self.world
        if data.validation is not None and config.evaluation.before_after:
            # Checking the result after training: one pass for the fine-tuned model, one for the base unless a
            # resumed run already has its numbers. The time left counts them at the speed of the passes in training.
            base_done = (self.run_dir / BASE_RESULTS_FILE).is_file()
            self.progress.update(after_passes=1 if base_done else 2)
        time_offset = self._prepare_resume() if self.resume_from and self.is_main else 0.0
        self.metrics = MetricsCallback(self.run_dir, self.store, self.progress, samples_per_step, time_offset,
                                       steps_per_epoch=self.schedule.steps_per_epoch)
        callbacks: list[Any] = [self.metrics, StopCallback(self.stop_event, self.run_dir), *self.extra_callbacks]
        if config.early_stopping and args.load_best_model_at_end:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience))
        pad_multiple = 8 if checked.precision in ("fp16", "bf16") else None
        trainer = loaded.task.make_trainer(config, dict(
            model=loaded.model,
            args=args,
            data_collator=loaded.task.collator(loaded.tokenizer, loaded.model, pad_multiple),
            train_dataset=data.train,
            eval_dataset=data.validation if has_eval else None,
            processing_class=loaded.tokenizer,
            compute_metrics=loaded.task.compute_metrics(data.label_names) if has_eval else None,
            compute_loss_func=loaded.task.loss_function(config, data.train, data.label_names),
            callbacks=callbacks,
        ))
        trainer.remove_callback(PrinterCallback)  # records go to metrics.jsonl, not stdout
        if self.is_main:
            self.store.write_status(
                self.run_dir,
                total_steps=self.schedule.total_steps,
                recipe=self.schedule.description,
                learning_rate=args.learning_rate,
                planned_epochs=self.schedule.epochs,
                trainable_params=self.progress.trainable_params,
                total_params=self.progress.total_params,
                device=f"{checked.device.kind} ({checked.device.name})" + (f" x {self.world}" if self.world > 1 else ""),
                precision=checked.precision,
                train_rows=len(data.train),
                eval_rows=len(data.validation) if data.validation is not None else 0,
            )
        log.info(
            "Training %s on %d rows (%d held out) for %d steps on %s.",
            config.model.name_or_path,
            len(data.train),
            len(data.validation) if data.validation is not None else 0,
            self.schedule.total_steps,
            checked.device.kind,
        )
        return trainer

    def _steps_limit(self) -> int | None:
        """The most steps the server that started this run allows (in status.json's limits), if any."""
        limits = self.store.read_status(self.run_dir).get("limits") or {}
        value = limits.get("max_steps") if isinstance(limits, dict) else None
        return int(value) if isinstance(value, int) and value > 0 else None

    def train(self, trainer: Any) -> None:
        """The optimizer steps; a Stop ends them after the step in progress, with a checkpoint."""
        self.phase(phases.TRAINING)
        trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
        if self.metrics.bad_loss is not None:
            bad_step, key, value = self.metrics.bad_loss
            raise ValueError(
                f"Training stopped at step {bad_step}: the {key.replace('_', ' ')} became {value} (the numbers "
                f"overflowed). The learning rate ({trainer.args.learning_rate:g}) is probably too high: lower it (e.g. "
                "divide by 10), keep max_grad_norm at 1.0, and if you use fp16 try bf16 or fp32."
            )

    def save(self, trainer: Any, loaded: Loaded) -> Path:
        """The trained model (or adapter) with its tokenizer and label names."""
        self.phase(phases.SAVING)
        result = self.run_dir / (ADAPTER_DIR if self.config.uses_adapter else MODEL_DIR)
        trainer.save_model(str(result))
        if self.is_main:
            loaded.tokenizer.save_pretrained(str(result))
            if loaded.data.label_names:
                # An adapter folder has no model config to hold id2label: keep the label names next to it.
                names = loaded.data.label_names
                write_json_atomic(
                    result / LABELS_FILE,
                    {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}},
                )
        return result

    def evaluate(self, trainer: Any, loaded: Loaded) -> None:
        """Held-out metrics and golden answers of the fine-tuned model, then of the base (once per run)."""
        if not self.is_main:
            return
        config, data, tokenizer = self.config, loaded.data, loaded.tokenizer
        golden = golden_rows(config, data, loaded.task)
        self.phase(phases.EVALUATING_RESULT)
        after = _held_out_metrics(trainer.model, tokenizer, data, loaded.task, config)
        golden_after = answer_prompts(trainer.model, tokenizer, golden, config) if golden else []
        before, golden_before = _earlier_base_results(self.run_dir)
        if not (self.run_dir / BASE_RESULTS_FILE).is_file():
            self.phase(phases.EVALUATING_BASE)
            before, golden_before = self._base_results(trainer, loaded, golden)
            # Kept at once, so a resumed run compares against the same base numbers.
            self.phase(phases.RECORDING)
            write_json_atomic(
                self.run_dir / BASE_RESULTS_FILE, _finite_json({"before": before, "golden": golden_before})
            )
        self.phase(phases.RECORDING)
        _write_evaluation(self.run_dir, config, data, before, after, golden, golden_before, golden_after)

    def _base_results(self, trainer: Any, loaded: Loaded, golden: list[dict[str, str]]) -> tuple[dict, list]:
        """The base model on the same held-out rows, after training: what it scored before any method changed it.

        "Before" is one number for a model, data and seed, whatever the method: the pretrained model with its seeded
        new head, none of a method's own changes (a full or head-only run's mean-pooling layer and identity pooler,
        which made full, head-only and LoRA runs of MiniLM start from three different guesses). An adapter run
        switches its adapter off (the same weights, no second copy: the unchanged base, and the head it saved as
        it was before training); a full or head-only run loads that base again from disk.
        """
        from transformers import set_seed

        config, data, tokenizer, task = self.config, loaded.data, loaded.tokenizer, loaded.task
        if not (config.evaluation.before_after and data.validation is not None) and not golden:
            return {}, []
        if config.uses_adapter:
            set_seed(config.training.seed)
            with trainer.model.disable_adapter():
                before = _held_out_metrics(trainer.model, tokenizer, data, task, config)
                golden_before = answer_prompts(trainer.model, tokenizer, golden, config) if golden else []
            return before, golden_before
        from ft_app.modeling import load_base_model

        device = next(trainer.model.parameters()).device
        _drop_training_state(trainer)  # the optimizer's moments are not needed any more: room for the base
        base = load_base_model(config, tokenizer, data.label_names, method_changes=False).to(device).eval()
        try:
            before = _held_out_metrics(base, tokenizer, data, task, config)
            golden_before = answer_prompts(base, tokenizer, golden, config) if golden else []
        finally:
            del base
            _release_memory()
        return before, golden_before

    def record(self, trainer: Any, result: Path, stopped: bool) -> str:
        """The final status: completed or stopped, with the step, the best metrics and a one-line message."""
        step = trainer.state.global_step
        best_step, best = _best_metrics(trainer, self.progress)
        status = "stopped" if stopped else "completed"
        total = self.schedule.total_steps
        message = (
            f"Stopped at step {step} of {total}; what it learned so far is saved in {result.name}/."
            if stopped
            else f"Finished {step} steps. {self._kept_words(trainer, step, best_step, best)}".strip()
        )
        why = self._stop_words(stopped)
        message = f"{why.get('reason')} {message}" if why.get("reason") else message
        self.progress.update(status=status, phase=status, message=message, step=step)
        if self.is_main:
            self.store.write_status(
                self.run_dir,
                status=status,
                phase=status,
                message=message,
                stopped_by=why.get("by"),
                step=step,
                epoch=trainer.state.epoch,
                finished=now_iso(),
                elapsed_s=self.progress.snapshot().elapsed_s,
                best_metric=best,
                best_step=best_step,
                result=result.name,
            )
        return status

    def _kept_words(self, trainer: Any, step: int, best_step: int | None, best: dict[str, float]) -> str:
        """What the run ended with: stopped early (and why), which step's model it kept, and its held-out numbers."""
        args = trainer.args
        if not (args.load_best_model_at_end and best_step is not None):
            return _describe_metrics(best)
        metric = args.metric_for_best_model.removeprefix("eval_").replace("_", " ")
        early = ""
        if step < self.schedule.total_steps:
            patience = self.config.training.early_stopping_patience
            early = (f"Stopped early: the held-out {metric} had not improved for {patience} evaluation"
                     f"{'s' if patience != 1 else ''}. ")
        kept = "the last one" if best_step == step else f"the best one, from step {best_step}"
        return f"{early}Kept {kept} (best held-out {metric}). {_describe_metrics(best)}".strip()

    def fail(self, exc: BaseException) -> str:
        """Record a failure (or a stop that came before or after training) with a plain message."""
        stopped = isinstance(exc, (KeyboardInterrupt, StopRequested))
        status = "stopped" if stopped else "failed"
        if isinstance(exc, StopRequested):
            step = self.progress.snapshot().step
            message = "Stopped before training began; nothing was trained." if not step else (
                f"Stopped at step {step} while {self.progress.phase}; the model saved so far is kept."
            )
        else:
            message = redact(explain_error(exc))
        why = self._stop_words(stopped)
        message = f"{why.get('reason')} {message}" if why.get("reason") else message
        if stopped:
            log.warning("Run %s stopped: %s", self.run_dir.name, message)
        else:
            log.error("Run %s failed: %s\n%s", self.run_dir.name, message, traceback.format_exc())
        self.progress.update(status=status, phase=status, message=message)
        if self.is_main:
            try:
                self.store.write_status(
                    self.run_dir,
                    status=status,
                    phase=status,
                    message=message,
                    stopped_by=why.get("by"),
                    error_type=None if stopped else type(exc).__name__,
                    finished=now_iso(),
                    elapsed_s=self.progress.snapshot().elapsed_s,
                )
            except OSError as write_error:  # e.g. the disk is full: the live status above still tells the user
                log.error("Could not record the outcome in status.json: %s", write_error)
        return status

    def _stop_words(self, stopped: bool) -> dict[str, Any]:
        """Why the server stopped this run (its time limit, a shutdown: the request in the run folder says), so that
        the final message the page shows says it from the start; {} for a plain Stop or no stop."""
        return self.store.stop_request(self.run_dir) if stopped else {}

    def _prepare_resume(self) -> float:
        """Drop records logged after the checkpoint (they will be logged again) and restore the curve so far."""
        assert self.resume_from is not None
        step = int(self.resume_from.name.rpartition("-")[2])
        records = [r for r in read_jsonl(self.run_dir / METRICS_FILE) if int(r.get("step", 0)) <= step]
        tmp = self.run_dir / f".{METRICS_FILE}.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        os.replace(tmp, self.run_dir / METRICS_FILE)
        for record in records:
            self.progress.add_record(record)
        log.info("Resuming from %s (step %d); %d earlier records kept.", self.resume_from.name, step, len(records))
        return max((float(r.get("time", 0.0)) for r in records), default=0.0)


def _drop_training_state(trainer: Any) -> None:
    """Let go of the optimizer and scheduler (and the accelerator's references to them)."""
    trainer.optimizer = None
    trainer.lr_scheduler = None
    trainer.accelerator.free_memory()


def _earlier_base_results(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The base model's held-out metrics and golden answers, when an earlier attempt already measured them."""
    path = run_dir / BASE_RESULTS_FILE
    if not path.is_file():
        return {}, []
    saved = json.loads(path.read_text(encoding="utf-8"))
    return saved.get("before") or {}, saved.get("golden") or []


def golden_rows(config: RunConfig, data: Any, task: Any) -> list[dict[str, str]]:
    """The golden prompts: the user's, then held-out rows with their references."""
    rows = [{"input": p, "reference": ""} for p in config.evaluation.golden_prompts]
    n = config.evaluation.golden_from_heldout
    if n and data.raw_validation is not None:
        held = data.raw_validation.select(range(min(n, len(data.raw_validation))))
        rows += [task.example(r, data.mapping, data.label_names) for r in held]
    return rows


def _held_out_metrics(
    model: Any, tokenizer: Any, data: Any, task: Any, config: RunConfig
) -> dict[str, Any]:
    """Loss and task metrics on the held-out rows, the same way for the base and the fine-tuned model."""
    if data.validation is None or not config.evaluation.before_after:
        return {}
    rows = data.raw_validation
    if rows is not None and config.data.max_eval_rows:
        rows = rows.select(range(min(config.data.max_eval_rows, len(rows))))
    own = task.held_out_metrics(model, tokenizer, rows, data.mapping, config) if rows is not None else None
    if own is not None:
        return own
    metrics = evaluate_model(
        model,
        tokenizer,
        data.validation,
        task.collator(tokenizer, model, None),
        config.task,
        data.label_names,
        config.training.eval_batch_size or config.training.batch_size * 2,
    )
    if task.checks_exact_match and config.evaluation.exact_match_rows and data.raw_validation is not None:
        n = min(config.evaluation.exact_match_rows, len(data.raw_validation))
        rows = [task.example(r, data.mapping, data.label_names) for r in data.raw_validation.select(range(n))]
        metrics.update(exact_match(model, tokenizer, rows, config))
    return metrics


def _write_evaluation(
    run_dir: Path,
    config: RunConfig,
    data: Any,
    before: dict[str, Any],
    after: dict[str, Any],
    golden: list[dict[str, str]],
    golden_before: list[dict[str, Any]],
    golden_after: list[dict[str, Any]],
) -> None:
    """Write eval.json (before, after, zero-shot) and compare.jsonl (golden prompts, both sides)."""
    result: dict[str, Any] = {"task": config.task, "before": before, "after": after}
    task = get_task(config.task)
    if task.labels and config.evaluation.zero_shot_model and data.raw_validation is not None:
        rows = data.raw_validation
        examples = [task.example(r, data.mapping, data.label_names) for r in rows]
        result["zero_shot"] = zero_shot_baseline(
            config.evaluation.zero_shot_model,
            [e["input"] for e in examples],
            [e["reference"] for e in examples],
            data.label_names,
        )
    result["summary"] = describe_change(config.task, before, after)
    if before or after:
        write_json_atomic(run_dir / EVAL_FILE, _finite_json(result))
    if golden:
        with (run_dir / COMPARE_FILE).open("w", encoding="utf-8") as fh:
            for row, b, a in zip(golden, golden_before, golden_after):
                fh.write(json.dumps({**row, "base": b, "finetuned": a}, ensure_ascii=False) + "\n")


def _finite_json(value: Any) -> Any:
    """Replace NaN/inf by None so eval.json is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    return value


def _best_metrics(trainer: Any, progress: RunProgress) -> tuple[int | None, dict[str, float]]:
    """The step and eval metrics of the checkpoint the run kept: the best one when it was kept (the Trainer's own
    choice, named by its checkpoint folder), else the last evaluation's."""
    evals = [r for r in progress.snapshot().records if r.get("kind") == "eval"]
    if not evals:
        return None, {}
    chosen = evals[-1]
    if trainer.args.load_best_model_at_end and trainer.state.best_model_checkpoint:
        best_step = int(str(trainer.state.best_model_checkpoint).rstrip("/").rsplit("-", 1)[-1])
        matching = [r for r in evals if r.get("step") == best_step]
        chosen = matching[-1] if matching else chosen
    return int(chosen.get("step", 0)), {
        k: v
        for k, v in chosen.items()
        if k.startswith("eval_") and isinstance(v, float) and math.isfinite(v) and not k.endswith(("runtime", "per_second"))
    }


def _describe_metrics(best: dict[str, float]) -> str:
    parts = []
    if "eval_loss" in best:
        parts.append(f"eval loss {best['eval_loss']:.4f}")
    if "eval_accuracy" in best:
        parts.append(f"accuracy {best['eval_accuracy']:.3f}")
    if "eval_f1" in best:
        parts.append(f"macro-F1 {best['eval_f1']:.3f}")
    return ("Held-out " + ", ".join(parts) + ".") if parts else ""


def _write_data_info(run_dir: Path, config: RunConfig, data: Any, task: Any) -> None:
    """Record the column mapping, labels and a few held-out rows so the run reloads and compares alone."""
    write_json_atomic(
        run_dir / DATA_INFO_FILE,
        {
            "mapping": dataclasses.asdict(data.mapping),
            "label_names": data.label_names,
            "max_length": config.max_length,
            "train_rows": len(data.train),
            "eval_rows": len(data.validation) if data.validation is not None else 0,
            "dropped_rows": data.dropped_rows,
        },
    )
    if data.raw_validation is not None:
        rows = data.raw_validation.select(range(min(N_EXAMPLES, len(data.raw_validation))))
        with (run_dir / EXAMPLES_FILE).open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(task.example(row, data.mapping, data.label_names), ensure_ascii=False) + "\n")


def _attach_log_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.setLevel(logging.INFO)
    handler.addFilter(RedactingFilter())  # a Hub token never reaches log.txt
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
    # Only our own logger is raised to INFO: the libraries' INFO chatter would also reach the console.
    if logging.getLogger("ft_app").getEffectiveLevel() > logging.INFO:
        logging.getLogger("ft_app").setLevel(logging.INFO)
    return handler


def _release_memory() -> None:
    """Free the model and GPU memory so the next run can start at once."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
