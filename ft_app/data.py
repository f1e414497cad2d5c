"""Load data from a Hub id or a local file, map its columns, split it, and tokenize it for a task."""

from __future__ import annotations

import codecs
import logging
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ft_app.config import DataConfig, RunConfig
from ft_app.hub import HubUnreachableError, hub_error
from ft_app.hub_token import token_kwargs
from ft_app.libraries import ensure_loaded
from ft_app.paths import local_path, looks_like_path
from ft_app.text import first_line, plain_list

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

FILE_BUILDERS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
TEXT_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
SUPPORTED_FILES = "CSV, TSV, JSON, JSONL or Parquet"

# The obvious column names, best guess first; matched case-insensitively.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": ("text", "sentence", "content", "review", "document", "body", "comment", "tweet", "input_text", "source"),
    "label": ("label", "labels", "sentiment", "class", "category", "target", "answer"),
    "prompt": ("prompt", "instruction", "question", "query", "input"),
    "input": ("input", "context"),
    "response": ("response", "output", "answer", "completion", "chosen", "target"),
    "messages": ("messages", "conversations", "conversation", "chat", "dialogue"),
    "target": ("target", "target_text", "label", "labels", "output", "summary", "answer", "response", "sentiment"),
    "chosen": ("chosen", "preferred", "good", "better", "accepted", "chosen_response", "response_chosen"),
    "rejected": ("rejected", "dispreferred", "bad", "worse", "rejected_response", "response_rejected"),
}
VALIDATION_SPLITS = ("validation", "valid", "dev", "val")
# A label column with more classes than this, or with most rows of a class of their own, is probably the wrong column.
MAX_LABELS = 100
# Below this many classes "most rows are unique" is normal for a tiny file and says nothing about the column.
MIN_CLASSES_TO_JUDGE = 10
# Column names are few and the user needs them to fix a mapping: show more of them than of other lists.
COLUMN_LIMIT = 12


@dataclass
class ColumnMapping:
    """Which column plays which part; None where a part is not used."""

    text: str | None = None
    label: str | None = None
    prompt: str | None = None
    input: str | None = None
    response: str | None = None
    messages: str | None = None
    target: str | None = None
    chosen: str | None = None
    rejected: str | None = None

    def used(self) -> list[str]:
        """The columns this mapping reads."""
        return [getattr(self, f.name) for f in fields(self) if getattr(self, f.name)]


@dataclass
class RawSplits:
    """Training and validation rows before tokenization."""

    train: datasets.Dataset
    validation: datasets.Dataset | None
    mapping: ColumnMapping
    label_names: list[str] | None = None


@dataclass
class PreparedData:
    """Tokenized splits ready for the Trainer, with what was learned about the data."""

    train: datasets.Dataset
    validation: datasets.Dataset | None
    mapping: ColumnMapping
    label_names: list[str] | None
    raw_validation: datasets.Dataset | None
    dropped_rows: int = 0


# ---- loading ---------------------------------------------------------------------------------


def count_local_rows(config: RunConfig) -> int | None:
    """Rows of a run's training data when it is a local file or folder (what the plan needs); None for a Hub id."""
    d = config.data
    if not looks_like_path(d.train):
        return None
    rows = len(load_table(d.train, dataset_config=d.dataset_config, split=d.train_split))
    return min(rows, d.max_rows) if d.max_rows else rows


def load_table(source: str, *, dataset_config: str | None = None, split: str = "train") -> datasets.Dataset:
    """Load one split from a local file, a `save_to_disk` folder, or a Hub dataset id."""
    source = str(source).strip()
    if not source:
        raise ValueError("No dataset given: upload a file or type a Hub dataset id such as 'imdb'.")
    if looks_like_path(source):
        path = local_path(source)
        if not path.exists():
            raise ValueError(f"Dataset file {source!r} does not exist. Check the path or upload the file again.")
        table = _load_folder(path, split) if path.is_dir() else _load_file(path)
    else:
        table = _load_hub(source, dataset_config, split)
    if len(table) == 0:
        raise ValueError(f"Dataset {source!r} has no rows. Pick a file with at least a few examples.")
    return table


