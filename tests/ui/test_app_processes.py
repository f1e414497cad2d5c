"""Whatever a run starts ends with it, and no visitor starts more of it than the machine allows (issue 20, finding 1).

Through gradio_client on the real app: a config asking for more training processes than this machine may start
starts none; one process trains; and after Stop, the host's time limit, Delete and a server shutdown of a 2-process
CPU run (`accelerate launch`, whose workers torch puts in sessions of their own), no process of the run is left.
The time limit counts the run's whole life: Resume cannot renew it (finding 5).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.ui.conftest import AppServer, start_app, stop_app
from tests.ui.test_app_api import run_folders, wait_done
from tests.ui.test_app_survival import train_steps, wait_for

LONG = {"max_steps": 1_000_000, "batch_size": 4, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no"}
START_S = 240  # a 2-process launch imports torch in three processes on 2 busy cores


def two_process_config(model: Path, data: Path, name: str, **training: Any) -> str:
    return json.dumps({"task": "classification", "model": str(model), "method": "head", "data": {"train": str(data)},
                       "training": {**LONG, "num_processes": 2, **training}, "name": name})


def run_processes(run_dir: Path) -> list[int]:
    """Every live process of a run: those whose command line names its folder (the launcher and each rank of
    `-m ft_app train --run-dir RUN`) and those it noted in its processes/ folder."""
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if str(run_dir) in " ".join(proc.info["cmdline"] or []):
                found.add(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for note in (run_dir / "processes").glob("*.json") if (run_dir / "processes").is_dir() else []:
        pid = json.loads(note.read_text())["pid"]
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            found.add(pid)
    return sorted(found)


def training_commands() -> list[int]:
    """Processes training any run from the command line or a launcher (what an over-the-limit config would start)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "--num_processes" in line or "ft_app train" in line:
            found.append(proc.info["pid"])
    return found


def none_left(run_dir: Path, timeout: float = 30) -> None:
    wait_for(lambda: not run_processes(run_dir), timeout, f"every process of {run_dir.name} to end", every=0.5)


def start_two(client: Client, server: AppServer, model: Path, data: Path, name: str, step: bool = True) -> Path:
    """Start a 2-process run and wait until its launcher and both ranks run (and, with `step`, until they train)."""
    run_id, *_ = client.predict(two_process_config(model, data, name), 0.0, api_name="/train")
    run_dir = server.runs_dir / run_id
    wait_for(lambda: len(run_processes(run_dir)) >= 3, START_S, f"{run_id}'s launcher and two ranks", every=0.5)
    if step:
        wait_for(lambda: len(train_steps(run_dir)) >= 1, START_S, f"{run_id} to log a step")
    return run_dir


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A local server (not public): without a GPU, one training process per CPU core."""
    home = tmp_path_factory.mktemp("processes_home")
    server = start_app(home, home / "app.log")
    yield server
    stop_app(server)


def test_more_processes_than_the_machine_allows_start_none(
    local_server: AppServer, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    client = Client(local_server.url, verbose=False)
    before, running = run_folders(local_server), training_commands()
    cores = os.cpu_count()
    with pytest.raises(AppError, match=rf"Processes is 64, more than this machine allows \({cores}: one per CPU core "
                                       rf"on this machine without a GPU, and it has {cores}\)\. Use {cores} or fewer"):
        client.predict(two_process_config(tiny_bert_dir, sentiment_csv, "many", num_processes=64), 0.0,
                       api_name="/train")
    assert run_folders(local_server) == before and training_commands() == running  # nothing started
    run_id, *_ = client.predict(two_process_config(tiny_bert_dir, sentiment_csv, "one", num_processes=1,
                                                   max_steps=3), 0.0, api_name="/train")
    assert wait_done(client)["status"] == "completed"
    none_left(local_server.runs_dir / run_id)  # the finished process exits on its own


def test_stop_and_delete_end_every_process_of_a_two_process_run(
    local_server: AppServer, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    client = Client(local_server.url, verbose=False)
    run_dir = start_two(client, local_server, tiny_bert_dir, sentiment_csv, "two-stop")
    client.predict(api_name="/stop")
    assert wait_done(client)["status"] == "stopped"
    none_left(run_dir)

    run_dir = start_two(client, local_server, tiny_bert_dir, sentiment_csv, "two-delete")
    client.predict(run_dir.name, [], api_name="/delete_run")  # while it trains: it is ended, then deleted
    assert not run_dir.exists()
    none_left(run_dir)
    assert not client.predict("", api_name="/status")["active"]


def test_time_limit_and_shutdown_end_every_process_and_resume_does_not_renew_the_limit(
    tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    home = tmp_path / "home"
    server = start_app(home, tmp_path / "app.log", extra_env={"FT_APP_MAX_RUN_MINUTES": "0.5"})  # 30 s: CI time
    try:
        client = Client(server.url, verbose=False)
        run_dir = start_two(client, server, tiny_bert_dir, sentiment_csv, "two-limit", step=False)
        status = wait_done(client, timeout=START_S)
        assert status["status"] == "stopped" and status["message"].startswith("This server stops a run after 30 "
                                                                              "seconds."), status
        none_left(run_dir)
        # The limit counts the run's whole life: Resume does not give it another minute.
        with pytest.raises(AppError, match="has had all the training time this server gives one run"):
            client.predict(run_dir.name, "", api_name="/resume_run")

        run_dir = start_two(client, server, tiny_bert_dir, sentiment_csv, "two-shutdown", step=False)
        started = time.monotonic()
        server.process.terminate()  # what a Space, Docker or systemd sends
        server.process.wait(60)
        none_left(run_dir)
        assert time.monotonic() - started < 60
        status = json.loads((run_dir / "status.json").read_text())
        assert status["status"] == "stopped" and status["stopped_by"] == "shutdown", status
        assert status["message"].startswith("The server shut down while this run trained.")
    finally:
        if server.process.poll() is None:
            stop_app(server)
