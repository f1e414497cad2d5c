"""One run from config to saved model: load, wrap, train with callbacks, save, report."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import os
import socket
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.config import CUDA_ONLY_OPTIMIZERS, RunConfig, resolve_precision, resolve_schedule, to_training_arguments
from ft_app.data import RawSplits, load_splits, looks_like_path, prepare_data
from ft_app.evaluation import answer_prompts, describe_change, evaluate_model, exact_match, zero_shot_baseline
from ft_app.hub_token import RedactingFilter, redact
from ft_app.modeling import DeviceInfo, check_method_supported, device_info, effective_max_length, load_model_config
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
from ft_app.training.errors import explain_error
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


def preflight(config: RunConfig) -> Preflight:
    """Check everything that can be checked cheaply: machine, model config, local data and columns."""
    device = device_info()
    check_method_supported(config, device)
    precision = resolve_precision(config, device.cuda, device.bf16)
    if config.training.optimizer in CUDA_ONLY_OPTIMIZERS and not device.cuda:
        raise ValueError(
            f"training.optimizer {config.training.optimizer!r} needs an NVIDIA GPU. Use 'adamw_torch' on this machine."
        )
    model_config = load_model_config(config.model)
    resolved = dataclasses.replace(
        config, data=dataclasses.replace(config.data, max_length=effective_max_length(config, model_config))
    )
    local = looks_like_path(config.data.train) and (not config.data.validation or looks_like_path(config.data.validation))
    raw = load_splits(resolved) if local else None
    return Preflight(config=resolved, device=device, precision=precision, raw=raw)


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

    Never raises: every failure ends as a `failed` status with a plain message.
    """
    is_main = int(os.environ.get("RANK", "0")) == 0
    handler = _attach_log_file(run_dir / LOG_FILE) if is_main else None
    status = "failed"
    state: dict[str, Any] = {}
    try:
        progress.update(status="running", phase="checking the model and data")
        if is_main:
            store.write_status(
                run_dir,
                status="running",
                phase=progress.phase,
                started=now_iso(),
                pid=os.getpid(),
                host=socket.gethostname(),
                resumed_from=resume_from.name if resume_from else None,
                message="",
            )
        status = _train(
            config, run_dir, store, progress, stop_event, checked, show_progress_bar, is_main, state, resume_from
        )
    except BaseException as exc:  # everything ends as a recorded outcome; the thread must not die silently
        stopped = isinstance(exc, KeyboardInterrupt)
        status = "stopped" if stopped else "failed"
        message = redact(explain_error(exc))
        log.error("Run %s %s: %s\n%s", run_dir.name, status, message, traceback.format_exc())
        progress.update(status=status, phase=status, message=message)
        if is_main:
            try:
                store.write_status(
                    run_dir,
                    status=status,
                    phase=status,
                    message=message,
                    error_type=type(exc).__name__,
                    finished=now_iso(),
                    elapsed_s=progress.snapshot().elapsed_s,
                )
            except OSError as write_error:  # e.g. the disk is full: the live status above still tells the user
                log.error("Could not record the outcome in status.json: %s", write_error)
    finally:
        state.clear()
        _release_memory()
        if handler is not None:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            handler.close()
    return status