def _load_file(path: Path) -> datasets.Dataset:
    ensure_loaded()
    import datasets

    suffix = path.suffix.lower()
    if suffix not in FILE_BUILDERS:
        raise ValueError(
            f"File {path.name!r} is of an unknown type ({suffix or 'no extension'}). Use a {SUPPORTED_FILES} file."
        )
    if path.stat().st_size == 0:
        raise ValueError(f"File {path.name!r} is empty. Pick a file with a header row and some examples.")
    if suffix in TEXT_SUFFIXES:
        _check_utf8(path)
    kwargs: dict[str, Any] = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        loaded = datasets.load_dataset(FILE_BUILDERS[suffix], data_files=str(path), split="train", **kwargs)
    except Exception as exc:  # the builders raise many types; all mean the file could not be parsed
        if "corresponds to no data" in str(exc):  # a header and no rows: the split came out empty
            raise ValueError(f"File {path.name!r} has no rows. Pick a file with at least a few examples.") from exc
        raise ValueError(
            f"File {path.name!r} could not be read as {FILE_BUILDERS[suffix].upper()}: {first_line(exc)}. "
            f"Check that it is a valid {suffix.lstrip('.').upper()} file with a header row."
        ) from exc
    if not loaded.column_names:
        raise ValueError(f"File {path.name!r} has no columns. Add a header row such as 'text,label'.")
    return loaded


def _check_utf8(path: Path) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        offset = 0
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"File {path.name!r} is not UTF-8 text (bad byte at position {offset + exc.start}). "
                    "Save it again as UTF-8 (in Excel: 'CSV UTF-8'; in a text editor: encoding UTF-8)."
                ) from exc
            offset += len(chunk)


def _load_folder(path: Path, split: str) -> datasets.Dataset:
    ensure_loaded()
    import datasets

    if not any((path / name).exists() for name in ("dataset_info.json", "state.json", "dataset_dict.json")):
        raise ValueError(
            f"Folder {str(path)!r} is not a saved dataset (no dataset_info.json or dataset_dict.json). "
            f"Point to a {SUPPORTED_FILES} file or a folder written by Dataset.save_to_disk."
        )
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"Saved dataset {str(path)!r} has no split {split!r}. Its splits: {plain_list(loaded)}.")
        return loaded[split]
    return loaded


def _load_hub(dataset_id: str, config: str | None, split: str) -> datasets.Dataset:
    ensure_loaded()
    import datasets

    try:
        return datasets.load_dataset(dataset_id, config or None, split=split, **token_kwargs())
    except Exception as exc:  # Hub, network and builder errors all end here with a plain sentence
        raise ValueError(hub_dataset_error(dataset_id, config, split, exc)) from exc


def check_hub_dataset(data: DataConfig) -> None:
    """Check that a Hub dataset can be loaded (its builder, from the cache when offline) before a run folder exists,
    as the model id is checked; a plain error when it cannot be reached or does not exist."""
    ensure_loaded()
    import datasets

    try:
        datasets.load_dataset_builder(data.train.strip(), data.dataset_config or None, **token_kwargs())
    except Exception as exc:  # Hub, network and builder errors all end here with a plain sentence
        raise ValueError(hub_dataset_error(data.train.strip(), data.dataset_config, data.train_split, exc)) from exc


def hub_dataset_error(dataset_id: str, config: str | None, split: str, exc: Exception) -> str:
    """A plain sentence for a Hub dataset that could not be loaded."""
    error = hub_error(exc, f"load dataset {dataset_id!r}")
    if error is not None:
        return f"{error} Upload a data file instead." if isinstance(error, HubUnreachableError) else str(error)
    lowered = str(exc).lower()  # the datasets library's own words for a wrong configuration or split
    if "config" in lowered and ("missing" in lowered or "available" in lowered or "pick one" in lowered):
        return f"Dataset {dataset_id!r} has several configurations: pick one ({first_line(exc)})."
    if "split" in lowered and "unknown" in lowered or "bad split" in lowered:
        return f"Dataset {dataset_id!r} has no split {split!r}: {first_line(exc)}."
    return f"Could not load dataset {dataset_id!r}: {first_line(exc)}"


# ---- column mapping -------------------------------------------------------------------------


