"""Optional experiment tracking: also log a run to TensorBoard or Trackio. Off by default: nothing is imported,
installed or contacted unless a run asks for it (Trackio logs locally unless its own settings name a Space)."""

from __future__ import annotations

from pathlib import Path

REPORT_TO_CHOICES = ("none", "tensorboard", "trackio")
# The packages transformers' callbacks use for each tracker (either one will do).
TRACKER_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "trackio": ("trackio",)}
TENSORBOARD_SUBDIR = Path("checkpoints") / "runs"  # transformers writes under output_dir/runs/<time>_<host>/


def tensorboard_dir(run_dir: Path) -> Path:
    """Where a run's TensorBoard event files go: `tensorboard --logdir` this folder."""
    return Path(run_dir) / TENSORBOARD_SUBDIR
