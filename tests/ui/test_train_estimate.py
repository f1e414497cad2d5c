"""The Train tab's plan line: the auto recipe for this data, the time here, and the weights that train."""

from __future__ import annotations

import re
from pathlib import Path

from ft_app.ui.train_tab import on_estimate
from tests.ui.conftest import build_studio, form_values


def test_the_plan_speaks_of_this_data_and_this_machine(tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path) -> None:
    ctx, _ = build_studio(tmp_path / "runs")
    form, values = ctx.form, form_values(ctx)
    assert "Pick a model" in on_estimate(ctx, values)
    values[form.by_path[("model", "name_or_path")]] = str(tiny_bert_dir)
    values[form.by_path[("data", "train")]] = str(sentiment_csv)
    text = on_estimate(ctx, values)
    # 64 rows, 7 held out (10%, rounded up): 57 to train on; the recipe picks the passes, the batch of 8 the steps.
    plan = re.search(r"Plan: 57 rows: (\d+) passes, (\d+) steps", text)
    assert plan, text
    passes, steps = int(plan[1]), int(plan[2])
    assert steps == passes * 8  # ceil(57 / 8) = 8 steps a pass
    # This machine has no GPU: it speaks of this machine; a run this small would not be faster on a GPU.
    assert re.search(r"; (a few|about \d+) seconds here", text) and "GPU it would" not in text, text
    assert re.search(r"Trains [\d.,]+( thousand)? of its [\d.,]+( thousand| million)? weights \(100%\)", text), text
    values[form.by_path[("training", "max_steps")]] = 12
    assert re.search(r"Plan: 57 rows: [\d.]+ passes, 12 steps", on_estimate(ctx, values))
    values[form.by_path[("method",)]] = "lora"
    assert "0.00%" not in on_estimate(ctx, values)


def test_the_gpu_is_named_only_where_it_would_be_clearly_faster() -> None:
    from ft_app.estimate import Plan
    from ft_app.recipe import choose_recipe

    recipe = choose_recipe(task="classification", method="full", train_rows=400, examples_per_step=8)
    assert Plan(recipe, seconds_here=180, seconds_gpu=20, device="cpu").time_text() == (
        "about 3 minutes here; on a GPU it would take about 20 seconds"
    )
    assert Plan(recipe, seconds_here=8, seconds_gpu=20, device="cpu").time_text() == "a few seconds here"
    assert Plan(recipe, seconds_here=40, seconds_gpu=30, device="cuda").time_text() == "about 40 seconds here"


def test_the_trial_button_times_the_plan_on_this_machine(tmp_path: Path, tiny_bert_dir: Path,
                                                         sentiment_csv: Path) -> None:
    """'Time a few steps here': the plan's time and memory then come from real steps of this run on this machine."""
    from ft_app.ui.train_tab import trial_from_form

    ctx, page = build_studio(tmp_path / "runs")
    values = form_values(ctx, model=str(tiny_bert_dir), data__train=str(sentiment_csv))
    values[page.train.token] = ""
    before = on_estimate(ctx, values)
    assert "trial steps" not in before
    after = trial_from_form(ctx, page.train.token, values)
    assert re.search(r"measured on \d+ trial steps \([\d.e-]+ s a step; peak memory [\d.]+ GB of \d+ GB free\)", after), after
    assert after == on_estimate(ctx, values)  # the card keeps the measure until the form changes the kind of run
    values[ctx.form.by_path[("training", "batch_size")]] = 2
    assert "trial steps" not in on_estimate(ctx, values)