def detect_columns(column_names: list[str], task: str, data: DataConfig | None = None) -> ColumnMapping:
    """Map columns to parts for a task: the user's choices first, then the obvious names (the task says which parts
    it reads and how they combine)."""
    from ft_app.tasks import get_task

    return get_task(task).detect_columns(ColumnPicker(column_names), data or DataConfig())


class ColumnPicker:
    """Picks the column for one part of a mapping: the one the user named (which must exist), else the first of the
    part's usual names (CANDIDATES) that the data has."""

    def __init__(self, column_names: list[str]) -> None:
        self.column_names = list(column_names)
        self.lower = {c.lower(): c for c in column_names}

    @property
    def listed(self) -> str:
        """The data's columns, as a message lists them."""
        return plain_list(self.column_names, COLUMN_LIMIT)

    def __call__(self, part: str, given: str | None, exclude: tuple[str | None, ...] = ()) -> str | None:
        if given:
            if given not in self.column_names:
                raise ValueError(f"Column {given!r} (for {part}) is not in the data. The columns are: {self.listed}.")
            return given
        for name in CANDIDATES[part]:
            if name in self.lower and self.lower[name] not in exclude:
                return self.lower[name]
        return None


def label_to_name(value: Any) -> str:
    """A raw label value as the class name used in `label_names`."""
    import numpy as np

    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def label_names(dataset: datasets.Dataset, column: str) -> list[str]:
    """The class names of a label column: ClassLabel names, or the sorted distinct values."""
    ensure_loaded()
    import datasets

    feature = dataset.features.get(column)
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    values = [v for v in dataset.unique(column) if v is not None and not (isinstance(v, str) and not v.strip())]
    if values and all(isinstance(v, (int, float)) and float(v).is_integer() for v in values):
        return [str(int(v)) for v in sorted(values)]
    return sorted({str(v).strip() for v in values})  # ' ham' and 'ham ' are one class, as the encoder sees them


@dataclass
class LabelColumnProblem:
    """Why a label column does not look like labels; `blocking` when training on it cannot make sense."""

    message: str
    blocking: bool


def label_column_problem(dataset: datasets.Dataset, column: str) -> LabelColumnProblem | None:
    """Say in one line when a label column has more different values than labels plausibly have, else None."""
    ensure_loaded()
    import datasets

    if isinstance(dataset.features.get(column), datasets.ClassLabel):
        return None  # the dataset itself declares the classes
    values = _filled(dataset, column)
    classes = len(label_names(dataset, column))
    mostly_unique = classes > len(values) / 2 and classes >= MIN_CLASSES_TO_JUDGE
    if not mostly_unique and classes <= MAX_LABELS:
        return None
    other = _label_like_column(dataset, exclude=column)
    fix = f"did you mean {other!r}?" if other else "pick the column that holds the class of each row."
    if mostly_unique:
        kind = "numbers" if all(isinstance(v, (int, float)) for v in values) else "text"
        return LabelColumnProblem(f"{column!r} has {classes:,} different values: it looks like {kind}, not labels; {fix}", True)
    return LabelColumnProblem(
        f"{column!r} has {classes:,} different values, more than a label column usually has: check that it holds "
        f"the class of each row; {fix}",
        False,
    )


def _label_like_column(dataset: datasets.Dataset, exclude: str) -> str | None:
    """The other column whose values look most like labels: the fewest different values, two or more."""
    ensure_loaded()
    import datasets

    ranked: list[tuple[int, int, int, str]] = []
    for position, name in enumerate(dataset.column_names):
        feature = dataset.features.get(name)
        is_class = isinstance(feature, datasets.ClassLabel)
        dtype = feature.dtype if isinstance(feature, datasets.Value) else ""
        if name == exclude or not (is_class or dtype in ("string", "large_string", "bool") or dtype.startswith("int")):
            continue  # floats are measurements, lists and dicts are not labels
        values = _filled(dataset, name)
        classes = len({str(v).strip() for v in values})
        if classes < 2 or classes > MAX_LABELS or (classes > len(values) / 2 and classes >= MIN_CLASSES_TO_JUDGE):
            continue
        # Fewest classes first; a ClassLabel or a column named like a label wins a tie.
        named = is_class or name.lower() in CANDIDATES["label"]
        ranked.append((classes, 0 if named else 1, position, name))
    return min(ranked)[3] if ranked else None


