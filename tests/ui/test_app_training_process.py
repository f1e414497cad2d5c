"""The launched app trains in a process of its own: a killed or crashed training leaves the page answering, a
restarted app follows a run that kept training, and two training processes can be started from the page.

The app here runs with the test hook of tests/fixtures/train_hooks.py, which puts faults into runs by their name.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

from ft_app.runs import CHECKPOINT_MARKER, read_jsonl
from tests.ui.conftest import AppServer, start_app, stop_app
from tests.ui.test_app_api import run_folders, wait_done
from tests.ui.test_app_survival import train_steps, wait_for

HOOK = {"FT_APP_TRAIN_HOOK": "tests.fixtures.train_hooks:faults"}
# At least 0.2 s a step ("slow"): the run must outlast a second app's start on a busy machine (40 steps did not, with
# the tests in two processes: the run had completed when the new app first answered).
RESTART_STEPS = 150


@pytest.fixture(scope="module")
def hooked_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The real app, with the fault hook in its training processes."""
    home = tmp_path_factory.mktemp("ft_app_home_hooked")
    server = start_app(home, home / "app.log", extra_env=HOOK)
    yield server
    stop_app(server)


def run_config(model: Path, data: Path, name: str, **training: Any) -> str:
    """A small run config (JSON) named for the fault it should get."""
    knobs = {"max_steps": 30, "batch_size": 4, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "steps",
             "save_steps": 5, **training}
    return json.dumps({"task": "classification", "model": str(model), "method": "full", "data": {"train": str(data)},
                       "training": knobs, "name": name})


def training_pid(run_dir: Path) -> int:
    """The pid the run's training process recorded."""
    return json.loads((run_dir / "status.json").read_text())["pid"]


def test_killed_and_crashed_training_leave_the_page_answering(
    hooked_app: AppServer, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    client = Client(hooked_app.url, verbose=False)
    run_id, *_ = client.predict(run_config(tiny_bert_dir, sentiment_csv, "slow"), 0.0, api_name="/train")
    run_dir = hooked_app.runs_dir / run_id
    wait_for(lambda: any(run_dir.glob(f"checkpoints/checkpoint-*/{CHECKPOINT_MARKER}")) and len(train_steps(run_dir)) >= 7,
             120, "a complete checkpoint and 7 steps")
    os.kill(training_pid(run_dir), signal.SIGKILL)  # what the OOM killer does

    status = wait_done(client)
    assert status["run_id"] == run_id and status["status"] == "failed"
    assert "was killed" in status["message"] and "ran out of memory" in status["message"]
    assert hooked_app.process.poll() is None  # the page lives on
    (run,) = [r for r in client.predict(api_name="/list_runs") if r["run_id"] == run_id]
    assert run["status"] == "failed" and run["can_resume"]
    values = client.predict(api_name="/poll")
    (card,) = [v for v in values if isinstance(v, dict) and "ft-failure" in str(v.get("value", ""))]
    assert card["visible"] and "ran out of memory" in card["value"]

    # A crash in native code: the same, with the crash report in the log the page shows.
    crash_id, *_ = client.predict(run_config(tiny_bert_dir, sentiment_csv, "abort-at-4", save_steps=2), 0.0,
                                  api_name="/train")
    status = wait_done(client)
    assert status["run_id"] == crash_id and status["status"] == "failed" and "crashed (SIGABRT)" in status["message"]
    _plot, _progress, log_tail, *_ = client.predict(api_name="/poll")
    assert "Fatal Python error: Aborted" in log_tail

    # The killed run resumes at once and completes, its curve in one piece.
    assert client.predict(run_id, "", api_name="/resume_run") == run_id
    status = wait_done(client)
    assert status["run_id"] == run_id and status["status"] == "completed", status
    assert train_steps(run_dir) == list(range(1, 31))


def test_two_training_processes_from_the_page(hooked_app: AppServer, tiny_bert_dir: Path, sentiment_csv: Path) -> None:
    """Processes = 2: `accelerate launch` of two processes (gloo on CPU), one run folder, the curve, a result that reloads."""
    client = Client(hooked_app.url, verbose=False)
    before = set(run_folders(hooked_app))
    cfg = run_config(tiny_bert_dir, sentiment_csv, "two", max_steps=4, save_strategy="no", num_processes=2)
    run_id, *_ = client.predict(cfg, 0.0, api_name="/train")
    status = wait_done(client, timeout=300)
    run_dir = hooked_app.runs_dir / run_id
    assert status["status"] == "completed", (status, (run_dir / "log.txt").read_text()[-3000:])
    assert set(run_folders(hooked_app)) - before == {run_id}
    train = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4]  # one writer: each step once
    assert [r["samples_seen"] for r in train] == [s * 4 * 2 for s in (1, 2, 3, 4)]  # a batch on each process
    plot, progress, *_ = client.predict(api_name="/poll")
    trace = next(t for t in json.loads(plot["plot"])["data"] if t["name"] == "train loss")
    assert trace["x"] == [1, 2, 3, 4] and "step 4 / 4" in progress
    assert "x 2" in json.loads((run_dir / "status.json").read_text())["device"]

    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "model")
    assert model.config.id2label == {0: "negative", 1: "positive"}


def test_a_restarted_app_follows_the_run_that_kept_training(
    tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    """The app is killed while a run trains; its training process goes on; the new app re-attaches and shows it end."""
    home = tmp_path / "home"
    server = start_app(home, tmp_path / "app-1.log", extra_env=HOOK)
    try:
        run_id, *_ = Client(server.url, verbose=False).predict(
            run_config(tiny_bert_dir, sentiment_csv, "slow", max_steps=RESTART_STEPS), 0.0, api_name="/train"
        )
        run_dir = server.runs_dir / run_id
        wait_for(lambda: len(train_steps(run_dir)) >= 5, 120, "5 steps")
        pid = training_pid(run_dir)
        os.kill(server.process.pid, signal.SIGKILL)  # only the app dies
        server.process.wait(30)
    finally:
        if server.process.poll() is None:
            stop_app(server)
    os.kill(pid, 0)  # the training process lives on
    at_restart = len(train_steps(run_dir))

    server = start_app(home, tmp_path / "app-2.log", extra_env=HOOK)
    try:
        client = Client(server.url, verbose=False)
        status = client.predict("", api_name="/status")
        assert status["run_id"] == run_id and status["status"] == "running" and status["active"], status
        (run,) = client.predict(api_name="/list_runs")
        assert run["status"] == "running"  # not marked interrupted
        wait_for(lambda: client.predict("", api_name="/status")["train_points"] > at_restart, 60,
                 "the curve to go on in the new app")
        status = wait_done(client)
        assert status["run_id"] == run_id and status["status"] == "completed", status
        assert train_steps(run_dir) == list(range(1, RESTART_STEPS + 1))
        plot, progress, *_ = client.predict(api_name="/poll")
        trace = next(t for t in json.loads(plot["plot"])["data"] if t["name"] == "train loss")
        assert trace["x"] == list(range(1, RESTART_STEPS + 1)) and f"step {RESTART_STEPS} / {RESTART_STEPS}" in progress
    finally:
        stop_app(server)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
