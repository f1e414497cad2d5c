"""What a finished run left to show: before/after numbers (eval.json), golden prompts (compare.jsonl), resumability.

Read-only helpers over the run folder for the app and API clients; the runner writes these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import COMPARE_FILE, EVAL_FILE, RunStore, read_jsonl
from ft_app.training.jobs import RESUMABLE_STATUSES


@dataclass
class RunResults:
    """The before/after evaluation and the golden prompts of one run (empty parts when it has none)."""

    task: str = ""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    zero_shot: dict[str, Any] | None = None
    summary: str = ""
    golden: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_eval(self) -> bool:
        """Whether before/after numbers exist."""
        return bool(self.before or self.after)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for API clients."""
        return {
            "task": self.task,
            "before": self.before,
            "after": self.after,
            "zero_shot": self.zero_shot,
            "summary": self.summary,
            "golden": self.golden,
        }


def read_results(run_dir: Path) -> RunResults:
    """eval.json and compare.jsonl of a run; a run without them gives empty results (never an error)."""
    run_dir = Path(run_dir)
    results = RunResults()
    path = run_dir / EVAL_FILE
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raw = {}
        if isinstance(raw, dict):
            results.task = str(raw.get("task", ""))
            results.before = raw.get("before") or {}
            results.after = raw.get("after") or {}
            results.zero_shot = raw.get("zero_shot")
            results.summary = str(raw.get("summary") or "")
            if not results.summary and results.before and results.after:
                from ft_app.evaluation import describe_change

                results.summary = describe_change(results.task, results.before, results.after)
    results.golden = [r for r in read_jsonl(run_dir / COMPARE_FILE) if isinstance(r, dict)]
    if not results.task:
        try:
            results.task = RunStore.read_config(run_dir).task
        except (OSError, ValueError):
            pass
    return results


def resume_blocker(store: RunStore, run_id: str) -> str | None:
    """Why a run cannot be resumed (plain words), or None when Resume will work."""
    run_dir = store.path(run_id)
    status = store.read_status(run_dir).get("status", "unknown")
    if status not in RESUMABLE_STATUSES:
        return f"Only interrupted, stopped or failed runs can be resumed; this one is {status}."
    if store.last_complete_checkpoint(run_dir) is None:
        return (
            "It saved no checkpoint before it ended, so it cannot continue: start it again from the Train tab "
            "(the settings are in its config file below)."
        )
    return None
