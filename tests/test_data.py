"""Data loading: every file type, column auto-detection, labels, seeded validation split, row caps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest

from ft_app.config import DataConfig, RunConfig
from ft_app.data import (
    detect_columns,
    label_column_problem,
    label_names,
    load_splits,
    load_table,
    looks_like_path,
)
from tests.fixtures.data_files import sentiment_rows

ROWS = sentiment_rows(40)


def _write(path: Path, rows: list[dict], kind: str) -> Path:
    if kind in ("csv", "tsv"):
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t" if kind == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    elif kind == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind == "parquet":
        datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def _config(train: Path | str, task: str = "classification", **data) -> RunConfig:
    return RunConfig.from_dict({"task": task, "model": "m", "data": {"train": str(train), **data}})


@pytest.mark.parametrize("kind", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_load_each_file_type(kind: str, tmp_path: Path) -> None:
    """Every supported file type loads with its rows and columns intact."""
    path = _write(tmp_path / f"reviews.{kind}", ROWS, kind)
    table = load_table(str(path))
    assert len(table) == 40 and table.column_names == ["text", "label"]
    assert table[0] == ROWS[0] and table[39] == ROWS[39]


def test_load_saved_dataset_folders(tmp_path: Path) -> None:
    """A save_to_disk folder loads, a DatasetDict by split; its validation split is used automatically."""
    single = tmp_path / "single"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(single))
    assert load_table(str(single))["text"] == [r["text"] for r in ROWS]

    both = tmp_path / "dict"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(ROWS[:30]), "validation": datasets.Dataset.from_list(ROWS[30:])}
    ).save_to_disk(str(both))
    assert len(load_table(str(both), split="validation")) == 10
    raw = load_splits(_config(both))
    assert len(raw.train) == 30 and raw.validation["text"] == [r["text"] for r in ROWS[30:]]
    with pytest.raises(ValueError, match="no split 'test'.*train, validation"):
        load_table(str(both), split="test")


def test_looks_like_path() -> None:
    """Paths and file names are local; plain names are Hub ids."""
    assert looks_like_path("./x") and looks_like_path("/abs/x") and looks_like_path("data.csv")
    assert looks_like_path("notes.txt")
    assert not looks_like_path("imdb") and not looks_like_path("stanfordnlp/sst2")


# ---------------------------------------------------------------- column detection


@pytest.mark.parametrize(
    ("task", "columns", "expected"),
    [
        ("classification", ["text", "label"], {"text": "text", "label": "label"}),
        ("classification", ["id", "Sentence", "Label"], {"text": "Sentence", "label": "Label"}),
        ("classification", ["content", "sentiment"], {"text": "content", "label": "sentiment"}),
        ("classification", ["review", "class"], {"text": "review", "label": "class"}),
        ("classification", ["email_body", "label"], {"text": "email_body", "label": "label"}),  # the only other column
        ("causal_lm", ["prompt", "response"], {"prompt": "prompt", "response": "response"}),
        ("causal_lm", ["instruction", "input", "output"], {"prompt": "instruction", "input": "input", "response": "output"}),
        ("causal_lm", ["question", "answer"], {"prompt": "question", "response": "answer"}),
        ("causal_lm", ["messages"], {"messages": "messages"}),
        ("causal_lm", ["conversations", "id"], {"messages": "conversations"}),
        ("causal_lm", ["text"], {"text": "text"}),
        ("seq2seq", ["text", "target"], {"text": "text", "target": "target"}),
        ("seq2seq", ["sentence", "label"], {"text": "sentence", "target": "label"}),
        ("seq2seq", ["document", "summary"], {"text": "document", "target": "summary"}),
    ],
)
def test_detect_obvious_columns(task: str, columns: list[str], expected: dict[str, str]) -> None:
    """The obvious column names are found without any mapping."""
    mapping = detect_columns(columns, task)
    got = {k: v for k, v in vars(mapping).items() if v}
    assert got == expected


def test_user_mapping_wins_and_is_checked() -> None:
    """A mapped column is used as given; one that does not exist is named along with the ones that do."""
    data = DataConfig(train="x", text_column="body", label_column="spam")
    mapping = detect_columns(["body", "spam", "text", "label"], "classification", data)
    assert (mapping.text, mapping.label) == ("body", "spam")
    with pytest.raises(ValueError, match=r"'Body'.*The columns are: body, spam"):
        detect_columns(["body", "spam"], "classification", DataConfig(train="x", text_column="Body"))


def test_undetectable_columns_say_what_to_map() -> None:
    """No obvious name: the message lists the columns and the field to set."""
    with pytest.raises(ValueError, match=r"text.*a, b, c.*data.text_column"):
        detect_columns(["a", "b", "c"], "classification")
    with pytest.raises(ValueError, match=r"label.*words, score.*data.label_column"):
        detect_columns(["words", "score"], "classification", DataConfig(train="x", text_column="words"))
    with pytest.raises(ValueError, match=r"columns are: x, y"):
        detect_columns(["x", "y"], "causal_lm")
    with pytest.raises(ValueError, match="prompt_column"):
        detect_columns(["q", "response"], "causal_lm", DataConfig(train="x", response_column="response"))


# ---------------------------------------------------------------- labels


def test_string_labels_become_ids_with_names_kept(tmp_path: Path) -> None:
    """String labels: sorted names; whitespace and empty cells do not make extra classes."""
    rows = [{"text": f"t{i}", "label": lab} for i, lab in enumerate(["spam", " ham", "ham ", "spam", "", "eggs"])]
    table = datasets.Dataset.from_list(rows)
    assert label_names(table, "label") == ["eggs", "ham", "spam"]
    raw = load_splits(_config(_write(tmp_path / "l.csv", rows, "csv"), validation_size=0))
    assert len(raw.train) == 5  # the empty label row is dropped
    assert raw.label_names == ["eggs", "ham", "spam"]


def test_numeric_and_classlabel_labels() -> None:
    """Integer labels keep their numbers as names; a ClassLabel keeps its own names."""
    ints = datasets.Dataset.from_list([{"text": "a", "label": 2}, {"text": "b", "label": 0}, {"text": "c", "label": 2.0}])
    assert label_names(ints, "label") == ["0", "2"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    named = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 1]}, features=features)
    assert label_names(named, "label") == ["neg", "pos"]


def test_validation_label_unseen_in_training(tmp_path: Path) -> None:
    """A validation label that training never shows is named."""
    train = _write(tmp_path / "train.csv", ROWS, "csv")
    val = _write(tmp_path / "val.csv", [{"text": "meh", "label": "neutral"}, *ROWS[:3]], "csv")
    with pytest.raises(ValueError, match="'neutral'.*negative, positive"):
        load_splits(_config(train, validation=str(val)))


# ---------------------------------------------------------------- splits and caps


def test_seeded_validation_split(tmp_path: Path) -> None:
    """No validation data: a held-out slice, the same for the same seed and different for another seed."""
    path = _write(tmp_path / "reviews.csv", ROWS, "csv")

    def split(seed: int, size: float | int = 0.25) -> tuple[list[str], list[str]]:
        cfg = RunConfig.from_dict(
            {"model": "m", "data": {"train": str(path), "validation_size": size}, "training": {"seed": seed}}
        )
        raw = load_splits(cfg)
        return list(raw.train["text"]), list(raw.validation["text"])

    train_a, val_a = split(1)
    train_b, val_b = split(1)
    _, val_c = split(2)
    assert len(val_a) == 10 and len(train_a) == 30
    assert set(train_a).isdisjoint(val_a) and sorted(train_a + val_a) == sorted(r["text"] for r in ROWS)
    assert (train_a, val_a) == (train_b, val_b)
    assert val_a != val_c
    assert len(split(1, 7)[1]) == 7  # a whole number is a row count


def test_validation_file_and_no_validation(tmp_path: Path) -> None:
    """A validation file is used as given; validation_size 0 means no evaluation rows at all."""
    train = _write(tmp_path / "train.csv", ROWS[:30], "csv")
    val = _write(tmp_path / "val.jsonl", ROWS[30:], "jsonl")
    raw = load_splits(_config(train, validation=str(val)))
    assert len(raw.train) == 30 and raw.validation["text"] == [r["text"] for r in ROWS[30:]]
    none = load_splits(_config(train, validation_size=0))
    assert none.validation is None and len(none.train) == 30
    other = _write(tmp_path / "other.csv", [{"sentence": "x", "label": "positive"}], "csv")
    with pytest.raises(ValueError, match="lacks column 'text'.*sentence, label"):
        load_splits(_config(train, validation=str(other)))


def test_max_rows_caps_training_rows(tmp_path: Path) -> None:
    """max_rows caps training rows (after the held-out split), max_eval_rows caps evaluation rows."""
    path = _write(tmp_path / "reviews.csv", ROWS, "csv")
    raw = load_splits(_config(path, max_rows=12, max_eval_rows=3, validation_size=10))
    assert len(raw.train) == 12 and len(raw.validation) == 3
    assert set(raw.train["text"]).isdisjoint(raw.validation["text"])
    assert len(load_splits(_config(path, max_rows=500)).train) == 36  # a cap above the data changes nothing


def test_empty_rows_are_dropped(tmp_path: Path) -> None:
    """Rows with an empty mapped cell are dropped; if none is left the message says so."""
    rows = [*ROWS[:10], {"text": "   ", "label": "positive"}, {"text": "ok", "label": ""}]
    raw = load_splits(_config(_write(tmp_path / "r.csv", rows, "csv"), validation_size=0))
    assert len(raw.train) == 10
    empty = [{"text": "", "label": "a"}, {"text": " ", "label": "b"}]
    with pytest.raises(ValueError, match="empty text or label"):
        load_splits(_config(_write(tmp_path / "e.csv", empty, "csv"), validation_size=0))


def test_empty_cells_of_every_kind_are_dropped(tmp_path: Path) -> None:
    """Null, blank and empty-list cells are empty in any mapped column; the rows kept are the filled ones, in order."""
    from ft_app.data import ColumnMapping, _drop_empty

    rows = [
        {"text": "good", "label": "pos", "messages": [{"role": "user", "content": "hi"}]},
        {"text": None, "label": "pos", "messages": [{"role": "user", "content": "hi"}]},
        {"text": "bad", "label": "neg", "messages": []},
        {"text": "fine", "label": " ", "messages": [{"role": "user", "content": "hi"}]},
        {"text": "ok", "label": "pos", "messages": None},
        {"text": "meh", "label": "neg", "messages": [{"role": "user", "content": "yo"}]},
    ]
    table = load_table(str(_write(tmp_path / "mixed.json", rows, "json")))
    kept = _drop_empty(table, ColumnMapping(text="text", label="label", messages="messages"))
    assert kept["text"][:] == ["good", "meh"]
    assert _drop_empty(table, ColumnMapping(text="text"))["text"][:] == ["good", "bad", "fine", "ok", "meh"]
    full = table.select([0, 5])
    assert _drop_empty(full, ColumnMapping(text="text", label="label")) is full  # nothing empty: the same table

    # The cell-by-cell test (the label check, the balance chart) agrees with the column-at-once one, cell for cell.
    from ft_app.data import _empty_cells, is_empty_value

    for name in ("text", "label", "messages"):
        by_cell = [is_empty_value(v) for v in table[name][:]]
        assert _empty_cells(table.with_format("arrow")[name]).to_pylist() == by_cell, name


def test_too_few_rows_to_hold_out(tmp_path: Path) -> None:
    """Three rows cannot give a validation slice: the message offers the ways out."""
    path = _write(tmp_path / "tiny.csv", ROWS[:3], "csv")
    with pytest.raises(ValueError, match="only 3 rows.*validation_size to 0"):
        load_splits(_config(path))
    with pytest.raises(ValueError, match="not smaller than the 40"):
        load_splits(_config(_write(tmp_path / "all.csv", ROWS, "csv"), validation_size=40))


def test_hub_dataset_offline_is_a_plain_error(no_network: None) -> None:
    """A Hub dataset id with no network gives a sentence, not a traceback from the datasets library."""
    with pytest.raises(ValueError, match="ft-app-no-such-user/no-such-dataset") as info:
        load_table("ft-app-no-such-user/no-such-dataset")
    assert any(k in str(info.value) for k in ("cannot be reached", "not found", "Could not load"))


def test_max_rows_holds_out_a_share_of_the_rows_used(tmp_path: Path) -> None:
    """With max_rows, the held-out split is a share of the capped rows, not of the whole file."""
    rows = [{"text": f"review number {i} was {'good' if i % 2 else 'bad'}", "label": "pos" if i % 2 else "neg"}
            for i in range(400)]
    path = _write(tmp_path / "big.csv", rows, "csv")
    raw = load_splits(_config(path, max_rows=50, validation_size=0.1))
    assert len(raw.train) == 50 and len(raw.validation) == 5
    assert set(raw.train["text"]).isdisjoint(raw.validation["text"])
    assert len(load_splits(_config(path, max_rows=50, validation_size=20)).validation) == 20


def _reviews(n: int) -> list[dict[str, str]]:
    """n different reviews with word labels, as a person's own CSV has them (review,sentiment)."""
    return [{"review": f"review number {i} was {'good' if i % 2 else 'bad'}", "sentiment": "pos" if i % 2 else "neg"}
            for i in range(n)]


