"""A person's own list of texts for the side-by-side table (pasted or uploaded), and the table's filter and CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from ft_app.compare import (
    BatchRow,
    batch_compare,
    lines_in,
    read_text_list,
    shown_rows,
    text_list,
    write_batch_csv,
)
from ft_app.limits import MAX_COMPARE_ROWS
from ft_app.tasks import Prediction


def test_pasted_lines_are_one_text_each_and_blank_lines_are_skipped() -> None:
    rows = text_list("A warm film.\n\n  A dull mess.  \r\nGreat acting\n")
    assert [r["input"] for r in rows] == ["A warm film.", "A dull mess.", "Great acting"]
    assert all(r["reference"] == "" for r in rows)


def test_an_empty_paste_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="one text a line"):
        text_list(" \n \n")


def test_a_list_longer_than_the_limit_is_refused_naming_both_numbers() -> None:
    with pytest.raises(ValueError, match=rf"{MAX_COMPARE_ROWS + 1} texts.*at most {MAX_COMPARE_ROWS}"):
        text_list("\n".join(f"text {i}" for i in range(MAX_COMPARE_ROWS + 1)))
    assert len(text_list("\n".join(f"text {i}" for i in range(MAX_COMPARE_ROWS)))) == MAX_COMPARE_ROWS


def test_uploaded_txt_is_one_text_a_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("first one\nsecond one\n", encoding="utf-8")
    assert [r["input"] for r in read_text_list(path)] == ["first one", "second one"]


def test_uploaded_csv_reads_its_text_and_optional_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text('review,sentiment\n"Warm, moving film.",positive\nA dull mess.,negative\n', encoding="utf-8")
    rows = read_text_list(path)
    assert rows == [{"input": "Warm, moving film.", "reference": "positive"},
                    {"input": "A dull mess.", "reference": "negative"}]
    plain = tmp_path / "plain.csv"
    plain.write_text("text\nOne\nTwo\n", encoding="utf-8")
    assert read_text_list(plain) == [{"input": "One", "reference": ""}, {"input": "Two", "reference": ""}]
    headless = tmp_path / "headless.csv"
    headless.write_text("One line\nAnother line\n", encoding="utf-8")
    assert [r["input"] for r in read_text_list(headless)] == ["One line", "Another line"]


def test_uploaded_csv_with_named_columns_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("text,label\nnice,positive\nbad,\n", encoding="utf-8")
    assert read_text_list(path) == [{"input": "nice", "reference": "positive"}, {"input": "bad", "reference": ""}]


def test_an_uploaded_list_of_another_kind_or_too_long_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "notes.pdf"
    other.write_bytes(b"%PDF-1.4")
    with pytest.raises(ValueError, match=r"notes\.pdf.*\.txt.*\.csv"):
        read_text_list(other)
    wide = tmp_path / "wide.csv"
    wide.write_text("a,b\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"wide\.csv.*text"):
        read_text_list(wide)
    long = tmp_path / "long.csv"
    long.write_text("text\n" + "\n".join(f"t{i}" for i in range(MAX_COMPARE_ROWS + 5)), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{MAX_COMPARE_ROWS + 5} texts"):
        read_text_list(long)


def test_lines_in_counts_the_texts_a_single_box_holds() -> None:
    assert lines_in("one text") == 1
    assert lines_in("first\n\nsecond\nthird\n") == 3


@dataclass
class _Result:
    base: Prediction
    finetuned: Prediction


class _EchoComparer:
    """Answers 'positive' on the base side and the text's last word on the fine-tuned side."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def compare(self, run_dir: Path, text: str, settings: object = None) -> _Result:
        self.asked.append(text)
        return _Result(base=Prediction(text="positive"), finetuned=Prediction(text=text.split()[-1]))


def test_batch_compare_answers_the_given_rows_instead_of_held_out_ones(tmp_path: Path) -> None:
    comparer = _EchoComparer()
    rows = batch_compare(tmp_path, 0, comparer=comparer, rows=[
        {"input": "a b negative", "reference": "negative"}, {"input": "x positive", "reference": "positive"},
        {"input": "no label here", "reference": ""}])
    assert comparer.asked == ["a b negative", "x positive", "no label here"]
    assert [r.change for r in rows] == ["fixed", "same", ""]
    assert rows[2].base_correct is None


def test_batch_compare_refuses_more_rows_than_the_limit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=str(MAX_COMPARE_ROWS)):
        batch_compare(tmp_path, 0, comparer=_EchoComparer(),
                      rows=[{"input": f"t {i}", "reference": ""} for i in range(MAX_COMPARE_ROWS + 1)])


def _row(text: str, base: bool, tuned: bool) -> BatchRow:
    return BatchRow(input=text, reference="r", base="b", finetuned="f", base_correct=base, finetuned_correct=tuned)


def test_the_filter_and_the_csv_show_the_same_rows(tmp_path: Path) -> None:
    rows = [_row("fixed one", False, True), _row("broken one", True, False), _row("same one", True, True),
            _row("broken two", True, False)]
    assert [r.input for r in shown_rows(rows, "broken")] == ["broken one", "broken two"]
    assert [r.input for r in shown_rows(rows, "fixed")] == ["fixed one"]
    assert shown_rows(rows, "all") == rows
    with pytest.raises(ValueError, match="'worse'"):
        shown_rows(rows, "worse")
    path = write_batch_csv(shown_rows(rows, "broken"), tmp_path / "shown.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        body = list(csv.reader(fh))[1:]
    assert [line[0] for line in body] == ["broken one", "broken two"]
