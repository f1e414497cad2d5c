"""Base vs fine-tuned outputs on the same input, with the same decoding settings and prompt format."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.inference import RunInfo, load_base_model, load_finetuned_model, load_run_info, predict
from ft_app.runs import EXAMPLES_FILE, read_jsonl
from ft_app.tasks import GenerationSettings, Prediction


@dataclass
class Comparison:
    """The two sides of one comparison."""

    run_id: str
    input: str
    base: Prediction
    finetuned: Prediction
    settings: GenerationSettings


@dataclass
class _Loaded:
    info: RunInfo
    tokenizer: Any
    base: Any  # for adapter runs: the same object as `finetuned`, used with the adapter switched off
    finetuned: Any
    signature: tuple[str, float]


class Comparer:
    """Keeps one run's models loaded (shared by every visitor, behind a lock) and compares on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def compare(self, run_dir: Path, text: str, settings: GenerationSettings | None = None) -> Comparison:
        """Answer `text` with the base and the fine-tuned model of a run."""
        settings = settings or GenerationSettings()
        with self._lock:
            loaded = self._load(Path(run_dir))
            info = loaded.info
            if info.is_adapter:
                # The base side is the same weights with the adapter switched off: one copy in memory.
                with loaded.finetuned.disable_adapter():
                    base = predict(loaded.finetuned, loaded.tokenizer, text, info, settings)
            else:
                base = predict(loaded.base, loaded.tokenizer, text, info, settings)
            tuned = predict(loaded.finetuned, loaded.tokenizer, text, info, settings)
        return Comparison(run_id=info.run_dir.name, input=text, base=base, finetuned=tuned, settings=settings)

    def unload(self) -> None:
        """Drop the loaded models (e.g. before training needs the memory)."""
        with self._lock:
            self._loaded = None

    def _load(self, run_dir: Path) -> _Loaded:
        info = load_run_info(run_dir)
        signature = (str(info.result_dir), info.result_dir.stat().st_mtime)
        if self._loaded is not None and self._loaded.signature == signature:
            return self._loaded
        self._loaded = None  # free the previous run's models before loading the next
        base, tokenizer = load_base_model(info)
        if info.is_adapter:
            tuned = load_finetuned_model(info, base)
            base = tuned
        else:
            tuned = load_finetuned_model(info)
        self._loaded = _Loaded(info=info, tokenizer=tokenizer, base=base, finetuned=tuned, signature=signature)
        return self._loaded


def held_out_examples(run_dir: Path, n: int = 5) -> list[dict[str, str]]:
    """A few held-out rows of a run as {'input', 'reference'}, for one-click prompts."""
    return read_jsonl(Path(run_dir) / EXAMPLES_FILE)[:n]


_default = Comparer()


def compare(run_dir: Path, text: str, settings: GenerationSettings | None = None) -> Comparison:
    """Compare with the process-wide comparer."""
    return _default.compare(run_dir, text, settings)


@dataclass
class BatchRow:
    """One held-out row answered by both sides."""

    input: str
    reference: str
    base: str
    finetuned: str
    base_correct: bool | None
    finetuned_correct: bool | None

    @property
    def change(self) -> str:
        """'fixed', 'broken', 'same' or '' when there is no reference to judge by."""
        if self.base_correct is None or self.finetuned_correct is None:
            return ""
        if self.finetuned_correct and not self.base_correct:
            return "fixed"
        if self.base_correct and not self.finetuned_correct:
            return "broken"
        return "same"


def batch_compare(
    run_dir: Path, n: int, settings: GenerationSettings | None = None, comparer: Comparer | None = None
) -> list[BatchRow]:
    """Answer the first `n` held-out rows with both sides and judge each against its reference."""
    from ft_app.evaluation import normalize_answer

    if n < 1:
        raise ValueError(f"Pick at least one row to compare, got {n}.")
    examples = held_out_examples(run_dir, n)
    if not examples:
        raise ValueError(f"Run {Path(run_dir).name!r} kept no held-out rows (it had no validation data).")
    comparer = comparer or _default
    rows = []
    for ex in examples:
        result = comparer.compare(run_dir, ex["input"], settings)
        ref = ex.get("reference", "")
        rows.append(
            BatchRow(
                input=ex["input"],
                reference=ref,
                base=result.base.text,
                finetuned=result.finetuned.text,
                base_correct=normalize_answer(result.base.text) == normalize_answer(ref) if ref else None,
                finetuned_correct=normalize_answer(result.finetuned.text) == normalize_answer(ref) if ref else None,
            )
        )
    return rows


def write_batch_csv(rows: list[BatchRow], path: Path) -> Path:
    """Save the side-by-side table as CSV (UTF-8, opens in Excel)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "reference", "base", "fine-tuned", "base correct", "fine-tuned correct", "change"])
        for r in rows:
            writer.writerow([r.input, r.reference, r.base, r.finetuned, r.base_correct, r.finetuned_correct, r.change])
    return path