def test_text_picked_as_the_label_is_named_in_one_line(tmp_path: Path) -> None:
    """The review text as label column: one line naming the count and the column that looks like labels."""
    path = _write(tmp_path / "mine.csv", _reviews(400), "csv")
    message = "'review' has 400 different values: it looks like text, not labels; did you mean 'sentiment'?"
    with pytest.raises(ValueError) as info:
        load_splits(_config(path, text_column="sentiment", label_column="review"))
    assert str(info.value) == message
    raw = load_splits(_config(path, text_column="review", label_column="sentiment"))
    assert raw.label_names == ["neg", "pos"]


def test_label_column_problem_judges_the_number_of_classes(tmp_path: Path) -> None:
    """Mostly-unique values block; many repeated classes only warn; small files and ClassLabels pass."""
    table = datasets.Dataset.from_list(_reviews(400))
    blocking = label_column_problem(table, "review")
    assert blocking is not None and blocking.blocking
    assert label_column_problem(table, "sentiment") is None

    # 150 intents, each on 10 rows: a real many-class task (e.g. CLINC150), said but not refused.
    intents = datasets.Dataset.from_list(
        [{"text": f"question {i}", "intent": f"intent_{i % 150}", "domain": f"d{i % 7}"} for i in range(1500)]
    )
    many = label_column_problem(intents, "intent")
    assert many is not None and not many.blocking
    assert many.message == (
        "'intent' has 150 different values, more than a label column usually has: check that it holds the class "
        "of each row; did you mean 'domain'?"
    )
    raw = load_splits(_config(_write(tmp_path / "intents.csv", intents.to_list(), "csv"), label_column="intent"))
    assert len(raw.label_names) == 150

    # Eight rows of eight labels say nothing about the column: too small to judge.
    tiny = datasets.Dataset.from_list([{"text": f"t{i}", "label": f"l{i}"} for i in range(8)])
    assert label_column_problem(tiny, "label") is None
    labelled = datasets.Dataset.from_list(_reviews(40)).cast_column(
        "review", datasets.ClassLabel(names=sorted({r["review"] for r in _reviews(40)}))
    )
    assert label_column_problem(labelled, "review") is None  # the dataset declares its classes


