"""Issue 17 item 2: a run that keeps its best model keeps it by the task's own measure (accuracy for labels), stops
early when it stops improving and says so, and its numbers match the results table. (Not the default: measured in
bench/keep_best.py, picking by a few dozen held-out rows cost accuracy.)"""

from __future__ import annotations

import json
from pathlib import Path

from ft_app.runs import RunStore
from tests.engine_checks import make_config, read_metrics, train_in_process
from tests.fixtures.data_files import write_sentiment_csv

KEEP_BEST = {"max_steps": None, "eval_strategy": "auto", "eval_steps": None, "save_strategy": "auto",
             "logging_steps": None, "early_stopping": True}


def _status(run_dir: Path) -> dict:
    return json.loads((run_dir / "status.json").read_text())


def test_a_run_that_keeps_its_best_model_keeps_it_by_accuracy_and_the_numbers_match_the_table(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={**KEEP_BEST, "epochs": 4, "batch_size": 8, "learning_rate": 1e-3})
    snap = train_in_process(config, tmp_path / "runs")
    status = _status(snap.run_dir)
    assert snap.status == "completed", snap.message
    evals = [r for r in read_metrics(snap.run_dir) if r.get("kind") == "eval"]
    best = max(evals, key=lambda r: r["eval_accuracy"])  # the first of the best: the Trainer keeps a strict gain
    assert status["best_step"] == best["step"] and status["best_metric"]["eval_accuracy"] == best["eval_accuracy"]
    assert f"Kept the best one, from step {best['step']}" in status["message"] or (
        best["step"] == status["step"] and "Kept the last one" in status["message"])
    # The results table's "after" is the kept model on the same held-out rows: the same accuracy.
    after = json.loads((snap.run_dir / "eval.json").read_text())["after"]
    assert abs(after["accuracy"] - best["eval_accuracy"]) < 1e-9
    assert RunStore(tmp_path / "runs").summary(snap.run_id).best_step == best["step"]


def test_a_run_that_stops_improving_stops_early_and_says_so(tmp_path: Path, tiny_bert_dir: Path) -> None:
    data = write_sentiment_csv(tmp_path / "reviews.csv", n=64)
    # A learning rate too small to change any answer: the accuracy cannot improve after the first evaluation.
    config = make_config("classification", tiny_bert_dir, "full", data,
                         training={**KEEP_BEST, "epochs": 6, "batch_size": 8, "learning_rate": 1e-12,
                                   "early_stopping_patience": 2})
    snap = train_in_process(config, tmp_path / "runs")
    status = _status(snap.run_dir)
    every = status["total_steps"] // 5  # auto: about 5 evaluations
    assert snap.status == "completed" and status["step"] == 3 * every < status["total_steps"]
    assert "Stopped early: the held-out accuracy had not improved for 2 evaluations." in status["message"]
    assert f"Kept the best one, from step {every}" in status["message"]
