"""The recipes and examples are valid run configs; the figures hold what the records say."""

from __future__ import annotations

import math

import pytest

from ft_app import plots, presets
from ft_app.config import RunConfig
from ft_app.tasks import TASK_NAMES


@pytest.mark.parametrize("key", sorted(presets.PRESETS))
def test_every_preset_is_a_valid_run_config(key: str) -> None:
    preset = presets.PRESETS[key]
    config = RunConfig.from_dict({**preset.config(), "data": {**preset.settings.get("data", {}), "train": "x.csv"}})
    assert (config.task, config.method, config.model.name_or_path) == (preset.task, preset.method, preset.model)


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("online", [True, False])
def test_every_example_is_a_valid_run_config(task: str, online: bool) -> None:
    raw = presets.example_config(task, online=online, local_model="/some/model")
    config = RunConfig.from_dict(raw)
    assert config.task == task
    if online:
        assert config.data.train == presets.EXAMPLES[task].dataset
        assert config.model.name_or_path == presets.EXAMPLES[task].model
    else:
        assert config.data.train == str(presets.example_file(task)) and presets.example_file(task).is_file()
        assert config.model.name_or_path == "/some/model"


def test_offline_example_without_a_local_model_leaves_the_model_to_pick() -> None:
    raw = presets.example_config("classification", online=False, local_model=None)
    assert raw["model"] == {"name_or_path": ""}
    with pytest.raises(ValueError, match="No model chosen"):
        RunConfig.from_dict(raw)


def test_unknown_preset_and_task_get_plain_errors() -> None:
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        presets.get_preset("nope")
    with pytest.raises(ValueError, match="Unknown task 'poetry'"):
        presets.example_config("poetry", online=True)


RECORDS = [
    {"kind": "train", "step": 1, "epoch": 0.1, "loss": 0.9, "learning_rate": 1e-4},
    {"kind": "train", "step": 2, "epoch": 0.2, "loss": float("nan"), "learning_rate": 9e-5},
    {"kind": "train", "step": 3, "epoch": 0.3, "loss": 0.5, "learning_rate": 8e-5},
    {"kind": "eval", "step": 3, "epoch": 0.3, "eval_loss": 0.6, "eval_accuracy": 0.75},
    {"kind": "summary", "step": 3, "epoch": 0.3, "train_loss": 0.7},
]


def test_training_figure_has_train_eval_and_lr_on_a_second_axis() -> None:
    fig = plots.training_figure(RECORDS, uirevision="run-1")
    traces = {t.name: t for t in fig.data}
    assert list(traces["train loss"].x) == [1, 2, 3]
    assert list(traces["train loss"].y) == [0.9, None, 0.5]  # NaN drawn as a gap, never as a number
    assert list(traces["eval loss"].y) == [0.6] and "accuracy" in traces["eval loss"].hovertemplate
    assert traces["learning rate"].yaxis == "y2" and fig.layout.yaxis2.overlaying == "y"
    assert "epoch" in traces["train loss"].hovertemplate and fig.layout.uirevision == "run-1"
    assert plots.count_points(RECORDS) == (2, 1)


def test_smoothing_evens_out_and_keeps_gaps() -> None:
    smoothed = plots.smooth([1.0, None, 0.0, 1.0], 0.5)
    assert smoothed[0] == 1.0 and smoothed[1] is None
    assert 0 < smoothed[2] < 1 and smoothed[2] < smoothed[3] < 1
    assert plots.smooth([1.0, 2.0], 0.0) == [1.0, 2.0]
    fig = plots.training_figure(RECORDS, smoothing=0.6)
    names = [t.name for t in fig.data]
    assert "train loss (smoothed)" in names and "train loss (raw)" in names


def test_empty_records_give_a_figure_that_says_what_comes() -> None:
    fig = plots.training_figure([], empty_message="Press Train")
    assert not fig.data and fig.layout.annotations[0].text == "Press Train"


def test_overlay_and_data_figures() -> None:
    fig = plots.overlay_figure({"a": RECORDS, "b": RECORDS[:1]})
    assert [t.name for t in fig.data] == ["a: train loss", "a: eval loss", "b: train loss"]
    bars = plots.label_balance_figure({"neg": 3, "pos": 5}).data[0]
    assert list(bars.x) == ["neg", "pos"] and list(bars.y) == [3, 5]
    hist = plots.length_histogram_figure([5, 7, 9], max_length=8)
    assert list(hist.data[0].x) == [5, 7, 9] and any(math.isclose(s.x0, 8) for s in hist.layout.shapes)


def test_the_curve_draws_a_tasks_own_numbers_on_a_third_axis() -> None:
    """Issue 19: a preference run's curve shows the reward margin and the preference accuracy beside the loss."""
    from ft_app.tasks import get_task

    records = [{"kind": "train", "step": i, "loss": 1 / i, "learning_rate": 1e-4, "rewards/margins": 0.1 * i,
                "rewards/accuracies": 0.5 + 0.05 * i} for i in range(1, 6)]
    records.append({"kind": "eval", "step": 5, "eval_loss": 0.4, "eval_rewards/margins": 0.6,
                    "eval_rewards/accuracies": 0.8})
    fig = plots.training_figure(records, extras=get_task("preference").curve_extras)
    names = [t.name for t in fig.data]
    assert {"reward margin", "eval reward margin", "preference accuracy", "eval preference accuracy"} <= set(names)
    assert all(t.yaxis == "y3" for t in fig.data if "preference" in t.name or "margin" in t.name)
    assert fig.layout.yaxis3.title.text == "reward margin / preference accuracy"
    plain = plots.training_figure(records)  # a task without extras: no third axis
    assert not any(t.yaxis == "y3" for t in plain.data) and "yaxis3" not in plain.layout.to_plotly_json()