def test_label_column_of_numbers_or_without_a_better_column(tmp_path: Path) -> None:
    """An id column reads as numbers; with no label-like column the fix says what to pick."""
    rows = [{"id": i, "text": f"sentence {i}", "label": i % 3} for i in range(60)]
    problem = label_column_problem(datasets.Dataset.from_list(rows), "id")
    assert problem.message == "'id' has 60 different values: it looks like numbers, not labels; did you mean 'label'?"
    only_text = datasets.Dataset.from_list([{"a": f"first {i}", "b": f"second {i}"} for i in range(30)])
    assert label_column_problem(only_text, "b").message == (
        "'b' has 30 different values: it looks like text, not labels; pick the column that holds the class of each row."
    )


def test_lists_in_messages_are_capped(tmp_path: Path) -> None:
    """A wide table or many labels never make a message longer than a few names and a count."""
    wide = [f"col{i}" for i in range(30)]
    with pytest.raises(ValueError) as info:
        detect_columns(wide, "classification", DataConfig(label_column="nope"))
    assert "col0, col1" in str(info.value) and "col11 and 18 more" in str(info.value)
    assert "col12" not in str(info.value)

    train = [{"text": f"t{i}", "label": f"class {i % 20}"} for i in range(200)]
    dev = [{"text": f"d{i}", "label": f"other {i}"} for i in range(10)]
    with pytest.raises(ValueError) as info:
        load_splits(_config(_write(tmp_path / "t.csv", train, "csv"), validation=str(_write(tmp_path / "d.csv", dev, "csv"))))
    assert str(info.value).endswith("(training labels: class 0, class 1, class 10, class 11, class 12 and 15 more).")
