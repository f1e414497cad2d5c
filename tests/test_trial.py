"""A trial of a few real steps before Train (issue 17 item 1): it times the real model and batch on the real data in
a process of its own, measures the memory it takes, and the plan of the same kind of run is timed by it."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from ft_app import estimate
from ft_app.data import count_local_rows
from ft_app.runs import RunStore
from ft_app.training.callbacks import MetricsCallback
from ft_app.training.jobs import JobBusyError, JobManager
from ft_app.training.trial import TRIAL_MAX_STEPS, TRIAL_MIN_S, TRIAL_STEPS, run_trial, run_trial_here, trial_config
from ft_app.trials import latest_trial, save_trial
from tests.engine_checks import make_config
from tests.fixtures.data_files import write_sentiment_csv


def test_a_trial_times_real_steps_in_its_own_process_and_times_the_plan(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data, training={"batch_size": 4})
    store = RunStore(tmp_path / "runs")
    rows = count_local_rows(config)
    modelled = estimate.plan_run(config, rows)
    assert estimate.measured_speed(store, config) is None

    result = run_trial(config)
    assert TRIAL_STEPS <= result.steps <= TRIAL_MAX_STEPS and result.s_per_step > 0 and result.device == "cpu"
    # The training process's own peak: Python, torch and the model at least, and less than the machine has.
    assert result.peak_gb is not None and 0.1 < result.peak_gb < result.free_gb and result.fits
    assert result.took_s > result.s_per_step * result.steps

    save_trial(store, result)
    assert latest_trial(store, estimate.speed_key(config)) == result
    measured = estimate.measured_speed(store, config)
    assert measured is not None and measured.run_id == "" and measured.s_per_step == result.s_per_step
    plan = estimate.plan_run(config, rows, measured=measured)
    assert plan.seconds_here != modelled.seconds_here
    assert f"measured on {result.steps} trial steps" in plan.time_text() and "GB free" in plan.time_text()
    # Another kind of run (another batch size) is not timed by it; nor is the trial a run in the runs list.
    other = make_config("classification", tiny_bert_dir, "full", data, training={"batch_size": 8})
    assert estimate.measured_speed(store, other) is None
    assert store.list_runs() == []


def test_a_trial_is_what_the_steps_cost(tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps slowed on purpose: the trial's speed is theirs (its first step, warm-up, is not counted)."""
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data, training={"batch_size": 4})
    original = MetricsCallback.on_step_end
    slow_s = 0.4

    def slowed(self: MetricsCallback, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        time.sleep(slow_s if state.global_step > 1 else 3.0)
        original(self, args, state, control, **kwargs)

    monkeypatch.setattr(MetricsCallback, "on_step_end", slowed)
    result = run_trial_here(config)
    assert slow_s <= result.s_per_step < 2.0, result
    # Timed until its steps took TRIAL_MIN_S (about 8 steps of 0.4 s and a little), not longer.
    assert math.ceil(TRIAL_MIN_S / (slow_s + 0.1)) <= result.steps <= math.ceil(TRIAL_MIN_S / slow_s), result


def test_a_trial_of_quick_steps_times_them_past_their_first_call_costs(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps that cost milliseconds once warm, but whose first few after warm-up are slower (a small model on a GPU:
    4 steps timed on an H100 said 5x the run's pace): the trial times on for seconds and the plan gets the warm pace."""
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data, training={"batch_size": 4})
    original = MetricsCallback.on_step_end
    first_call_s = 0.6

    def slow_start(self: MetricsCallback, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step <= 4:  # the warm-up step and the three after it
            time.sleep(first_call_s)
        original(self, args, state, control, **kwargs)

    monkeypatch.setattr(MetricsCallback, "on_step_end", slow_start)
    result = run_trial_here(config)
    assert TRIAL_STEPS < result.steps <= TRIAL_MAX_STEPS
    assert result.s_per_step < first_call_s / 2, result


def test_a_trial_is_cut_to_its_steps_and_checks_nothing_after(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={"batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 3})
    trial = trial_config(config)
    assert trial.training.max_steps == TRIAL_MAX_STEPS + 1 and trial.data.max_rows == (TRIAL_MAX_STEPS + 1) * 8
    assert trial.training.eval_strategy == "no" and trial.training.save_strategy == "no"
    assert not trial.evaluation.before_after and trial.model == config.model and trial.max_length == config.max_length


def test_a_trial_that_cannot_train_says_why(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data, data={"text_column": "no_such_column"})
    with pytest.raises(ValueError, match=r"The trial could not take a step: .*no_such_column"):
        run_trial(config)


def test_a_trial_and_a_run_never_share_the_machine(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data, training={"batch_size": 4})
    manager = JobManager(RunStore(tmp_path / "runs"))
    manager._trial = str(tiny_bert_dir)  # a trial is timing steps now
    with pytest.raises(JobBusyError, match="a trial is timing a few steps"):
        manager.start(config)
    with pytest.raises(JobBusyError, match="a trial is timing a few steps"):
        manager.trial(config)
    manager._trial = None
    result = manager.trial(config)
    assert latest_trial(manager.store, estimate.speed_key(config)) == result
