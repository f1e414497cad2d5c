"""The web server's resident memory before, during and after a training run started from the page.

Starts `python app.py` (bench/app_server.py), warms the page's handlers with a few light calls, then for each
arm starts a run through the API (`/train`), samples the server's RSS (and, for scale, the RSS of its child
processes: the training process and the warm worker) every half second, waits for the run to end, polls the
page once more and reads the server's RSS again a few seconds later.

It also reads the server's CPU time over the run: what following the run folder (and drawing the curve for one
open page) costs the cores the training runs on.

Arms (real models from PyPI, see tests/fixtures/real_assets.py; an arm is skipped when its assets are missing):
- MiniLM full: all-MiniLM-L6-v2, full fine-tuning, one epoch on 1,000 SST-2 rows (batch 32, max length 64);
- SmolLM2 LoRA: SmolLM2-135M-Instruct + LoRA (r 16), 20 steps of 8 chatterbot question/answer pairs.

Run from the repo root: `python bench/server_memory.py [--arms minilm smollm2]`. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app_server import REPO_ROOT, start

sys.path.insert(0, str(REPO_ROOT))
SAMPLE_S = 0.5
SETTLE_S = 5.0
MB = 1024 * 1024


def minilm_config(work: Path) -> dict[str, Any] | None:
    """MiniLM full fine-tuning on 1,000 SST-2 rows, or None without the assets."""
    from tests.fixtures import real_assets

    minilm, sst2 = real_assets.minilm_path(), real_assets.sst2_path()
    if minilm is None or sst2 is None:
        return None
    header, *rows = (sst2 / "train.tsv").read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(rows)
    train = work / "sst2_1000.tsv"
    train.write_text("\n".join([header, *rows[:1000]]) + "\n", encoding="utf-8")
    return {"task": "classification", "model": str(minilm), "method": "full",
            "data": {"train": str(train), "max_length": 64, "max_eval_rows": 200},
            "training": {"epochs": 1, "batch_size": 32, "learning_rate": 1e-4}}


def smollm2_config(work: Path) -> dict[str, Any] | None:
    """SmolLM2-135M + LoRA for 20 steps on chatterbot pairs, or None without the assets."""
    from tests.fixtures import real_assets

    gguf, english = real_assets.smollm2_gguf_path(), real_assets.chatterbot_english_dir()
    if gguf is None or english is None:
        return None
    model = real_assets.convert_smollm2(gguf)
    pairs = real_assets.load_chatterbot_qa(english)
    random.Random(0).shuffle(pairs)
    train = work / "qa.jsonl"
    train.write_text("".join(json.dumps({"prompt": p["question"], "response": p["answer"]}) + "\n"
                             for p in pairs[:360]), encoding="utf-8")
    return {"task": "causal_lm", "model": str(model), "method": "lora",
            "data": {"train": str(train), "max_length": 128, "validation_size": 60},
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
            "training": {"max_steps": 20, "batch_size": 8, "learning_rate": 1e-3, "eval_strategy": "no"}}


def rss(pid: int) -> tuple[float, float]:
    """(server RSS, RSS of all its descendants) in MiB."""
    import psutil

    proc = psutil.Process(pid)
    children = 0.0
    for child in proc.children(recursive=True):
        try:
            children += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return proc.memory_info().rss / MB, children / MB


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(client: Any, pid: int, name: str, config: dict[str, Any]) -> dict[str, float]:
    """Run one config from the API and sample the server's memory around it."""
    for _ in range(3):  # the page's light handlers, so that their imports count in "before"
        client.predict("", api_name="/status")
        client.predict(api_name="/poll")
        client.predict(api_name="/list_runs")
    time.sleep(SETTLE_S)
    before, children_before = rss(pid)
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    client.predict(json.dumps(config), 0.0, api_name="/train")
    peak, children_peak = before, children_before
    while True:
        status = client.predict("", api_name="/status")
        client.predict(api_name="/poll")  # what an open page does every second: draw the curve
        server, children = rss(pid)
        peak, children_peak = max(peak, server), max(children_peak, children)
        if not status["active"]:
            break
        time.sleep(SAMPLE_S)
    took = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    client.predict(api_name="/poll")
    time.sleep(SETTLE_S)
    after, children_after = rss(pid)
    print(f"{name}: run {status['status']} in {took:.0f} s; server RSS before {before:.0f} MiB, peak during "
          f"{peak:.0f} MiB, after {after:.0f} MiB (after/before {after / before:.3f}); child processes: "
          f"{children_before:.0f} MiB before, peak {children_peak:.0f} MiB, {children_after:.0f} MiB after; server CPU "
          f"during the run {cpu:.1f} s ({100 * cpu / took:.1f}% of one core, this script's calls included)", flush=True)
    return {"before": before, "peak": peak, "after": after}


def main() -> None:
    """Start the app and measure each arm in turn on the same server."""
    from gradio_client import Client

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", nargs="+", default=["minilm", "smollm2"], choices=["minilm", "smollm2"])
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ft_bench_memory_"))
    builders = {"minilm": ("MiniLM full", minilm_config), "smollm2": ("SmolLM2 LoRA", smollm2_config)}
    server = start(work / "home")
    try:
        client = Client(server.url, verbose=False)
        for key in opts.arms:
            name, build = builders[key]
            config = build(work)
            if config is None:
                print(f"{name}: skipped (assets missing)")
                continue
            measure(client, server.process.pid, name, config)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
