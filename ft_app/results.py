"""What a finished run left to show: before/after numbers (eval.json) and golden prompts (compare.jsonl).

Read-only helpers over the run folder for the app and API clients; the runner writes these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import COMPARE_FILE, EVAL_FILE, RunStore, read_jsonl


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
    raw: Any = {}
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raw = {}
    raw = raw if isinstance(raw, dict) else {}
    results.task = str(raw.get("task") or "")
    if not results.task:  # an eval.json from before it named its task, or none at all
        try:
            results.task = RunStore.read_config(run_dir).task
        except (OSError, ValueError):
            pass
    results.before = raw.get("before") or {}
    results.after = raw.get("after") or {}
    results.zero_shot = raw.get("zero_shot")
    results.summary = str(raw.get("summary") or "")
    if not results.summary and results.before and results.after and results.task:
        from ft_app.evaluation import describe_change

        results.summary = describe_change(results.task, results.before, results.after)
    results.golden = [r for r in read_jsonl(run_dir / COMPARE_FILE) if isinstance(r, dict)]
    return results
