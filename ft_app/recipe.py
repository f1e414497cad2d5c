"""The automatic recipe: passes, learning rate and warm-up chosen from the data size, the model size and the method.

A knob left empty (epochs, learning rate, warm-up) is chosen here once the number of training rows is
known; a value the user gave always wins. The rules, tuned on SST-2 with all-MiniLM-L6-v2 on the dev set
only (`bench/auto_recipe.py`, figures in bench/README.md):

- passes: small data needs more passes to take enough optimizer steps: as many passes as it takes to
  see about `TARGET_EXAMPLES` examples, at least `min_passes` (fewer for very large data) and at most
  the task's `max_passes` (a generative model memorises its answers sooner);
- learning rate: the method's usual rate, scaled for the model size: small models take larger steps
  (full fine-tuning of a 22M-parameter encoder wants ~1e-4, of a 7B model ~2e-5; LoRA on a small
  encoder ~1e-3, on a 7B model ~2e-4);
- long full fine-tuning: over `LONG_RUN_STEPS` optimizer steps the full-fine-tuning rate is halved (MiniLM on 8,000
  SST-2 rows, 3,000 steps: 0.857 dev accuracy at 1e-4, 0.867 at 5e-5; 400 and 1,000 rows keep 1e-4);
- head-only: 3e-4 for any size (MiniLM, 400 SST-2 rows, 5 seeds, the new head starting from an identity pooler on
  the mean: 0.752 dev accuracy at 3e-4, 0.737 at 1e-3);
- warm-up: `WARMUP_SHARE` of the steps, which keeps the first steps of a fresh head from wrecking the body;
- label weights (classification): balanced for head-only, where a head on a frozen body otherwise leans toward
  the most common label (the method's `balanced_labels`); the other methods count every row the same.

The numbers per method and per task live in their records (ft_app/methods.py, ft_app/tasks/), with their figures.

Pure functions of plain numbers, no heavy imports: the Train tab can describe the recipe before a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ft_app.methods import get_method
from ft_app.tasks import get_task

# Examples a run should see at least (passes x rows) when the passes are left to the recipe.
TARGET_EXAMPLES = 3000
WARMUP_SHARE = 0.1
LONG_RUN_STEPS = 2000


@dataclass(frozen=True)
class Recipe:
    """The schedule of one run: what the user set and what the recipe chose for the rest."""

    train_rows: int
    examples_per_step: int
    steps_per_epoch: int
    epochs: float
    total_steps: int
    learning_rate: float
    warmup_steps: int
    chosen: tuple[str, ...]  # the knobs the recipe chose: "epochs", "learning_rate", "warmup"


def min_passes(train_rows: int) -> int:
    """The fewest passes for a data size: 3 up to 20,000 rows, 2 up to 100,000, then 1."""
    if train_rows <= 20_000:
        return 3
    return 2 if train_rows <= 100_000 else 1


def auto_passes(task: str, train_rows: int) -> int:
    """Passes over the data when the user left epochs empty."""
    wanted = math.ceil(TARGET_EXAMPLES / max(1, train_rows))
    spec = get_task(task)
    lowest = spec.min_passes if spec.min_passes is not None else min_passes(train_rows)
    return max(lowest, min(wanted, spec.max_passes))


def auto_learning_rate(method: str, model_params: int | None, total_steps: int | None = None) -> float:
    """The method's learning rate, scaled by the square root of the model's size against a reference size.

    A full fine-tuning run of more than `LONG_RUN_STEPS` steps takes half of it.
    """
    record = get_method(method)
    base = record.base_learning_rate
    if record.halve_rate_on_long_runs and total_steps and total_steps > LONG_RUN_STEPS:
        base /= 2
    if not model_params:
        return base
    low, high = record.size_factor_range
    factor = min(high, max(low, math.sqrt(record.reference_params / model_params)))
    return float(f"{base * factor:.2g}")


def choose_recipe(
    *,
    task: str,
    method: str,
    train_rows: int,
    examples_per_step: int,
    model_params: int | None = None,
    epochs: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    warmup_ratio: float | None = None,
    warmup_steps: int = 0,
) -> Recipe:
    """The run's schedule: the given knobs as they are, the empty ones chosen from the data and model size."""
    rows = max(1, int(train_rows))
    per_step = max(1, int(examples_per_step))
    steps_per_epoch = max(1, math.ceil(rows / per_step))
    chosen: list[str] = []
    if max_steps:
        total = int(max_steps)
        passes = total / steps_per_epoch
    else:
        if epochs is None:
            passes = float(auto_passes(task, rows))
            chosen.append("epochs")
        else:
            passes = float(epochs)
        total = max(1, math.ceil(steps_per_epoch * passes))
    lr = learning_rate
    if lr is None:
        lr = auto_learning_rate(method, model_params, total)
        chosen.append("learning_rate")
    if warmup_steps:
        warm = int(warmup_steps)
    elif warmup_ratio is None:
        warm = math.ceil(WARMUP_SHARE * total)
        chosen.append("warmup")
    else:
        warm = math.ceil(warmup_ratio * total)
    return Recipe(
        train_rows=rows,
        examples_per_step=per_step,
        steps_per_epoch=steps_per_epoch,
        epochs=passes,
        total_steps=total,
        learning_rate=lr,
        warmup_steps=min(warm, total),
        chosen=tuple(chosen),
    )


def describe(recipe: Recipe, time_text: str | None = None) -> str:
    """One plain line: '360 rows: 9 passes, 405 steps, learning rate 0.0001, warm-up 41 steps; about 2 minutes here'."""
    passes = recipe.epochs
    if abs(passes - 1) < 0.05:
        pass_text = "1 pass"
    elif abs(passes - round(passes)) < 0.05:
        pass_text = f"{passes:.0f} passes"
    else:
        pass_text = f"{passes:.1f} passes"
    step_word = "step" if recipe.total_steps == 1 else "steps"
    text = (
        f"{recipe.train_rows:,} rows: {pass_text}, {recipe.total_steps:,} {step_word}, "
        f"learning rate {plain_number(recipe.learning_rate)}"
    )
    if recipe.warmup_steps:
        text += f", warm-up {recipe.warmup_steps:,} {'step' if recipe.warmup_steps == 1 else 'steps'}"
    return text + (f"; {time_text}" if time_text else "")


def plain_number(value: float) -> str:
    """A small number as people write it: 0.0001, 0.00005, 0.002 (no exponent)."""
    if value == 0 or value >= 0.001:
        return f"{value:g}"
    digits = max(0, -math.floor(math.log10(abs(value)))) + 1
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")
