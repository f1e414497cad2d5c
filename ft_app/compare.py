"""Base vs fine-tuned outputs on the same input, with the same decoding settings and prompt format."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.inference import RunInfo, load_base_model, load_finetuned_model, load_run_info, predict
from ft_app.limits import MAX_COMPARE_ROWS
from ft_app.runs import EXAMPLES_FILE, read_jsonl
from ft_app.tasks import GenerationSettings, Prediction

SIDES = ("base", "finetuned")  # the two sides of every comparison, in the order they answer


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

    @contextmanager
    def side(self, run_dir: Path, which: str) -> Iterator[tuple[Any, Any, RunInfo]]:
        """Hold the models for one side ('base' or 'finetuned') of a run: (model, tokenizer, run info). The lock is
        held until the block ends, so nobody switches an adapter off or loads another run meanwhile."""
        if which not in SIDES:
            raise ValueError(f"Unknown side {which!r}: use one of {', '.join(SIDES)}.")
        with self._lock:
            loaded = self._load(Path(run_dir))
            if which == "finetuned":
                yield loaded.finetuned, loaded.tokenizer, loaded.info
            elif loaded.info.is_adapter:
                # The same weights with the adapter switched off, as compare() does.
                with loaded.finetuned.disable_adapter():
                    yield loaded.finetuned, loaded.tokenizer, loaded.info
            else:
                yield loaded.base, loaded.tokenizer, loaded.info

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


def default_comparer() -> Comparer:
    """The process-wide comparer: one loaded run shared by every visitor of this server."""
    return _default


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
    run_dir: Path, n: int, settings: GenerationSettings | None = None, comparer: Comparer | None = None,
    rows: list[dict[str, str]] | None = None,
) -> list[BatchRow]:
    """Answer the first `n` held-out rows (or the given `rows`, a person's own {'input', 'reference'} list) with
    both sides and judge each against its reference (a row without one is not judged)."""
    from ft_app.evaluation import normalize_answer

    if rows is not None:
        examples = _within_limit(rows, "Your list")
    else:
        if n < 1:
            raise ValueError(f"Pick at least one row to compare, got {n}.")
        examples = held_out_examples(run_dir, n)
        if not examples:
            raise ValueError(f"Run {Path(run_dir).name!r} kept no held-out rows (it had no validation data).")
    comparer = comparer or _default
    answered = []
    for ex in examples:
        result = comparer.compare(run_dir, ex["input"], settings)
        ref = ex.get("reference", "")
        answered.append(
            BatchRow(
                input=ex["input"],
                reference=ref,
                base=result.base.text,
                finetuned=result.finetuned.text,
                base_correct=normalize_answer(result.base.text) == normalize_answer(ref) if ref else None,
                finetuned_correct=normalize_answer(result.finetuned.text) == normalize_answer(ref) if ref else None,
            )
        )
    return answered


# The table's filter: which rows it shows (and its CSV holds).
FILTERS = ("all", "fixed", "broken")


def shown_rows(rows: list[BatchRow], which: str | None) -> list[BatchRow]:
    """The rows the filter shows: all of them, or only those fine-tuning fixed, or only those it broke."""
    which = which or "all"
    if which not in FILTERS:
        raise ValueError(f"Unknown filter {which!r}: use one of {', '.join(FILTERS)}.")
    return list(rows) if which == "all" else [r for r in rows if r.change == which]


# ---- a person's own list of texts ---------------------------------------------------------------------------

LIST_FILE_TYPES = (".txt", ".csv", ".tsv")
# Header names taken for the text and for the expected answer (first match wins), as the data's own columns say.
TEXT_COLUMNS = ("text", "input", "prompt", "sentence", "review", "question", "content")
LABEL_COLUMNS = ("label", "reference", "expected", "answer", "target", "sentiment", "response", "output")
LIST_HELP = "one text a line, or a .csv with a 'text' column and an optional 'label' column"


def lines_in(text: str) -> int:
    """How many non-empty lines a text holds (a single box with several means a list was pasted)."""
    return sum(1 for line in (text or "").splitlines() if line.strip())


def text_list(text: str) -> list[dict[str, str]]:
    """Pasted texts, one a line (blank lines skipped), as rows without an expected answer."""
    rows = [{"input": line.strip(), "reference": ""} for line in (text or "").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"The list of texts is empty: paste {LIST_HELP}.")
    return _within_limit(rows, "Your list")


def read_text_list(path: Path) -> list[dict[str, str]]:
    """An uploaded list: a .txt file (one text a line) or a .csv/.tsv file whose text column is named (text, input,
    review, ...) with an optional label column (label, reference, sentiment, ...); a one-column file needs no header.
    """
    import csv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LIST_FILE_TYPES:
        raise ValueError(f"{path.name} is not a list of texts: upload a .txt file (one text a line) "
                         "or a .csv file with a 'text' column and an optional 'label' column.")
    raw = path.read_text(encoding="utf-8-sig", errors="replace")
    if suffix == ".txt":
        return _within_limit(_nonempty(text_list(raw) if raw.strip() else [], path), path.name)
    table = [row for row in csv.reader(raw.splitlines(), delimiter="\t" if suffix == ".tsv" else ",") if any(row)]
    if not table:
        raise ValueError(f"{path.name} holds no texts: it needs {LIST_HELP}.")
    header = [cell.strip().lower() for cell in table[0]]
    text_at = next((header.index(n) for n in TEXT_COLUMNS if n in header), None)
    if text_at is None:
        if len(header) > 1:
            raise ValueError(f"{path.name} has the columns {', '.join(table[0])} but none named 'text': name the "
                             "column of texts 'text' (and the expected answers 'label') in its first line.")
        text_at, body = 0, table  # one column and no header: every line is a text
        label_at = None
    else:
        body = table[1:]
        label_at = next((header.index(n) for n in LABEL_COLUMNS if n in header and header.index(n) != text_at), None)
    rows = [{"input": row[text_at].strip() if text_at < len(row) else "",
             "reference": row[label_at].strip() if label_at is not None and label_at < len(row) else ""}
            for row in body]
    return _within_limit(_nonempty([r for r in rows if r["input"]], path), path.name)


def _nonempty(rows: list[dict[str, str]], path: Path) -> list[dict[str, str]]:
    if not rows:
        raise ValueError(f"{path.name} holds no texts: it needs {LIST_HELP}.")
    return rows


def _within_limit(rows: list[dict[str, str]], what: str) -> list[dict[str, str]]:
    """Refuse a list longer than the table answers at once (each text is answered twice)."""
    if len(rows) > MAX_COMPARE_ROWS:
        raise ValueError(f"{what} has {len(rows)} texts; the side-by-side table answers at most {MAX_COMPARE_ROWS} "
                         f"at a time. Keep the first {MAX_COMPARE_ROWS}, or split the list.")
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
