"""The launched app survives a kill, refuses paths that leave its folders, and lets one visitor train at a time."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from ft_app.runs import CHECKPOINT_MARKER, read_jsonl
from tests.ui.conftest import REPO_ROOT, AppServer, start_app, stop_app
from tests.ui.test_app_api import run_folders, wait_done

BAD_RUN_IDS = ["../x", "/etc/passwd", "..", "runs/../../etc", "a/b", "~root", "%2e%2e%2fetc", "run id; rm -rf /", ""]


@pytest.fixture(scope="module")
def client(app_server: AppServer) -> Client:
    """A gradio_client connected to the app."""
    return Client(app_server.url, verbose=False)


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.1) -> None:
    """Poll until predicate() is true, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def train_steps(run_dir: Path) -> list[int]:
    """The steps of the train records in a run's metrics.jsonl, in file order."""
    return [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "train"]


def test_app_killed_mid_training_restarts_interrupted_and_resumes_one_curve(
    tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    total = 60
    home = tmp_path / "home"
    cfg = json.dumps({
        "task": "classification", "model": str(tiny_bert_dir), "method": "full", "data": {"train": str(sentiment_csv)},
        "training": {"max_steps": total, "batch_size": 4, "logging_steps": 1, "save_strategy": "steps", "save_steps": 10,
                     "eval_strategy": "steps", "eval_steps": 30, "save_total_limit": 2},
    })
    server = start_app(home, tmp_path / "app-1.log")
    try:
        run_id, *_ = Client(server.url, verbose=False).predict(cfg, 0.0, api_name="/train")
        run_dir = server.runs_dir / run_id
        wait_for(lambda: any(run_dir.glob(f"checkpoints/checkpoint-*/{CHECKPOINT_MARKER}")) and len(train_steps(run_dir)) >= 8,
                 120, "a complete checkpoint and a few logged steps")
        # The machine restarts (a Space restart does this): the app and its training process die at once.
        training_pid = json.loads((run_dir / "status.json").read_text())["pid"]
        os.kill(server.process.pid, signal.SIGKILL)
        os.kill(training_pid, signal.SIGKILL)
        server.process.wait(30)
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(30)
    status_at_kill = json.loads((run_dir / "status.json").read_text())
    assert status_at_kill["status"] == "running" and status_at_kill.get("step", 0) < total, "the run ended before the kill"
    before_kill = read_jsonl(run_dir / "metrics.jsonl")

    server = start_app(home, tmp_path / "app-2.log")  # the same runs folder, a new process
    try:
        client = Client(server.url, verbose=False)
        (run,) = client.predict(api_name="/list_runs")
        assert run["run_id"] == run_id and run["status"] == "interrupted" and run["can_resume"]
        assert client.predict(run_id, "", api_name="/resume_run") == run_id
        assert run_folders(server) == [run_id]  # the same folder continues; no new run
        status = wait_done(client)
        assert status["run_id"] == run_id and status["status"] == "completed", status
        assert status["step"] == status["total_steps"] == total

        resumed_from = json.loads((run_dir / "status.json").read_text())["resumed_from"]
        resumed_at = int(resumed_from.rpartition("-")[2])
        records = read_jsonl(run_dir / "metrics.jsonl")
        steps = [r["step"] for r in records if r.get("kind") == "train"]
        assert all(a < b for a, b in zip(steps, steps[1:])), "the curve goes back or repeats a step"
        assert steps[-1] == total and min(s for s in steps if s > resumed_at) == resumed_at + 1
        assert [r for r in records if r["step"] <= resumed_at] == [r for r in before_kill if r["step"] <= resumed_at]
        # The page draws one continuous curve: every train record of both attempts.
        plot, progress, *_ = client.predict(api_name="/poll")
        train_trace = next(t for t in json.loads(plot["plot"])["data"] if t["name"] == "train loss")
        assert train_trace["x"] == steps and f"step {total} / {total}" in progress
    finally:
        stop_app(server)


def test_run_endpoints_refuse_ids_that_leave_the_runs_folder(client: Client, app_server: AppServer) -> None:
    outside = app_server.home / "x"
    outside.mkdir(exist_ok=True)
    (outside / "config.json").write_text("{}")  # what '../x' would reach from the runs folder
    before = run_folders(app_server)
    calls = {
        "/open_run": lambda rid: (rid,),
        "/run_results": lambda rid: (rid,),
        "/delete_run": lambda rid: (rid, []),
        "/resume_run": lambda rid: (rid, ""),
        "/compare": lambda rid: (rid, "hello", 8, 0.0, 1.0, 42),
        "/batch_compare": lambda rid: (rid, 3, 8, 0.0, 1.0, 42, "all"),  # the CSV download comes from here
    }
    for bad in BAD_RUN_IDS:
        for api, args in calls.items():
            if bad == "" and api == "/open_run":
                continue  # an empty pick just shows "pick a run"
            with pytest.raises(AppError, match="not valid|Pick a run|No finished run") as caught:
                client.predict(*args(bad), api_name=api)
            assert "Traceback" not in str(caught.value)
    assert outside.is_dir() and (outside / "config.json").read_text() == "{}"
    assert run_folders(app_server) == before


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (no client-side clean-up of '..' or '%2e')."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_file_routes_serve_only_what_the_app_handed_out(
    client: Client, app_server: AppServer, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore

    run_dir = RunStore(app_server.runs_dir).create(
        RunConfig.from_dict({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": "x.csv"}})
    )
    secret_config = (run_dir / "config.json").read_bytes()
    app_server.uploads_dir.mkdir(parents=True, exist_ok=True)
    kept = app_server.uploads_dir / "kept.csv"
    kept.write_text("text,label\nprivate row,positive\n")

    # Positive control: a file the app received is served back from Gradio's cache, so the route does work.
    mine = tmp_path / "mine.csv"
    mine.write_text("text,label\nhello,positive\n")
    with mine.open("rb") as fh:
        uploaded = httpx.post(app_server.url + "gradio_api/upload", files={"files": ("mine.csv", fh)}, timeout=10)
    (served_path,) = uploaded.json()
    status, body = raw_get(app_server.url, "/gradio_api/file=" + served_path)
    assert status == 200 and body == mine.read_bytes()

    cache_dir = Path(served_path).parent
    attempts = [
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=%2Fetc%2Fpasswd",
        "/gradio_api/file=//etc/passwd",
        "/gradio_api/file=../../../../../../etc/passwd",
        "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/gradio_api/file=..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"/gradio_api/file={cache_dir}/../../../etc/passwd",
        f"/gradio_api/file={cache_dir}/..%2f..%2f..%2fetc%2fpasswd",
        "/file=../../etc/passwd",
        "/file=/etc/passwd",
        "/gradio_api/file=~/.bashrc",
        "/gradio_api/file=file:///etc/passwd",
        f"/gradio_api/file={run_dir}/config.json",
        f"/gradio_api/file={app_server.runs_dir}/../runs/{run_dir.name}/config.json",
        f"/gradio_api/file={cache_dir}/../../..{run_dir}/config.json",
        f"/gradio_api/file={kept}",
        f"/gradio_api/file={REPO_ROOT}/app.py",
        "/gradio_api/file=app.py",
        "/gradio_api/file=ft_app/hub_token.py",
    ]
    passwd = Path("/etc/passwd").read_bytes()[:32]
    for path in attempts:
        status, body = raw_get(app_server.url, path)
        assert status in (400, 403, 404), f"{path} answered {status}"
        for secret in (passwd, secret_config[:40], b"private row", b"def main("):
            assert secret not in body, f"{path} leaked file content"


def test_two_visitors_press_train_at_once_one_trains_the_other_is_told_busy(
    app_server: AppServer, sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    cfg = json.dumps({"task": "classification", "model": str(tiny_bert_dir), "method": "full",
                      "data": {"train": str(sentiment_csv)},
                      "training": {"max_steps": 5000, "batch_size": 4, "logging_steps": 1}})
    before = set(run_folders(app_server))
    visitors = [Client(app_server.url, verbose=False) for _ in range(2)]
    barrier = threading.Barrier(len(visitors))
    outcomes: list[Any] = [None] * len(visitors)

    def press_train(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = visitors[i].predict(cfg, 0.0, api_name="/train")[0]
        except AppError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=press_train, args=(i,)) for i in range(len(visitors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    started = [o for o in outcomes if isinstance(o, str)]
    refused = [o for o in outcomes if isinstance(o, AppError)]
    assert len(started) == 1 and len(refused) == 1, outcomes
    (run_id,) = started
    assert re.search(rf"Busy: run {re.escape(run_id)} is training \(step \d+/", str(refused[0]))
    assert set(run_folders(app_server)) - before == {run_id}  # exactly one run folder

    # A visitor arriving later, once the run has an ETA, is told how long to wait.
    wait_for(lambda: visitors[0].predict("", api_name="/status")["step"] >= 5, 120, "a few steps", every=0.3)
    with pytest.raises(AppError, match=rf"Busy: run {re.escape(run_id)} is training \(step \d+/5000, about \d+ min left\)"):
        Client(app_server.url, verbose=False).predict(cfg, 0.0, api_name="/train")
    assert set(run_folders(app_server)) - before == {run_id}
    visitors[1].predict(api_name="/stop")
    assert wait_done(visitors[1])["status"] == "stopped"
