"""Optional experiment tracking: also log a run to TensorBoard or Trackio. Off by default: nothing is imported,
installed or contacted unless a run asks for it (Trackio logs locally unless its own settings name a Space)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ft_app.config import ConfigError

REPORT_TO_CHOICES = ("none", "tensorboard", "trackio")
# The packages transformers' callbacks use for each tracker (either one will do).
TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "trackio": ("trackio",)}
TENSORBOARD_SUBDIR = Path("checkpoints") / "runs"  # transformers writes under output_dir/runs/<time>_<host>/


def report_to_argument(value: str) -> str:
    """The `report_to` value for TrainingArguments, after checking that the chosen tracker is installed."""
    if value not in REPORT_TO_CHOICES:
        raise ConfigError(f"training.report_to {value!r} is not one of: {', '.join(REPORT_TO_CHOICES)}.")
    if value != "none" and not any(importlib.util.find_spec(p) for p in TRACKER_PACKAGES[value]):
        raise ConfigError(
            f"training.report_to {value!r} needs the {value} package, which is not installed here. Install it with "
            f"`pip install {value}`, or set report_to to 'none'."
        )
    return value


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run's TensorBoard event files go: `tensorboard --logdir` this folder."""
    return Path(run_dir) / TENSORBOARD_SUBDIR
