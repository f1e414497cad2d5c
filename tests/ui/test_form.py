"""The run form: widget values in, one run config out, and back."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from tests.ui.conftest import build_studio, form_values


def _form_values(tmp_path: Path) -> tuple[object, dict[object, object]]:
    ctx, _ = build_studio(tmp_path / "runs")
    return ctx.form, form_values(ctx, model="some/model", data__train="reviews.csv")


def test_a_run_name_with_spaces_becomes_dashes(tmp_path: Path) -> None:
    form, values = _form_values(tmp_path)
    values[form.by_path[("name",)]] = "  my reviews   v1 "
    assert form.to_config(values).name == "my-reviews-v1"
    values[form.by_path[("name",)]] = "   "
    assert form.to_config(values).name is None


def test_optional_numbers_start_empty_and_an_empty_box_means_automatic(tmp_path: Path) -> None:
    form, values = _form_values(tmp_path)
    max_steps = form.by_path[("training", "max_steps")]
    rate = form.by_path[("training", "learning_rate")]
    assert isinstance(max_steps, gr.Number) and max_steps.value is None and rate.value is None
    assert "0 = not set" not in (max_steps.info or "")
    values[max_steps], values[rate] = 0, 25  # what the browser sends before the page-load update; 25 was typed
    updates = form.empty_untouched_numbers(values)  # what a page load sends: None draws an empty box
    assert updates[max_steps]["value"] is None
    assert updates[rate] == gr.skip() and updates[form.by_path[("model", "name_or_path")]] == gr.skip()
    for empty in (None, 0):
        values[max_steps], values[rate] = empty, empty
        config = form.to_config(values)
        assert config.training.max_steps is None and config.training.learning_rate is None
    values[max_steps], values[rate] = 40.0, 3e-5
    config = form.to_config(values)
    assert config.training.max_steps == 40 and config.training.learning_rate == 3e-5
