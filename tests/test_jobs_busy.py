"""What the job manager says while a run is on: which run keeps Train busy, and a Stop in progress said as such."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ft_app.runs import RunStore
from ft_app.training.jobs import JobBusyError, JobManager
from tests.engine_checks import make_config

LONG = {"max_steps": 5000, "eval_strategy": "no", "logging_steps": 1}


def test_busy_names_its_run_and_a_stopping_run_says_it_is_saving(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training=LONG)
    manager = JobManager(RunStore(tmp_path / "runs"))
    assert manager.active_run() is None
    run_id = manager.start(config)
    deadline = time.monotonic() + 120
    while (manager.current().step or 0) < 2:
        assert time.monotonic() < deadline, "the run did not reach step 2"
        time.sleep(0.05)
    snap, visible = manager.active_run()
    assert snap.run_id == run_id and visible

    with pytest.raises(JobBusyError, match=rf"Busy: run {run_id} is training") as busy:
        manager.start(config)
    assert busy.value.run_id == run_id  # a page drops this refusal once that run has ended

    manager.stop()
    with pytest.raises(JobBusyError, match=rf"run {run_id} is stopping and saving what it learned") as stopping:
        manager.start(config)
    assert stopping.value.run_id == run_id and "Press Train again in a few seconds" in str(stopping.value)
    manager.wait(120)
    assert manager.active_run() is None