def _train(
    config: RunConfig,
    run_dir: Path,
    store: RunStore,
    progress: RunProgress,
    stop_event: threading.Event,
    checked: Preflight | None,
    show_progress_bar: bool,
    is_main: bool,
    state: dict[str, Any],
    resume_from: Path | None,
) -> str:
    from transformers import EarlyStoppingCallback, Trainer
    from transformers.trainer_callback import PrinterCallback

    from ft_app.modeling import load_model, load_tokenizer
    from ft_app.training.callbacks import MetricsCallback, StopCallback

    checked = checked or preflight(config)
    config = checked.config
    task = get_task(config.task)
    progress.update(phase="loading data")
    raw = checked.raw or load_splits(config)
    tokenizer = load_tokenizer(config)
    progress.update(phase="tokenizing data")
    data = prepare_data(config, tokenizer, raw)
    if is_main:
        _write_data_info(run_dir, config, data, task)
    progress.update(phase="loading model")
    loaded = load_model(config, tokenizer, data.label_names)
    state["model"] = loaded.model
    progress.update(trainable_params=loaded.trainable_params, total_params=loaded.total_params)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    has_eval = data.validation is not None and config.training.eval_strategy != "no"
    schedule = resolve_schedule(config, len(data.train), world, has_eval)
    args = to_training_arguments(
        config,
        run_dir / CHECKPOINTS_DIR,
        schedule,
        precision=checked.precision,
        disable_tqdm=not show_progress_bar,
        use_cpu=checked.device.kind == "cpu",
    )
    samples_per_step = config.training.batch_size * config.training.gradient_accumulation_steps * world
    time_offset = _prepare_resume(run_dir, progress, resume_from) if resume_from and is_main else 0.0
    metrics_cb = MetricsCallback(run_dir, store, progress, samples_per_step, time_offset)
    callbacks: list[Any] = [metrics_cb, StopCallback(stop_event)]
    if config.training.early_stopping and has_eval:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience))
    pad_multiple = 8 if checked.precision in ("fp16", "bf16") else None
    trainer = Trainer(
        model=loaded.model,
        args=args,
        data_collator=task.collator(tokenizer, loaded.model, pad_multiple),
        train_dataset=data.train,
        eval_dataset=data.validation if has_eval else None,
        processing_class=tokenizer,
        compute_metrics=task.compute_metrics(data.label_names) if has_eval else None,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # records go to metrics.jsonl, not stdout
    state["trainer"] = trainer
    if is_main:
        store.write_status(
            run_dir,
            phase="training",
            total_steps=schedule.total_steps,
            trainable_params=loaded.trainable_params,
            total_params=loaded.total_params,
            device=f"{checked.device.kind} ({checked.device.name})",
            precision=checked.precision,
            train_rows=len(data.train),
            eval_rows=len(data.validation) if data.validation is not None else 0,
        )
    log.info(
        "Training %s on %d rows (%d held out) for %d steps on %s.",
        config.model.name_or_path,
        len(data.train),
        len(data.validation) if data.validation is not None else 0,
        schedule.total_steps,
        checked.device.kind,
    )
    golden = golden_rows(config, data, task)
    before, golden_before = _earlier_base_results(run_dir) if resume_from else ({}, [])
    if is_main and not before and not golden_before:
        progress.update(phase="evaluating the base model")
        before = _held_out_metrics(trainer.model, tokenizer, data, task, config)
        golden_before = answer_prompts(trainer.model, tokenizer, golden, config) if golden else []
        # Kept at once, so a resumed run still compares against the untouched base.
        write_json_atomic(run_dir / BASE_RESULTS_FILE, _finite_json({"before": before, "golden": golden_before}))
    progress.update(phase="training")
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    step = trainer.state.global_step
    if metrics_cb.bad_loss is not None:
        bad_step, key, value = metrics_cb.bad_loss
        raise ValueError(
            f"Training stopped at step {bad_step}: the {key.replace('_', ' ')} became {value} (the numbers overflowed). "
            f"The learning rate ({config.learning_rate:g}) is probably too high: lower it (e.g. divide by 10), keep "
            "max_grad_norm at 1.0, and if you use fp16 try bf16 or fp32."
        )
    stopped = stop_event.is_set()
    progress.update(phase="saving the model")
    result = run_dir / (ADAPTER_DIR if config.uses_adapter else MODEL_DIR)
    trainer.save_model(str(result))
    if is_main:
        tokenizer.save_pretrained(str(result))
        if data.label_names:
            # An adapter folder has no model config to hold id2label: keep the label names next to it.
            names = data.label_names
            write_json_atomic(
                result / LABELS_FILE,
                {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}},
            )
    if is_main:
        progress.update(phase="evaluating the fine-tuned model")
        after = _held_out_metrics(trainer.model, tokenizer, data, task, config)
        golden_after = answer_prompts(trainer.model, tokenizer, golden, config) if golden else []
        _write_evaluation(run_dir, config, data, before, after, golden, golden_before, golden_after)
    best = _best_metrics(trainer, progress)
    status = "stopped" if stopped else "completed"
    total = schedule.total_steps
    message = (
        f"Stopped at step {step} of {total}; what it learned so far is saved in {result.name}/."
        if stopped
        else f"Finished {step} steps. {_describe_metrics(best)}".strip()
    )
    progress.update(status=status, phase=status, message=message, step=step)
    if is_main:
        store.write_status(
            run_dir,
            status=status,
            phase=status,
            message=message,
            step=step,
            epoch=trainer.state.epoch,
            finished=now_iso(),
            elapsed_s=progress.snapshot().elapsed_s,
            best_metric=best,
            result=result.name,
        )
    return status


def _prepare_resume(run_dir: Path, progress: RunProgress, checkpoint: Path) -> float:
    """Drop records logged after the checkpoint (they will be logged again) and restore the curve so far."""
    step = int(checkpoint.name.rpartition("-")[2])
    records = [r for r in read_jsonl(run_dir / METRICS_FILE) if int(r.get("step", 0)) <= step]
    tmp = run_dir / f".{METRICS_FILE}.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, run_dir / METRICS_FILE)
    for record in records:
        progress.add_record(record)
    log.info("Resuming from %s (step %d); %d earlier records kept.", checkpoint.name, step, len(records))
    return max((float(r.get("time", 0.0)) for r in records), default=0.0)


def _earlier_base_results(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The base model's held-out metrics and golden answers from the run's first attempt."""
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
    """Loss and task metrics on the held-out rows, the same way before and after training."""
    if data.validation is None or not config.evaluation.before_after:
        return {}
    metrics = evaluate_model(
        model,
        tokenizer,
        data.validation,
        task.collator(tokenizer, model, None),
        config.task,
        data.label_names,
        config.training.eval_batch_size or config.training.batch_size * 2,
    )
    if config.task == "seq2seq" and config.evaluation.exact_match_rows and data.raw_validation is not None:
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
    if config.task == "classification" and config.evaluation.zero_shot_model and data.raw_validation is not None:
        rows = data.raw_validation
        examples = [get_task("classification").example(r, data.mapping, data.label_names) for r in rows]
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


def _best_metrics(trainer: Any, progress: RunProgress) -> dict[str, float]:
    """The best checkpoint's eval metrics when it was kept, else the last evaluation's."""
    evals = [r for r in progress.snapshot().records if r.get("kind") == "eval"]
    if not evals:
        return {}
    chosen = evals[-1]
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        key = trainer.args.metric_for_best_model
        matching = [r for r in evals if r.get(key) == trainer.state.best_metric]
        chosen = matching[-1] if matching else chosen
    return {
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
