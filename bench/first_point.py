"""Time from the Train click (the /train call) to the first point on the curve, minus the model's load time.

Polls /status every 50 ms and notes when each phase starts, so the time spent loading the model is
taken out. Uses the real MiniLM encoder on SST-2 when available, else a tiny BERT built offline.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from app_server import REPO_ROOT, start

sys.path.insert(0, str(REPO_ROOT))
POLL_S = 0.05


def main() -> None:
    """Start a run, watch its phases to the first logged step, and print the breakdown."""
    import argparse

    from gradio_client import Client

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-eval-rows", type=int, default=None,
                        help="cap the held-out rows (the base model is evaluated on them before training)")
    args = parser.parse_args()
    from ui_latency import model_and_data

    workdir = Path(tempfile.mkdtemp(prefix="ft_bench_first_"))
    model, data, what = model_and_data(workdir)
    server = start(workdir / "home")
    try:
        client = Client(server.url, verbose=False)
        config = {"task": "classification", "model": model, "method": "full",
                  "data": {"train": data, "max_rows": 2000, "max_length": 64, "max_eval_rows": args.max_eval_rows},
                  "training": {"epochs": 1, "batch_size": 16, "max_steps": 50, "logging_steps": 1}}
        click = time.perf_counter()
        client.predict(json.dumps(config), 0.0, api_name="/train")
        returned = time.perf_counter() - click
        phases: dict[str, float] = {}
        first_point = None
        while first_point is None and time.perf_counter() - click < 600:
            status = client.predict("", api_name="/status")
            now = time.perf_counter() - click
            phases.setdefault(status["phase"], now)
            if status["train_points"] >= 1:
                first_point = now
            elif not status["active"]:
                raise RuntimeError(f"run ended before its first point: {status}")
            time.sleep(POLL_S)
        client.predict(api_name="/stop")
        order = sorted(phases.items(), key=lambda kv: kv[1])
        load_start = phases.get("loading model")
        load_end = next((t for p, t in order if load_start is not None and t > load_start), None)
        load = (load_end - load_start) if load_start is not None and load_end is not None else 0.0
        print(f"model: {what}; held-out rows capped at: {args.max_eval_rows or 'no cap'}")
        print(f"/train call returned after {returned:.2f} s (checks model config and data before answering)")
        print("phases seen (seconds after the click): " + ", ".join(f"{p or '?'} {t:.2f}" for p, t in order))
        print(f"click -> first curve point: {first_point:.2f} s; model loading: {load:.2f} s; "
              f"click -> first point minus model load: {first_point - load:.2f} s")
        base_eval = phases.get("evaluating the base model")
        if base_eval is not None:
            after = next((t for p, t in order if t > base_eval), first_point)
            print(f"of which evaluating the base model before training: {after - base_eval:.2f} s; "
                  f"without it: {first_point - load - (after - base_eval):.2f} s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