def column_values(dataset: datasets.Dataset, column: str) -> list[Any]:
    """All values of one column as a list, read in one slice.

    `dataset[column]` is a lazy column in datasets 4+: iterating it reads one row at a time (0.7 s for SST-2's
    67,000 rows, 3.8 s under load); a slice reads the whole column at once (1 ms).
    """
    return dataset[column][:]


def is_empty_value(value: Any) -> bool:
    """Whether one cell is empty: None, blank text or an empty list (`_empty_cells` is the same test on a column)."""
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def _filled(dataset: datasets.Dataset, column: str) -> list[Any]:
    """The column's values that are not empty."""
    return [v for v in column_values(dataset, column) if not is_empty_value(v)]


# ---- splitting -------------------------------------------------------------------------------


def load_splits(config: RunConfig) -> RawSplits:
    """Load the training rows and the validation rows (given, found, or held out with the seed)."""
    d = config.data
    seed = config.training.seed
    train = load_table(d.train, dataset_config=d.dataset_config, split=d.train_split)
    validation = None
    if d.validation:
        if looks_like_path(d.validation):
            validation = load_table(d.validation)
        elif not looks_like_path(d.train) and "/" not in d.validation.strip("/") and d.validation in _hub_or_folder_splits(d):
            validation = load_table(d.train, dataset_config=d.dataset_config, split=d.validation)
        else:
            validation = load_table(d.validation, dataset_config=d.dataset_config, split="train")
    else:
        for name in _hub_or_folder_splits(d):
            if name in VALIDATION_SPLITS and name != d.train_split:
                validation = load_table(d.train, dataset_config=d.dataset_config, split=name)
                break
    from ft_app.tasks import get_task

    task = get_task(config.task)
    mapping = detect_columns(train.column_names, config.task, d)
    if validation is not None:
        missing = [c for c in mapping.used() if c not in validation.column_names]
        if missing:
            raise ValueError(
                f"The validation data lacks column {missing[0]!r} that the training data uses. "
                f"Its columns are: {plain_list(validation.column_names, COLUMN_LIMIT)}."
            )
    train = _drop_empty(train, mapping)
    task.check_rows(train, mapping)  # judged on the whole file, as the Data tab shows it, before rows are held out
    if validation is None and d.validation_size > 0:
        held = d.validation_size if d.validation_size < 1 else int(d.validation_size)
        if (held if isinstance(held, int) else round(len(train) * held)) < 1 or len(train) < 4:
            raise ValueError(
                f"The training data has only {len(train)} rows, too few to hold some out for evaluation. "
                "Add rows, give a validation file, or set data.validation_size to 0."
            )
        if isinstance(held, int) and held >= len(train):
            raise ValueError(
                f"data.validation_size {held} is not smaller than the {len(train)} training rows. Use a share such as 0.1."
            )
        if d.max_rows:
            # Hold out a share of the rows that will be used, not of the whole file: 2,000 rows of a
            # 67,000-row dataset should not be evaluated on 6,700 held-out rows.
            capped = held if isinstance(held, int) else max(1, round(d.max_rows * held))
            if len(train) > d.max_rows + capped:
                train, held = train.shuffle(seed=seed).select(range(d.max_rows + capped)), capped
        parts = train.train_test_split(test_size=held, seed=seed, shuffle=True)
        train, validation = parts["train"], parts["test"]
    elif validation is not None:
        validation = _drop_empty(validation, mapping)
    if d.max_rows and len(train) > d.max_rows:
        train = train.shuffle(seed=seed).select(range(d.max_rows))
    if validation is not None and d.max_eval_rows and len(validation) > d.max_eval_rows:
        validation = validation.shuffle(seed=seed).select(range(d.max_eval_rows))
    names = task.label_names(train, validation, mapping)
    return RawSplits(train=train, validation=validation, mapping=mapping, label_names=names)


