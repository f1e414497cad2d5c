"""Training in a process of its own: a kill, a native crash or a hang of the training never takes the server down.

Here the test process plays the server (it holds the JobManager); the runs train in the warm worker. Faults are
put into the training process by the test hook in tests/fixtures/train_hooks.py, chosen by the run's name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ft_app.runs import BASE_RESULTS_FILE, CHECKPOINT_MARKER, EVAL_FILE, RunStore
from ft_app.training.child import HOOK_ENV
from ft_app.training.jobs import JobManager
from tests.engine_checks import REPO_ROOT, cli_env, make_config, read_metrics

HOOK = "tests.fixtures.train_hooks:faults"
# Long enough to be interrupted (the `slow` hook adds 0.2 s a step), with a complete checkpoint every 5 steps.
CHECKPOINTED = {"max_steps": 30, "batch_size": 4, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "steps",
                "save_steps": 5, "save_total_limit": 2}


@pytest.fixture
def hooked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs started from now on get the fault their name asks for."""
    monkeypatch.setenv(HOOK_ENV, HOOK)


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll until predicate() is true, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def train_steps(run_dir: Path) -> list[int]:
    """Steps of the train records in metrics.jsonl, in file order."""
    return [r["step"] for r in read_metrics(run_dir) if r["kind"] == "train"] if (run_dir / "metrics.jsonl").exists() else []


def complete_checkpoints(run_dir: Path) -> list[str]:
    """Names of the checkpoints that were fully written."""
    return sorted(p.parent.name for p in run_dir.glob(f"checkpoints/checkpoint-*/{CHECKPOINT_MARKER}"))


def test_killed_training_process_fails_plainly_and_resumes_at_once(
    hooked: None, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """SIGKILL of the training process (what the OOM killer does): failed in plain words, resumable, one curve."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=CHECKPOINTED, name="slow")
    run_id = manager.start(config)
    run_dir = store.path(run_id)
    wait_for(lambda: complete_checkpoints(run_dir) and len(train_steps(run_dir)) >= 7, 120, "a checkpoint and 7 steps")
    pid = store.read_status(run_dir)["pid"]
    assert pid != os.getpid()  # it trains in another process
    os.kill(pid, signal.SIGKILL)

    snap = manager.wait(60)
    assert snap.status == "failed" and not manager.busy
    assert "was killed (SIGKILL)" in snap.message and "ran out of memory" in snap.message, snap.message
    checkpoint = store.last_complete_checkpoint(run_dir)
    assert checkpoint is not None and f"({checkpoint.name})" in snap.message
    status = store.read_status(run_dir)
    assert status["status"] == "failed" and status["exit_code"] == -signal.SIGKILL and status["message"] == snap.message
    assert not (run_dir / BASE_RESULTS_FILE).exists()  # the base is evaluated after training, by the attempt that ends it
    killed_at = train_steps(run_dir)

    assert manager.resume(run_id) == run_id  # the next run starts at once, from the last complete checkpoint
    snap = manager.wait(180)
    assert snap.status == "completed", snap.message
    steps = train_steps(run_dir)
    assert steps == list(range(1, 31))  # one curve: every step once, in order
    resumed_at = int(checkpoint.name.rpartition("-")[2])
    assert steps[:resumed_at] == killed_at[:resumed_at]
    assert [r["step"] for r in snap.records if r["kind"] == "train"] == steps  # the live snapshot followed the rewrite
    assert (run_dir / "model" / "model.safetensors").is_file()
    base = json.loads((run_dir / BASE_RESULTS_FILE).read_text())["before"]
    report = json.loads((run_dir / EVAL_FILE).read_text())
    assert base["rows"] == report["after"]["rows"] > 0 and report["before"] == base


def test_native_crash_is_reported_with_the_log_and_the_slot_is_free(
    hooked: None, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """os.abort() in the training process: failed with a plain sentence, the crash report in the log, resumable."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    training = {**CHECKPOINTED, "save_steps": 2}
    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv, training=training, name="abort-at-6")
    run_id = manager.start(config)
    snap = manager.wait(120)
    assert snap.status == "failed" and not manager.busy
    assert "crashed (SIGABRT)" in snap.message and "checkpoint-4" in snap.message, snap.message
    assert "Fatal Python error: Aborted" in store.read_log_tail(store.path(run_id), 60)
    assert store.read_status(store.path(run_id))["exit_code"] == -signal.SIGABRT
    assert store.last_complete_checkpoint(store.path(run_id)).name == "checkpoint-4"  # Resume can take it from here
    assert train_steps(store.path(run_id)) == [1, 2, 3, 4, 5]


