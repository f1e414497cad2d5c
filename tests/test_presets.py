"""Recipes set the method and the kind of knobs; the data size sets the steps."""

from __future__ import annotations

import pytest

from ft_app import presets
from ft_app.config import RunConfig, resolve_schedule


@pytest.mark.parametrize("key", sorted(presets.PRESETS))
def test_no_recipe_fixes_the_number_of_passes_or_steps(key: str) -> None:
    training = presets.PRESETS[key].settings.get("training", {})
    assert "epochs" not in training and "max_steps" not in training


@pytest.mark.parametrize("task", sorted(presets.EXAMPLES))
def test_no_example_fixes_the_number_of_passes_either(task: str) -> None:
    assert "epochs" not in presets.EXAMPLES[task].training


@pytest.mark.parametrize("key", [p.key for p in presets.presets_for("classification")])
def test_a_sentiment_recipe_on_400_rows_takes_hundreds_of_steps(key: str) -> None:
    """The old sentiment recipe took 50 steps on 400 rows (2 passes of 16) and learned nothing."""
    preset = presets.get_preset(key)
    config = RunConfig.from_dict({**preset.config(), "data": {**preset.settings.get("data", {}), "train": "x.csv"}})
    schedule = resolve_schedule(config, 400, 1, True, model_params=22_713_986)
    assert schedule.total_steps >= 300 and schedule.warmup_steps and schedule.epochs >= 5
    small = resolve_schedule(config, 8000, 1, True, model_params=22_713_986)
    assert small.epochs < schedule.epochs  # more data, fewer passes
