"""Runs that are never lost and failures that explain themselves: kill and resume, OOM, disk full, secrets, host limits."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ft_app.hosting import HostSettings
from ft_app.pids import ProcessId
from ft_app.runs import CHECKPOINT_MARKER, RunStore
from ft_app.training.child import HOOK_ENV
from ft_app.training.jobs import JobManager
from tests.engine_checks import REPO_ROOT, cli_env, make_config, read_metrics, train_in_process
from tests.fixtures.train_hooks import TOKEN_DIGEST_FILE

SECRET = "hf_TestSecretToken0123456789abcdef"


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_run_is_marked_interrupted_and_resumes_where_it_stopped(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    config = make_config(
        "classification", tiny_bert_dir, "full", sentiment_csv,
        training={"max_steps": 60, "batch_size": 4, "save_strategy": "steps", "save_steps": 5,
                  "eval_strategy": "steps", "eval_steps": 10, "save_total_limit": 3},
    )
    config_path = tmp_path / "run.json"
    config.save(config_path)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ft_app", "train", str(config_path), "--runs-dir", str(runs)],
        cwd=REPO_ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        def has_checkpoint() -> bool:
            return any(runs.glob(f"*/checkpoints/checkpoint-*/{CHECKPOINT_MARKER}"))

        _wait(has_checkpoint, 120, "a complete checkpoint")
        _wait(lambda: len(read_metrics(next(runs.iterdir()))) >= 8, 60, "some metrics")
        proc.send_signal(signal.SIGKILL)  # no chance to write anything: as a crash or power cut
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = next(runs.iterdir())
    store = RunStore(runs)
    assert store.read_status(run_dir)["status"] == "running"  # left as it was at the kill
    before_kill = read_metrics(run_dir)

    assert store.mark_interrupted() == [run_dir.name]  # what the app does on start
    assert store.read_status(run_dir)["status"] == "interrupted"
    checkpoint = store.last_complete_checkpoint(run_dir)
    resumed_at = int(checkpoint.name.rpartition("-")[2])

    manager = JobManager(store)
    assert manager.resume(run_dir.name) == run_dir.name  # same folder, not a new run
    snapshot = manager.wait(300)
    assert snapshot.status == "completed", snapshot.message
    assert store.read_status(run_dir)["resumed_from"] == checkpoint.name
    records = read_metrics(run_dir)
    train_steps = [r["step"] for r in records if r["kind"] == "train"]
    assert train_steps == sorted(set(train_steps))  # one curve: no step twice, none out of order
    assert train_steps[-1] == 60
    assert [r for r in records if r["step"] <= resumed_at] == [r for r in before_kill if r["step"] <= resumed_at]
    assert min(s for s in train_steps if s > resumed_at) == resumed_at + 1  # continues right after the checkpoint
    times = [r["time"] for r in records]
    assert times == sorted(times)  # the clock continues too
    assert (run_dir / "model" / "model.safetensors").is_file()


def test_partial_checkpoint_is_never_resumed_from(tmp_path) -> None:
    run_dir = tmp_path / "r"
    for step, complete in ((5, True), (10, False)):
        ckpt = run_dir / "checkpoints" / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        (ckpt / "trainer_state.json").write_text("{}")
        if complete:
            (ckpt / CHECKPOINT_MARKER).write_text("{}")
    assert RunStore.last_complete_checkpoint(run_dir).name == "checkpoint-5"


def test_resume_refuses_completed_runs_and_runs_without_checkpoint(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    manager.start(make_config("classification", tiny_bert_dir, "full", sentiment_csv))
    run_id = manager.wait(120).run_id
    with pytest.raises(ValueError, match="completed; only interrupted, stopped or failed"):
        manager.resume(run_id)
    store.write_status(store.path(run_id), status="interrupted")
    with pytest.raises(ValueError, match="no complete checkpoint"):
        manager.resume(run_id)


def test_out_of_memory_fails_with_advice(tmp_path, tiny_bert_dir, sentiment_csv, monkeypatch) -> None:
    """The engine turns a CUDA out-of-memory error into advice (a process-level kill is in test_training_process)."""
    import ft_app.modeling as modeling

    real_load = modeling.load_model

    def load_then_explode(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        calls = {"n": 0}

        def hook(module, inputs):
            calls["n"] += 1
            if module.training and calls["n"] >= 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        loaded.model.register_forward_pre_hook(hook)
        return loaded

    monkeypatch.setattr(modeling, "load_model", load_then_explode)
    store = RunStore(tmp_path / "runs")
    snapshot = train_in_process(make_config("classification", tiny_bert_dir, "full", sentiment_csv), store.root)
    assert snapshot.status == "failed"
    for advice in ("out of memory", "batch size", "gradient accumulation", "gradient checkpointing", "LoRA"):
        assert advice in snapshot.message
    status = store.read_status(snapshot.run_dir)
    assert status["status"] == "failed" and status["error_type"] == "OutOfMemoryError"
    assert "Traceback" in (snapshot.run_dir / "log.txt").read_text()  # the log keeps the details


def test_disk_full_is_explained(tmp_path, tiny_bert_dir, sentiment_csv, monkeypatch) -> None:
    import ft_app.training.callbacks as callbacks

    def no_space(path, record):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(callbacks, "append_jsonl", no_space)
    snapshot = train_in_process(make_config("classification", tiny_bert_dir, "full", sentiment_csv), tmp_path / "runs")
    assert snapshot.status == "failed"
    assert "disk is full" in snapshot.message
    assert "disk is full" in json.loads((snapshot.run_dir / "status.json").read_text())["message"]


def test_hub_token_is_never_written(tmp_path, tiny_bert_dir, sentiment_csv, monkeypatch) -> None:
    """The token goes to the training process through a pipe; logged, printed or in an error, no file gets it."""
    import hashlib

    monkeypatch.setenv(HOOK_ENV, "tests.fixtures.train_hooks:faults")
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, name="leak-token")
    manager.start(config, token=SECRET)
    failed = manager.wait(120)
    run_dir = failed.run_dir
    # The loaders in the training process got the run's token ...
    assert (run_dir / TOKEN_DIGEST_FILE).read_text() == hashlib.sha256(SECRET.encode()).hexdigest()
    # ... and every way it was let out was masked.
    assert failed.status == "failed" and SECRET not in failed.message and "hf_***" in failed.message
    log_text = (run_dir / "log.txt").read_text()
    assert "Loading with token hf_***" in log_text and "debug: token=hf_***" in log_text
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), f"token found in {path}"


def test_demo_mode_refuses_training(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    manager = JobManager(RunStore(tmp_path / "runs"), host=HostSettings(demo=True))
    with pytest.raises(ValueError, match="demo server"):
        manager.start(make_config("classification", tiny_bert_dir, "full", sentiment_csv))
    assert not (tmp_path / "runs").exists()


def test_host_limits_remote_code_and_local_paths(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    root = tmp_path / "allowed"
    root.mkdir()
    host = HostSettings(local_root=root.resolve())
    manager = JobManager(RunStore(tmp_path / "runs"), host=host)
    with pytest.raises(ValueError, match="outside the folder this server allows"):
        manager.start(make_config("classification", tiny_bert_dir, "full", sentiment_csv))
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv)
    config.model.trust_remote_code = True
    with pytest.raises(ValueError, match="does not run code shipped with models"):
        JobManager(RunStore(tmp_path / "runs")).start(config)


@pytest.mark.parametrize("run_id", ["../etc", "/etc/passwd", "a/b", "..", ".hidden", "a\\b", ""])
def test_run_ids_cannot_escape_the_runs_folder(tmp_path, run_id) -> None:
    with pytest.raises(ValueError, match="not valid"):
        RunStore(tmp_path).path(run_id)


def test_host_settings_from_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FT_APP_DEMO", "1")
    monkeypatch.setenv("FT_APP_AUTH", "ada:secret")
    monkeypatch.setenv("FT_APP_LOCAL_ROOT", str(tmp_path))
    monkeypatch.setenv("FT_APP_MAX_UPLOAD_MB", "5")
    host = HostSettings.from_env()
    assert host.demo and host.auth == ("ada", "secret") and host.local_root == tmp_path.resolve()
    assert host.max_upload_mb == 5
    monkeypatch.setenv("FT_APP_AUTH", "nocolon")
    with pytest.raises(ValueError, match="user:password"):
        HostSettings.from_env()


def test_a_run_is_recognised_by_pid_and_start_time_never_by_a_reused_pid(tmp_path) -> None:
    """A live training process keeps its run active; the same pid with another start time, or not ft_app, does not."""
    store = RunStore(tmp_path)
    from ft_app.config import RunConfig

    raw = {"task": "classification", "model": "m", "data": {"train": "d.csv"}}
    live, reused, stranger = (store.create(RunConfig.from_dict({**raw, "name": n})) for n in ("live", "reused", "other"))
    # A process running ft_app code, as a CLI run does, and one that is not ft_app at all.
    trainer = subprocess.Popen([sys.executable, "-c", "import ft_app, time; time.sleep(60)"], cwd=REPO_ROOT)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for proc in (trainer, other):
            _wait(lambda p=proc: ProcessId.from_status({**_identity(p.pid)}) is not None, 10, "the process to start")
        store.write_status(live, status="running", **_identity(trainer.pid))
        store.write_status(reused, status="running", **{**_identity(trainer.pid), "pid_started": _identity(trainer.pid)["pid_started"] - 3600})
        store.write_status(stranger, status="running", **_identity(other.pid))
        assert ProcessId.from_status(store.read_status(live)).alive()
        assert sorted(store.mark_interrupted()) == sorted([reused.name, stranger.name])
        assert store.read_status(live)["status"] == "running"  # its process is alive: left alone
        trainer.kill()
        trainer.wait()
        assert store.mark_interrupted() == [live.name]
    finally:
        for proc in (trainer, other):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _identity(pid: int) -> dict:
    """The identity fields a training process records for itself, here for another process."""
    import socket

    from ft_app.pids import start_time

    return {"pid": pid, "pid_started": start_time(pid), "host": socket.gethostname(), "pgid": pid}


def test_local_root_still_allows_the_apps_uploads(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    store = RunStore(tmp_path / "home" / "runs")
    store.uploads_dir.mkdir(parents=True)
    uploaded = store.uploads_dir / "reviews.csv"
    uploaded.write_bytes(sentiment_csv.read_bytes())
    host = HostSettings(local_root=tiny_bert_dir.parent.resolve())  # models from here; data only via uploads
    config = make_config("classification", tiny_bert_dir, "full", uploaded)
    host.check_run_allowed(config, store.uploads_dir)
    with pytest.raises(ValueError, match="outside the folder"):
        host.check_run_allowed(make_config("classification", tiny_bert_dir, "full", sentiment_csv), store.uploads_dir)