def test_stop_that_is_not_obeyed_ends_the_process_after_the_grace(
    hooked: None, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """A step that hangs cannot read the Stop: after the grace period the process is ended, the run `stopped`."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store, stop_grace_s=2.0)
    training = {**CHECKPOINTED, "save_steps": 3}
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=training, name="hang-at-8")
    run_id = manager.start(config)
    run_dir = store.path(run_id)
    wait_for(lambda: len(train_steps(run_dir)) >= 7, 120, "7 steps")  # step 8 hangs
    pid = store.read_status(run_dir)["pid"]
    assert manager.stop() == run_id
    snap = manager.wait(60)
    assert snap.status == "stopped" and not manager.busy
    assert "did not end within 2 s of Stop" in snap.message and "checkpoint-6" in snap.message, snap.message
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert store.read_status(run_dir)["status"] == "stopped"
    assert store.last_complete_checkpoint(run_dir).name == "checkpoint-6"


def test_a_new_server_reattaches_to_a_run_that_outlived_the_old_one(
    hooked: None, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """A second job manager on the same runs folder (a restarted server) follows the live run to its end."""
    store = RunStore(tmp_path / "runs")
    first = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=CHECKPOINTED, name="slow")
    run_id = first.start(config)
    run_dir = store.path(run_id)
    wait_for(lambda: len(train_steps(run_dir)) >= 3, 120, "3 steps")

    second = JobManager(store)
    assert store.mark_interrupted() == []  # its process lives: not interrupted
    assert second.reattach() == run_id
    assert second.busy and second.current().status == "running"
    assert second.current().step >= 3  # the curve so far comes from the folder
    snap = second.wait(180)
    assert snap.status == "completed", snap.message
    assert [r["step"] for r in snap.records if r["kind"] == "train"] == list(range(1, 31))
    assert first.wait(30).status == "completed"


def test_the_server_never_imports_the_training_libraries(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """A process that only manages runs (as the web server does) never loads torch: it holds no training memory."""
    config_path = tmp_path / "run.json"
    make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": 2}).save(config_path)
    script = (
        "import json, sys\n"
        "from ft_app.config import RunConfig\n"
        "from ft_app.runs import RunStore\n"
        "from ft_app.training.jobs import JobManager\n"
        f"manager = JobManager(RunStore({str(tmp_path / 'runs')!r}))\n"
        f"manager.start(RunConfig.load({str(config_path)!r}))\n"
        "snap = manager.wait(300)\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft') if m in sys.modules]\n"
        "print(json.dumps({'status': snap.status, 'heavy': heavy}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT,
                          timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome == {"status": "completed", "heavy": []}


def test_stop_works_through_the_run_folder_when_no_signal_is_sent(
    hooked: None, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows' branch forced for the stop signal (Windows has no SIGTERM to send): Stop still ends the run after its
    step, with a checkpoint, through the request the trainer reads from the run folder (issue 18)."""
    import functools

    from ft_app import system

    sent: list[int] = []
    windows_stop = functools.partial(system.ask_group_to_stop, windows=True)
    monkeypatch.setattr(system, "ask_group_to_stop", lambda group: sent.append(group) or windows_stop(group))
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=CHECKPOINTED, name="slow")
    run_id = manager.start(config)
    run_dir = store.path(run_id)
    wait_for(lambda: len(train_steps(run_dir)) >= 3, 120, "3 steps")
    manager.stop()
    snap = manager.wait(60)
    assert sent, "the stop went through ask_group_to_stop"
    assert snap.status == "stopped" and snap.message.startswith("Stopped at step"), snap.message
    step = store.read_status(run_dir)["step"]
    assert step < 30 and store.last_complete_checkpoint(run_dir).name == f"checkpoint-{step}"

    # Before training begins (loading the model): the request ends the run at once, as SIGTERM would.
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=CHECKPOINTED, name="early")
    run_id = manager.start(config)
    manager.stop()
    snap = manager.wait(60)
    assert snap.status == "stopped", snap.message
    assert not store.read_status(store.path(run_id)).get("exit_code")  # it ended by itself, not killed


def test_the_time_limit_counts_a_runs_whole_life(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """FT_APP_MAX_RUN_MINUTES per attempt, FT_APP_MAX_RUN_LIFE_MINUTES in all: a resume gets what is left."""
    from ft_app.hosting import HostSettings

    store = RunStore(tmp_path / "runs")
    long = {**CHECKPOINTED, "max_steps": 100_000, "save_steps": 10}
    manager = JobManager(store, host=HostSettings(max_run_minutes=0.25, max_run_life_minutes=0.4))  # 15 s, 24 s
    run_id = manager.start(make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=long))
    snap = manager.wait(120)
    assert snap.status == "stopped" and snap.message.startswith("This server stops a run after 15 seconds."), snap.message
    life = store.read_status(store.path(run_id))["life_s"]
    assert 15 <= life < 60
    assert manager.resume(run_id) == run_id  # what is left of the 24 s
    snap = manager.wait(120)
    assert snap.status == "stopped", snap.message
    assert snap.message.startswith("This server gives a run 24 seconds of training in all, resumes included.")
    assert store.read_status(store.path(run_id))["life_s"] >= 24
    with pytest.raises(ValueError, match="has had all the training time this server gives one run"):
        manager.resume(run_id)


_THREADS_PROBE = """
import os, sys
import ft_app  # what `python -m ft_app train` (the training process the app starts) imports first
print("TORCH_LOADED", "torch" in sys.modules, "POLICY", os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_training_threads_wait_asleep_unless_told_otherwise(setting: str | None, expected: str) -> None:
    """Torch's CPU threads spin while they wait by default: two trainings at once on 2 cores took 6.6x one alone.
    A training process sets the OpenMP wait policy to PASSIVE before torch loads; a person's own setting wins."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if setting is not None:
        env["OMP_WAIT_POLICY"] = setting
    done = subprocess.run([sys.executable, "-c", _THREADS_PROBE], env=env, capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert f"TORCH_LOADED False POLICY {expected}" in done.stdout, done.stderr[-2000:]
