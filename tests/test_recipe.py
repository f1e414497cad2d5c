"""The auto recipe: passes from the data size, learning rate from the model size, warm-up; given knobs win."""

from __future__ import annotations

import pytest

from ft_app import recipe
from ft_app.recipe import auto_learning_rate, auto_passes, choose_recipe, describe, plain_number
from ft_app.tasks import get_task

MINILM = 22_713_986
BERT_BASE = 109_483_778
LLAMA_7B = 6_738_415_616


def _auto(rows: int, method: str = "full", params: int | None = MINILM, task: str = "classification", **given):
    return choose_recipe(task=task, method=method, train_rows=rows, examples_per_step=8, model_params=params, **given)


def test_small_data_gets_more_passes_large_data_fewer() -> None:
    """Enough passes to see TARGET_EXAMPLES examples, within the task's bounds; huge data gets one pass."""
    assert recipe.TARGET_EXAMPLES == 3000 and get_task("classification").max_passes == 10
    assert [auto_passes("classification", n) for n in (50, 200, 360, 400, 1000, 8000)] == [10, 10, 9, 8, 3, 3]
    assert [auto_passes("classification", n) for n in (20_000, 67_000, 500_000)] == [3, 2, 1]
    assert auto_passes("causal_lm", 200) == get_task("causal_lm").max_passes == 5  # generative models memorise sooner


def test_learning_rate_follows_the_method_and_the_model_size() -> None:
    """Full fine-tuning: larger steps for small models, smaller for big ones; LoRA on a small encoder larger still."""
    assert auto_learning_rate("full", MINILM) == 1e-4
    assert auto_learning_rate("full", BERT_BASE) == 5e-5
    assert auto_learning_rate("full", LLAMA_7B) == 2e-5
    assert auto_learning_rate("full", None) == 5e-5  # size unknown: the method's usual rate
    assert auto_learning_rate("full", MINILM, total_steps=2000) == 1e-4
    assert auto_learning_rate("full", MINILM, total_steps=2001) == 5e-5
    assert auto_learning_rate("lora", MINILM, total_steps=3000) == 1e-3  # measured for full fine-tuning only
    assert auto_learning_rate("lora", MINILM) == 1e-3
    assert auto_learning_rate("lora", LLAMA_7B) == 2e-4
    assert auto_learning_rate("qlora", LLAMA_7B) == 2e-4
    assert auto_learning_rate("head", MINILM) == auto_learning_rate("head", LLAMA_7B) == 3e-4


def test_no_knob_touched_the_recipe_chooses_all() -> None:
    r = _auto(400)
    assert (r.epochs, r.steps_per_epoch, r.total_steps, r.learning_rate, r.warmup_steps) == (8.0, 50, 400, 1e-4, 40)
    assert r.chosen == ("epochs", "learning_rate", "warmup")
    big = _auto(8000)
    assert (big.epochs, big.total_steps, big.warmup_steps) == (3.0, 3000, 300)
    # A long full fine-tuning run takes half the rate (MiniLM, 8,000 SST-2 rows: 0.857 at 1e-4, 0.867 at 5e-5).
    assert big.learning_rate == 5e-5 and _auto(1000).learning_rate == 1e-4


def test_given_knobs_win() -> None:
    """Epochs, max steps, learning rate and warm-up the user gave are used as they are."""
    r = _auto(400, epochs=2.0, learning_rate=3e-5, warmup_ratio=0.0)
    assert (r.epochs, r.total_steps, r.learning_rate, r.warmup_steps, r.chosen) == (2.0, 100, 3e-5, 0, ())
    steps = _auto(400, max_steps=30, warmup_steps=5)
    assert (steps.total_steps, steps.warmup_steps) == (30, 5) and steps.epochs == pytest.approx(0.6)
    assert steps.chosen == ("learning_rate",)
    assert _auto(400, warmup_ratio=0.25).warmup_steps == 100
    assert _auto(3, epochs=0.5).total_steps == 1  # never zero steps


def test_the_plain_description() -> None:
    assert describe(_auto(400)) == "400 rows: 8 passes, 400 steps, learning rate 0.0001, warm-up 40 steps"
    assert describe(_auto(400, "lora")) == "400 rows: 8 passes, 400 steps, learning rate 0.001, warm-up 40 steps"
    one = _auto(8, epochs=1.0, warmup_ratio=0.0, learning_rate=5e-5)
    assert describe(one, "a few seconds here") == "8 rows: 1 pass, 1 step, learning rate 0.00005; a few seconds here"
    assert describe(_auto(400, max_steps=30, warmup_ratio=0.0)).startswith("400 rows: 0.6 passes, 30 steps")


@pytest.mark.parametrize(
    ("value", "text"), [(5e-5, "0.00005"), (1e-4, "0.0001"), (2e-4, "0.0002"), (2.5e-5, "0.000025"), (0.001, "0.001"),
                        (0.01, "0.01"), (3e-6, "0.000003"), (0.5, "0.5")]
)
def test_plain_numbers_have_no_exponent(value: float, text: str) -> None:
    assert plain_number(value) == text
