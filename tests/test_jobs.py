"""The job manager: one run at a time in the background, stop mid-run keeps what was trained, live snapshots."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from ft_app.runs import RunStore
from ft_app.training.jobs import JobBusyError, JobManager, NothingRunningError
from ft_app.training.progress import RunProgress
from tests.engine_checks import assert_run_folder_complete, make_config

LONG = {"max_steps": 5000, "eval_strategy": "no", "logging_steps": 1}


def _wait_for_step(manager: JobManager, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = manager.current()
        assert snap is not None
        if snap.status in ("completed", "stopped", "failed"):
            pytest.fail(f"run ended before step {step}: {snap.status} {snap.message}")
        if snap.step >= step:
            return
        time.sleep(0.05)
    pytest.fail(f"run did not reach step {step} in {timeout}s")


@pytest.mark.parametrize("method", ["full", "lora"])
def test_stop_mid_run_saves_what_was_trained(
    method: str, tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """Stop ends the run as `stopped` after a few steps; its model/adapter folder is saved and reloads."""
    config = make_config("classification", tiny_bert_dir, method, sentiment_csv, training=LONG)
    manager = JobManager(RunStore(tmp_path / "runs"))
    run_id = manager.start(config)
    assert manager.busy
    _wait_for_step(manager, 3)

    assert manager.stop() == run_id
    snap = manager.wait(120)
    assert snap is not None and not manager.busy
    assert snap.status == "stopped", snap.message
    assert 3 <= snap.step < 5000
    assert "Stopped at step" in snap.message
    result = assert_run_folder_complete(snap.run_dir, config, status="stopped", expect_eval=False)
    status = json.loads((snap.run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["step"] == snap.step

    if method == "full":
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(result)
    else:
        from peft import AutoPeftModelForSequenceClassification

        model = AutoPeftModelForSequenceClassification.from_pretrained(result, num_labels=2)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[2, 10, 11, 3]])).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()

    with pytest.raises(NothingRunningError):
        manager.stop()


def test_second_start_is_refused_while_one_runs(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """One job at a time: a second start says Busy and creates no run folder; after it ends, a new one starts."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "head", sentiment_csv, training=LONG)
    first = manager.start(config)
    _wait_for_step(manager, 1)

    with pytest.raises(JobBusyError, match="Busy") as info:
        manager.start(config)
    assert first in str(info.value) and "stop it" in str(info.value)
    assert [s.run_id for s in store.list_runs()] == [first]

    manager.stop()
    assert manager.wait(120).status == "stopped"
    quick = make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": 1}, name="second")
    second = manager.start(quick)
    assert manager.wait(120).status == "completed"
    assert second != first and second.endswith("-second")
    assert {s.run_id for s in store.list_runs()} == {first, second}


def test_stop_with_nothing_running(tmp_path: Path) -> None:
    """Stop with no run says so plainly."""
    manager = JobManager(RunStore(tmp_path / "runs"))
    with pytest.raises(NothingRunningError, match="Nothing is training"):
        manager.stop()
    assert manager.current() is None and not manager.busy