def _hub_or_folder_splits(d: DataConfig) -> list[str]:
    """Split names available for the training source (none for a single file)."""
    source = d.train.strip()
    path = local_path(source)
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        import json

        return list(json.loads((path / "dataset_dict.json").read_text())["splits"])
    if looks_like_path(source):
        return []
    ensure_loaded()
    import datasets

    try:
        return list(datasets.get_dataset_split_names(source, d.dataset_config or None, **token_kwargs()))
    except Exception as exc:  # unreachable Hub: loading the train split will say so plainly
        log.info("Could not list splits of %s: %s", source, exc)
        return []


def _drop_empty(table: datasets.Dataset, mapping: ColumnMapping) -> datasets.Dataset:
    """Drop rows whose mapped columns are empty, and say how many went."""
    import numpy as np
    import pyarrow.compute as pc

    cols = mapping.used()
    empty = None
    for c in cols:
        if c == mapping.input:
            continue  # an empty Alpaca 'input' is normal
        column_empty = _empty_cells(table.with_format("arrow")[c])
        empty = column_empty if empty is None else pc.or_(empty, column_empty)
    # Found with arrow, whole columns at once: a row-by-row filter took 0.4 s on SST-2's 67,000 rows, and left an
    # index over every row that slowed each later read of the table.
    if empty is None or not pc.any(empty).as_py():
        return table
    kept = table.select(np.flatnonzero(~np.asarray(empty)))
    log.warning("Dropped %d rows with an empty %s.", len(table) - len(kept), " or ".join(cols))
    if len(kept) == 0:
        raise ValueError(f"Every row has an empty {' or '.join(cols)} column. Check the column mapping.")
    return kept


def _empty_cells(column: Any) -> Any:
    """Where an arrow column is empty: null, blank text or an empty list (`is_empty_value`, whole columns at once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pc.is_null(column)
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        empty = pc.or_(empty, pc.equal(pc.utf8_trim_whitespace(column), ""))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        empty = pc.or_(empty, pc.equal(pc.list_value_length(column), 0))
    return pc.fill_null(empty, True)


# ---- tokenizing ------------------------------------------------------------------------------

# Splits up to this many rows are tokenized in memory (at most ~250 MB even at 512 tokens a row); bigger ones go to
# the datasets cache on disk, memory-mapped and reused, where tokenizing takes long enough that naming it does not count.
IN_MEMORY_ROWS = 20_000


def prepare_data(config: RunConfig, tokenizer: Any, raw: RawSplits | None = None) -> PreparedData:
    """Tokenize both splits for the task, with a length column for length-grouped batches."""
    from ft_app.tasks import get_task

    raw = raw or load_splits(config)
    task = get_task(config.task)
    encode = task.encoder(config, tokenizer, raw.mapping, raw.label_names)

    def tokenize(table: datasets.Dataset, desc: str) -> datasets.Dataset:
        kwargs: dict[str, Any] = {}
        if len(table) <= IN_MEMORY_ROWS:
            # Kept in memory under a fresh name: `map` would otherwise name its cache file by hashing `encode`,
            # which pickles the whole tokenizer (~0.5 s a split, before the first step of every run).
            kwargs = {"keep_in_memory": True, "new_fingerprint": uuid.uuid4().hex}
        out = table.map(encode, batched=True, remove_columns=table.column_names, desc=desc, **kwargs)
        return out.filter(lambda n: n > 0, input_columns="length", desc="Dropping rows with nothing to learn")

    train = tokenize(raw.train, "Tokenizing training data")
    dropped = len(raw.train) - len(train)
    if dropped:
        log.warning(
            "%d training rows had nothing to learn after cutting to %d tokens (the answer was cut off); "
            "they were skipped. Raise data.max_length to keep them.",
            dropped,
            config.max_length,
        )
    if len(train) == 0:
        raise ValueError(
            f"No training row fits in data.max_length={config.max_length} tokens with its answer. Raise data.max_length."
        )
    validation = tokenize(raw.validation, "Tokenizing validation data") if raw.validation is not None else None
    if validation is not None and len(validation) == 0:
        validation = None
    return PreparedData(
        train=train,
        validation=validation,
        mapping=raw.mapping,
        label_names=raw.label_names,
        raw_validation=raw.validation,
        dropped_rows=dropped,
    )
