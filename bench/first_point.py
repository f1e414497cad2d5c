"""Time from the Train click (the /train call) to the first point on the curve, minus the model's load time; then
how long Stop takes.

The app keeps a warm training worker (torch, transformers and datasets imported, waiting for a config); it starts
after the page is up. A person needs more than those seconds to fill the form, so the click is timed once the
worker is ready: the script first sends a config whose data file does not exist, which the worker's checks
refuse as soon as it is ready. Then it polls /status every 50 ms and notes when each phase starts, so the time
spent loading the model is taken out. After the first point it presses Stop and times the run until `stopped`.
Uses the real MiniLM encoder on SST-2 when available, else a tiny BERT built offline.
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


def wait_for_worker(client: object, workdir: Path, model: str) -> float:
    """Seconds until the warm worker answers a check (a config whose data file is missing)."""
    from gradio_client.exceptions import AppError

    missing = {"task": "classification", "model": model, "data": {"train": str(workdir / "no-such-file.csv")}}
    started = time.perf_counter()
    try:
        client.predict(json.dumps(missing), 0.0, api_name="/train")
    except AppError as exc:
        if "does not exist" not in str(exc):
            raise
    else:
        raise RuntimeError("a config with a missing data file was accepted")
    return time.perf_counter() - started


def main() -> None:
    """Start a run, watch its phases to the first logged step, stop it, and print the breakdown."""
    import argparse

    from gradio_client import Client

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-eval-rows", type=int, default=None, help="cap the held-out rows")
    args = parser.parse_args()
    from ui_latency import model_and_data

    workdir = Path(tempfile.mkdtemp(prefix="ft_bench_first_"))
    model, data, what = model_and_data(workdir)
    server = start(workdir / "home")
    try:
        client = Client(server.url, verbose=False)
        ready = wait_for_worker(client, workdir, model)
        config = {"task": "classification", "model": model, "method": "full",
                  "data": {"train": data, "max_rows": 2000, "max_length": 64, "max_eval_rows": args.max_eval_rows},
                  "training": {"epochs": 1, "batch_size": 16, "max_steps": 50, "logging_steps": 1}}
        click = time.perf_counter()
        client.predict(json.dumps(config), 0.0, api_name="/train")
        returned = time.perf_counter() - click
        phases: dict[str, float] = {}
        first_point = None
        status: dict = {}
        while first_point is None and time.perf_counter() - click < 600:
            status = client.predict("", api_name="/status")
            now = time.perf_counter() - click
            phases.setdefault(status["phase"], now)
            if status["train_points"] >= 1:
                first_point = now
            elif not status["active"]:
                raise RuntimeError(f"run ended before its first point: {status}")
            time.sleep(POLL_S)
        stop_step = status["step"]
        stop_pressed = time.perf_counter()
        client.predict(api_name="/stop")
        while status["active"] and time.perf_counter() - stop_pressed < 300:
            time.sleep(POLL_S)
            status = client.predict("", api_name="/status")
        stop_took = time.perf_counter() - stop_pressed
        order = sorted(phases.items(), key=lambda kv: kv[1])
        load_start = phases.get("loading model")
        load_end = next((t for p, t in order if load_start is not None and t > load_start), None)
        load = (load_end - load_start) if load_start is not None and load_end is not None else 0.0
        print(f"model: {what}; held-out rows capped at: {args.max_eval_rows or 'no cap'}")
        print(f"warm worker ready {server.seconds_to_answer + ready:.2f} s after `python app.py` "
              f"(page answered after {server.seconds_to_answer:.2f} s)")
        print(f"/train call returned after {returned:.2f} s (the worker checks the model config and data first)")
        print("phases seen (seconds after the click): " + ", ".join(f"{p or '?'} {t:.2f}" for p, t in order))
        print(f"click -> first curve point: {first_point:.2f} s; model loading: {load:.2f} s; "
              f"click -> first point minus model load: {first_point - load:.2f} s")
        print(f"Stop pressed at step {stop_step}: run {status['status']} at step {status['step']} after "
              f"{stop_took:.2f} s ({status['message']})")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