def test_bad_config_fails_at_start_without_a_run_folder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """start() checks before it creates anything: a missing data file raises and leaves no run behind."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "full", tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="missing.csv"):
        manager.start(config)
    assert store.list_runs() == [] and not manager.busy and manager.current() is None


def test_the_run_folder_is_the_one_progress_channel(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """The job manager's snapshot is the run folder read by the one reader; another server (after a restart) and
    another store reading the same folder see the same thing."""
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store)
    config = make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": 4})
    run_id = manager.start(config)
    live = manager.wait(120)
    assert live.status == "completed" and live.fraction == 1.0 and not live.active
    assert live.eta_s is None
    assert live.total_steps == 4 and live.step == 4
    kinds = [r["kind"] for r in live.records]
    assert kinds.count("train") == 4 and "eval" in kinds and kinds[-1] == "summary"

    disk = RunStore(tmp_path / "runs").read_progress(store.path(run_id))  # a fresh reader of the same folder
    assert manager.snapshot(run_id) == manager.current() == live
    assert disk.status == "completed" and disk.step == 4 and disk.total_steps == 4
    assert [r["step"] for r in disk.records] == [r["step"] for r in live.records]
    assert disk.trainable_params == live.trainable_params
    fresh = JobManager(store)  # another process after a restart
    assert fresh.snapshot(run_id).records == disk.records
    with pytest.raises(ValueError, match="does not exist"):
        manager.snapshot("no-such-run")


def test_progress_times_recent_steps_without_the_warm_up_and_counts_the_checks_after_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first step (warm-up) is not timed; time between steps (evaluations, checkpoints) is shared over the steps;
    the evaluation passes after training are in the time left at the speed of the last pass in training."""
    from ft_app.training import progress as progress_module

    clock = [100.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    progress = RunProgress(run_id="r", run_dir=tmp_path)
    progress.update(status="running", after_passes=2)
    progress.start_training(total_steps=100)

    def step(n: int, seconds: float, gap: float = 0.0) -> None:
        clock[0] += gap
        progress.begin_step()
        clock[0] += seconds
        progress.end_step(n)

    step(1, 30.0)  # warm-up: ten times slower than the rest
    for n in range(2, 12):
        step(n, 1.0, gap=0.5 if n == 6 else 0.0)  # one evaluation between steps 5 and 6
    snap = progress.snapshot()
    assert snap.measured_steps == 10 and snap.step == 11
    assert snap.s_per_step == pytest.approx(1.0 + 0.5 / 10)
    assert snap.eta_s == pytest.approx(89 * 1.05)  # no evaluation pass timed yet: nothing added for the after
    progress.update(eval_s=4.0)
    assert progress.snapshot().eta_s == pytest.approx(89 * 1.05 + 2 * 4.0)
    for n in range(12, 32):
        step(n, 0.25)  # the machine got quicker: the last 20 steps decide
    assert progress.snapshot().s_per_step == pytest.approx(0.25 + 0.5 / 30)


def test_progress_counts_the_checks_to_come_at_their_measured_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation with its checkpoint after each pass costs seconds where a step costs one: before the first one
    the run is not measured yet (the plan box waits for it); after it, the checks still to come are in the time
    left at its cost (the plan box said 16% short on a quiet machine without them: bench/README.md)."""
    from ft_app.training import progress as progress_module
    from ft_app.training.progress import planned_checks

    assert planned_checks(20, 5, [("epoch", None), ("epoch", None)]) == {5, 10, 15, 20}
    assert planned_checks(20, 5, [("steps", 8), ("no", None)]) == {8, 16}
    assert planned_checks(100, 50, [("steps", 0.25), ("no", None)]) == {25, 50, 75, 100}
    assert planned_checks(20, 5, [("no", None), ("no", None)]) == frozenset()

    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: clock[0])
    progress = RunProgress(run_id="r", run_dir=tmp_path)
    progress.update(status="running", check_steps=planned_checks(20, 5, [("epoch", None)]))
    progress.start_training(total_steps=20)

    def step(n: int, gap: float = 0.0) -> None:
        clock[0] += gap
        progress.begin_step()
        clock[0] += 1.0
        progress.end_step(n)

    for n in range(1, 5):
        step(n)
    early = progress.snapshot()
    assert early.awaiting_check and not early.measured
    step(5)
    step(6, gap=3.0)  # the check after step 5
    step(7)
    snap = progress.snapshot()
    assert not snap.awaiting_check and snap.measured_steps == 6
    assert snap.eta_s == pytest.approx(13 * 1.0 + 3 * 3.0)  # 13 steps and the checks after steps 10, 15 and 20
    assert snap.s_per_step == pytest.approx(1.0 + 3.0 / 6)  # what a step cost with its share of the checks


def test_progress_eta_and_thread_safe_copies(tmp_path: Path) -> None:
    """ETA counts from the first training step; snapshots are copies that later updates do not change."""
    progress = RunProgress(run_id="r", run_dir=tmp_path)
    progress.update(status="running")
    progress.start_training(total_steps=10)
    assert progress.snapshot().eta_s is None  # no step done yet
    progress.train_started = time.monotonic() - 2.0  # two seconds for two steps
    progress.update(step=2)
    progress.add_record({"kind": "train", "step": 2, "loss": 1.0})
    snap = progress.snapshot()
    assert snap.eta_s == pytest.approx(8.0, rel=0.1)
    assert snap.fraction == pytest.approx(0.2) and snap.active
    snap.records[0]["loss"] = 99.0  # the copy is the caller's to change
    progress.add_record({"kind": "train", "step": 3, "loss": 0.5})
    assert len(snap.records) == 1 and progress.snapshot().records[0]["loss"] == 1.0
    progress.update(status="completed")
    done = progress.snapshot()
    assert done.eta_s is None and not done.active
    time.sleep(0.02)
    assert progress.snapshot().elapsed_s == done.elapsed_s  # the clock stops when the run ends
