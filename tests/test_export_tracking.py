"""Optional experiment tracking: off by default; with report_to 'tensorboard' a run also writes TensorBoard event
files holding the same losses as metrics.jsonl; a tracker that is not installed is refused in a plain sentence."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ft_app.config import ConfigError, RunConfig, report_to_argument
from ft_app.tracking import tensorboard_dir
from tests.engine_checks import make_config, read_metrics, train_with_manager


def test_default_is_off(tiny_bert_dir: Path, sentiment_csv: Path) -> None:
    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv)
    assert config.training.report_to == "none"
    assert report_to_argument(config.training.report_to) == "none"
    assert RunConfig.from_dict(config.to_dict()) == config


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="pip install tensorboard")
def test_tensorboard_event_file_holds_the_run_losses(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv, training={"report_to": "tensorboard"})
    snap = train_with_manager(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    events = sorted(tensorboard_dir(snap.run_dir).rglob("events.out.tfevents.*"))
    assert events, sorted(p.relative_to(snap.run_dir).as_posix() for p in snap.run_dir.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    logged = {e.step: e.value for e in acc.Scalars("train/loss")}
    expected = {r["step"]: r["loss"] for r in read_metrics(snap.run_dir) if r["kind"] == "train" and "loss" in r}
    assert logged.keys() == expected.keys()
    assert list(logged.values()) == pytest.approx(list(expected.values()), rel=1e-5)


def test_a_run_without_tracking_writes_no_event_file(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    snap = train_with_manager(make_config("classification", tiny_bert_dir, "lora", sentiment_csv), tmp_path / "runs")
    assert snap.status == "completed", snap.message
    assert not list(snap.run_dir.rglob("events.out.tfevents.*"))


def test_unknown_or_missing_tracker_is_refused_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="report_to 'wandb' is not one of: none, tensorboard, trackio"):
        report_to_argument("wandb")
    # The config check refuses it before any run folder exists, in the page's words.
    with pytest.raises(ConfigError, match="'wandb' is not one of: none, tensorboard, trackio"):
        RunConfig.from_dict({"task": "classification", "model": "m", "data": {"train": "d.csv"},
                             "training": {"report_to": "wandb"}})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trackio" else real(name, *a))
    with pytest.raises(ConfigError, match="needs the trackio package.*pip install trackio"):
        report_to_argument("trackio")
