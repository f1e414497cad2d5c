"""The run's loss curve as a PNG for the zip and the model card (matplotlib: no browser needed, unlike kaleido)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ft_app.plots import EVAL_COLOR, TRAIN_COLOR

LOSS_CURVE_FILE = "loss_curve.png"


def _points(records: Iterable[Mapping[str, Any]], kind: str, key: str) -> tuple[list[float], list[float]]:
    steps, values = [], []
    for r in records:
        value = r.get(key)
        if r.get("kind") == kind and isinstance(value, (int, float)) and math.isfinite(value):
            steps.append(float(r.get("step", 0)))
            values.append(float(value))
    return steps, values


def write_loss_curve(records: list[dict[str, Any]], path: Path, title: str) -> Path | None:
    """Draw train and eval loss against the step into `path`; None when the run logged no loss at all."""
    train = _points(records, "train", "loss")
    evals = _points(records, "eval", "eval_loss")
    if not train[0] and not evals[0]:
        return None
    from matplotlib.figure import Figure  # the object API: no global pyplot state, safe in threads

    fig = Figure(figsize=(7.5, 4.0), dpi=110)
    ax = fig.add_subplot()
    if train[0]:
        ax.plot(*train, color=TRAIN_COLOR, linewidth=1.4, label="train loss")
    if evals[0]:
        ax.plot(*evals, color=EVAL_COLOR, linewidth=1.4, marker="o", markersize=4, label="eval loss (held-out rows)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
