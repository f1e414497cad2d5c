"""Issue 17 item 1: the plan box follows what the run measures. A run whose steps are slowed on purpose: after its
first steps the plan box gives its time measured on them, in the progress line's own figures; the next plan of the
same kind is timed by that run's steps."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from ft_app import estimate
from ft_app.data import count_local_rows
from ft_app.runs import MEASURE_STEPS, RunStore
from ft_app.training.callbacks import MetricsCallback
from ft_app.ui import common, train_tab
from tests.engine_checks import make_config, train_in_process
from tests.fixtures.data_files import write_sentiment_csv

SLOW_S = 0.3  # added to every step


def test_a_slowed_run_is_timed_by_its_own_steps_and_times_the_next_plan(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={"max_steps": 30, "batch_size": 4, "eval_strategy": "no"})
    runs = tmp_path / "runs"
    store = RunStore(runs)
    rows = count_local_rows(config)
    assert rows and estimate.measured_speed(store, config) is None
    quick = estimate.plan_run(config, rows)  # the model of the hardware: no run of this kind yet
    seen: dict[str, Any] = {}
    original = MetricsCallback.on_step_end

    def slowed(self: MetricsCallback, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        time.sleep(SLOW_S)
        self.last_status_write = 0.0  # write the status each step, so the reads below see this step
        original(self, args, state, control, **kwargs)
        if state.global_step in (2, MEASURE_STEPS + 2):
            snap = RunStore(runs).read_progress(self.run_dir)
            seen[state.global_step] = (train_tab.plan_now(snap), common.progress_html(snap), snap)

    monkeypatch.setattr(MetricsCallback, "on_step_end", slowed)
    snap = train_in_process(config, runs)
    assert snap.status == "completed", snap.message

    early, _, _ = seen[2]
    assert early.startswith(f"Run {snap.run_id}: measuring its speed on its first {MEASURE_STEPS} steps")
    text, progress, live = seen[MEASURE_STEPS + 2]
    # Step 1 is warm-up and not timed: steps 2 to 12 are.
    assert f"measured on its {MEASURE_STEPS + 1} steps so far" in text and live.s_per_step >= SLOW_S
    assert re.match(rf"Run {snap.run_id}: (about [^ ]+ \w+|a few seconds) here in all", text), text
    left = re.search(r"about (\d+:\d\d) left", text).group(1)
    assert f"about {left} left" in progress  # the plan box and the progress line say the same time
    # The remaining 18 steps at >= 0.3 s each: the measured time left cannot be less.
    assert int(left.split(":")[0]) * 60 + int(left.split(":")[1]) >= round(SLOW_S * (30 - MEASURE_STEPS - 2)) - 1

    measured = estimate.measured_speed(store, config)
    assert measured is not None and measured.run_id == snap.run_id and measured.s_per_step >= SLOW_S
    plan = estimate.plan_run(config, rows, measured=measured)
    assert plan.seconds_here >= SLOW_S * 30 > quick.seconds_here - estimate.FIXED_S["cpu"]
    assert f"measured on run {snap.run_id}'s 29 steps" in plan.time_text()  # all but the warm-up step
    # A run of another kind (another batch size) is not timed by this one.
    other = make_config("classification", tiny_bert_dir, "full", data, training={"max_steps": 30, "batch_size": 8})
    assert estimate.measured_speed(store, other) is None


def test_the_time_left_follows_the_recent_steps_when_the_machine_gets_quicker(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Busy at first (another run ends, say), quick after: the time a step takes is the recent steps' time, not the
    run's average, so the plan box does not keep promising the slow start's pace for the rest of the run."""
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={"max_steps": 40, "batch_size": 4, "eval_strategy": "no"})
    runs = tmp_path / "runs"
    seen: dict[int, Any] = {}
    original = MetricsCallback.on_step_end
    busy_steps, busy_s, read_at = 12, 1.0, 34

    def busy_then_quick(self: MetricsCallback, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step <= busy_steps:
            time.sleep(busy_s)
        self.last_status_write = 0.0
        original(self, args, state, control, **kwargs)
        seen.setdefault(state.global_step, time.monotonic())
        if state.global_step == read_at:
            snap = RunStore(runs).read_progress(self.run_dir)
            seen[-1] = (train_tab.plan_now(snap), snap)

    monkeypatch.setattr(MetricsCallback, "on_step_end", busy_then_quick)
    snap = train_in_process(config, runs)
    assert snap.status == "completed", snap.message
    text, live = seen[-1]
    # The whole run's pace after its warm-up step, as a watch would take it: steps 2 to 34, the slow ones included.
    average = (seen[read_at] - seen[1]) / (read_at - 1)
    assert live.s_per_step < 0.75 * average, (live.s_per_step, average)
    assert f"measured on its {read_at - 1} steps so far" in text, text


def test_the_plan_box_waits_for_the_first_evaluation_and_then_counts_the_ones_to_come(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that evaluates after each pass: its first measure waits for the first evaluation (it costs seconds, and
    comes back each pass), and the time left then holds the evaluations still to come at what the first one took."""
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={"epochs": 3, "max_steps": None, "batch_size": 4, "eval_strategy": "epoch",
                                   "save_strategy": "no"})
    runs = tmp_path / "runs"
    seen: dict[int, Any] = {}
    original_step_end, original_log = MetricsCallback.on_step_end, MetricsCallback.on_log
    check_s = 2.0

    def slow_evaluation(self: MetricsCallback, args: Any, state: Any, control: Any, logs: Any = None,
                        **kwargs: Any) -> None:
        if logs and any(k.startswith("eval_") for k in logs):
            time.sleep(check_s)
        original_log(self, args, state, control, logs=logs, **kwargs)

    def read(self: MetricsCallback, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last_status_write = 0.0
        original_step_end(self, args, state, control, **kwargs)
        snap = RunStore(runs).read_progress(self.run_dir)
        seen[state.global_step] = (train_tab.plan_now(snap), snap)

    monkeypatch.setattr(MetricsCallback, "on_log", slow_evaluation)
    monkeypatch.setattr(MetricsCallback, "on_step_end", read)
    snap = train_in_process(config, runs)
    assert snap.status == "completed", snap.message
    per_pass = 15  # 57 training rows, 4 a step
    assert snap.total_steps == 3 * per_pass
    text, before = seen[per_pass - 1]
    assert before.awaiting_check and not before.measured
    assert text == f"Run {snap.run_id}: measuring its speed on its steps and on its first evaluation or checkpoint…"
    text, after = seen[per_pass + 2]
    assert not after.awaiting_check and after.measured, text
    # Two evaluations to come (after passes 2 and 3), each about as long as the first (check_s and the pass itself).
    assert after.eta_s is not None and after.eta_s >= 2 * check_s, after.eta_s
    assert "measured on its" in text
