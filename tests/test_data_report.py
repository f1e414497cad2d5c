"""Tests for the Data tab's report: preview, label balance, rendered examples and token lengths."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest

from ft_app.config import DataConfig, ModelConfig, RunConfig
from ft_app.data import ColumnMapping, load_table
from ft_app.data_report import (
    CUT,
    EMPTY_LABEL,
    PREVIEW_CHARS,
    TRAINED,
    describe,
    label_balance,
    preview,
    token_length_stats,
)
from ft_app.tasks import get_task
from ft_app.tasks.causal_lm import render_training_text
from tests.fixtures.tiny_models import (
    train_bert_tokenizer,
    train_gpt2_tokenizer,
    train_llama_tokenizer,
    train_t5_tokenizer,
)


def rendered_example(row: dict, mapping: ColumnMapping, tokenizer: object, data: DataConfig,
                     max_length: int = 10**9) -> list:
    """A causal-LM row as the Data tab shows it (the causal-LM task's example segments)."""
    return get_task("causal_lm").example_segments(row, mapping, tokenizer, data, max_length)


LONG = "the movie was great and the acting was wonderful " * 6  # about 50 words: over a 20-token limit
SHORT = "a great film"


@pytest.fixture(scope="module")
def bert_tok():
    return train_bert_tokenizer()


@pytest.fixture(scope="module")
def gpt2_tok():
    """Byte-level BPE, no chat template: instructions use the plain template."""
    return train_gpt2_tokenizer()


@pytest.fixture(scope="module")
def llama_tok():
    """Has a chat template with bos/eos."""
    return train_llama_tokenizer()


def _csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _sentiment_rows() -> list[dict]:
    """5 positive (2 long), 3 negative (1 long), 2 without a label."""
    texts = [LONG, SHORT, SHORT, LONG, SHORT, "boring", LONG, "dull plot", "no label one", "no label two"]
    labels = ["positive"] * 5 + ["negative"] * 3 + ["", ""]
    return [{"text": t, "label": lab} for t, lab in zip(texts, labels)]


# ---- preview -------------------------------------------------------------------------------


def test_preview_cuts_long_cells_and_renders_messages(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
            "note": "x" * 500,
            "meta": {"source": "web"},
        },
        {"messages": [{"from": "human", "value": "Q"}], "note": "short", "meta": {"source": "book"}},
    ]
    table = load_table(str(_jsonl(tmp_path / "chat.jsonl", rows)))
    frame = preview(table, rows=10)
    assert list(frame.columns) == ["messages", "note", "meta"]
    assert len(frame) == 2
    assert frame.loc[0, "messages"] == "user: Hi\nassistant: Hello!"
    assert frame.loc[1, "messages"] == "human: Q"
    assert len(frame.loc[0, "note"]) == PREVIEW_CHARS and frame.loc[0, "note"].endswith("…")
    assert frame.loc[1, "note"] == "short"
    assert frame.loc[0, "meta"] == '{"source": "web"}'
    assert len(preview(table, rows=1)) == 1


def test_preview_shows_class_names() -> None:
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    table = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features)
    assert preview(table)["label"].tolist() == ["pos (1)", "neg (0)"]


# ---- label balance -------------------------------------------------------------------------


def test_label_balance_counts_strings_and_empty(tmp_path: Path) -> None:
    table = load_table(str(_csv(tmp_path / "s.csv", _sentiment_rows())))
    assert label_balance(table, "label") == [("negative", 3), ("positive", 5), (EMPTY_LABEL, 2)]


def test_label_balance_numbers_and_class_labels(tmp_path: Path) -> None:
    table = load_table(str(_csv(tmp_path / "n.csv", [{"text": "t", "label": v} for v in [2, 0, 2, 1, 2, 10]])))
    assert label_balance(table, "label") == [("0", 1), ("1", 1), ("2", 3), ("10", 1)]
    features = datasets.Features({"label": datasets.ClassLabel(names=["neg", "neutral", "pos"])})
    classes = datasets.Dataset.from_dict({"label": [2, 2, 0, -1]}, features=features)
    # A class with no rows still shows (as 0); -1 (unlabelled) is counted apart.
    assert label_balance(classes, "label") == [("neg", 1), ("neutral", 0), ("pos", 2), (EMPTY_LABEL, 1)]
    with pytest.raises(ValueError, match="'nope'.*label"):
        label_balance(classes, "nope")


# ---- rendered example ----------------------------------------------------------------------


def test_rendered_example_trains_exactly_the_response_with_a_template(gpt2_tok) -> None:
    row = {"instruction": "What color is the sky?", "response": "The sky is blue."}
    mapping = ColumnMapping(prompt="instruction", response="response")
    segments = rendered_example(row, mapping, gpt2_tok, DataConfig())
    assert "".join(text for text, _ in segments) == render_training_text(row, mapping, gpt2_tok, DataConfig()).text
    trained = [text for text, label in segments if label == TRAINED]
    assert trained == ["The sky is blue." + gpt2_tok.eos_token]
    untrained = "".join(text for text, label in segments if label is None)
    assert "What color is the sky?" in untrained and "The sky is blue." not in untrained
    # With loss on the prompt, everything is trained.
    everything = rendered_example(row, mapping, gpt2_tok, DataConfig(loss_on_prompt=True))
    assert [label for _, label in everything] == [TRAINED]


def test_rendered_example_trains_every_assistant_turn_with_a_chat_template(llama_tok) -> None:
    messages = [
        {"role": "user", "content": "What color is the sky?"},
        {"role": "assistant", "content": "The sky is blue."},
        {"role": "user", "content": "And the grass?"},
        {"role": "assistant", "content": "The grass is green."},
    ]
    segments = rendered_example({"messages": messages}, ColumnMapping(messages="messages"), llama_tok, DataConfig())
    trained = [text for text, label in segments if label == TRAINED]
    assert len(trained) == 2
    assert trained[0].startswith("The sky is blue.") and trained[1].startswith("The grass is green.")
    assert all(llama_tok.eos_token in t for t in trained)
    assert not any("sky?" in t or "grass?" in t or "<|user|>" in t for t in trained)
    assert segments[0] == (llama_tok.bos_token + "<|user|>\nWhat color is the sky?" + llama_tok.eos_token
                           + "\n<|assistant|>\n", None)


def test_rendered_example_marks_what_max_length_cuts(gpt2_tok) -> None:
    row = {"text": LONG}
    segments = rendered_example(row, ColumnMapping(text="text"), gpt2_tok, DataConfig(), max_length=10)
    assert segments[-1][1] == CUT
    kept = "".join(text for text, label in segments if label != CUT)
    assert len(gpt2_tok(kept)["input_ids"]) == 10
    assert len(gpt2_tok(kept + segments[-1][0][:3])["input_ids"]) > 10
    whole = rendered_example(row, ColumnMapping(text="text"), gpt2_tok, DataConfig(), max_length=10_000)
    assert CUT not in [label for _, label in whole]


# ---- token lengths -------------------------------------------------------------------------


def test_classification_lengths_count_rows_over_the_limit(tmp_path: Path, bert_tok) -> None:
    table = load_table(str(_csv(tmp_path / "s.csv", _sentiment_rows())))
    stats = token_length_stats(table, ColumnMapping(text="text", label="label"), "classification", bert_tok,
                               DataConfig(), max_length=20)
    expected = [len(bert_tok(r["text"])["input_ids"]) for r in _sentiment_rows()]  # with [CLS] and [SEP]
    assert stats.lengths == expected
    assert stats.over_limit == sum(n > 20 for n in expected) == 3
    assert stats.over_limit_share == pytest.approx(0.3)
    assert stats.max == max(expected)
    assert (stats.rows_measured, stats.rows_total) == (10, 10)

    sampled = token_length_stats(table, ColumnMapping(text="text", label="label"), "classification", bert_tok,
                                 DataConfig(), max_length=20, sample=4)
    assert (sampled.rows_measured, sampled.rows_total) == (4, 10)
    assert set(sampled.lengths) <= set(expected)


def test_causal_lengths_measure_the_rendered_text_and_cut_answers(tmp_path: Path, gpt2_tok) -> None:
    rows = [
        {"instruction": "What color is the sky?", "response": "The sky is blue."},
        {"instruction": LONG, "response": "The grass is green."},  # the prompt alone fills max_length
    ]
    table = load_table(str(_jsonl(tmp_path / "i.jsonl", rows)))
    mapping = ColumnMapping(prompt="instruction", response="response")
    stats = token_length_stats(table, mapping, "causal_lm", gpt2_tok, DataConfig(), max_length=60)
    expected = [len(gpt2_tok(render_training_text(r, mapping, gpt2_tok, DataConfig()).text)["input_ids"]) for r in rows]
    assert stats.lengths == expected
    assert expected[0] < 60 < expected[1]
    assert stats.over_limit == 1
    assert stats.answer_cut_off == 1
    roomy = token_length_stats(table, mapping, "causal_lm", gpt2_tok, DataConfig(), max_length=expected[1])
    assert (roomy.over_limit, roomy.answer_cut_off) == (0, 0)


def test_seq2seq_lengths_use_the_source_and_check_targets(tmp_path: Path) -> None:
    tok = train_t5_tokenizer()
    rows = [{"text": SHORT, "target": "positive"}, {"text": LONG, "target": "positive " * 10}]
    table = load_table(str(_csv(tmp_path / "t.csv", rows)))
    limit = len(tok(text_target="positive")["input_ids"])  # the short target fits exactly, the long one not
    stats = token_length_stats(table, ColumnMapping(text="text", target="target"), "seq2seq", tok,
                               DataConfig(max_target_length=limit), max_length=20)
    assert stats.lengths == [len(tok(r["text"])["input_ids"]) for r in rows]
    assert stats.over_limit == 1
    assert stats.target_over_limit == 1


# ---- describe ------------------------------------------------------------------------------


def test_describe_classification(tmp_path: Path, bert_tok) -> None:
    path = _csv(tmp_path / "s.csv", _sentiment_rows())
    config = RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"), data=DataConfig(train=str(path), max_length=20))
    report = describe(config, bert_tok)
    assert report.columns == ["text", "label"] and report.n_rows == 10
    assert (report.mapping.text, report.mapping.label) == ("text", "label")
    assert len(report.preview) == 10
    assert report.balance == [("negative", 3), ("positive", 5), (EMPTY_LABEL, 2)]
    assert report.label_names == ["negative", "positive"]
    assert report.example is None
    assert report.lengths.over_limit == 3
    assert any("2 rows have no label" in n for n in report.notes)
    assert any("3 rows (30%)" in n and "max length 20" in n for n in report.notes)


def test_describe_instruction_data_renders_an_example(tmp_path: Path, gpt2_tok) -> None:
    rows = [{"instruction": "", "output": "skipped: empty prompt"},
            {"instruction": "Name the color of the snow.", "output": "The snow is white."}]
    path = _jsonl(tmp_path / "i.jsonl", rows)
    report = describe(RunConfig(task="causal_lm", model=ModelConfig(name_or_path="tiny"), data=DataConfig(train=str(path))), gpt2_tok)
    assert (report.mapping.prompt, report.mapping.response) == ("instruction", "output")
    assert report.balance is None
    assert [t for t, label in report.example if label == TRAINED] == ["The snow is white." + gpt2_tok.eos_token]
    assert report.lengths.rows_measured == 2


def test_describe_without_a_mapping_or_tokenizer_still_previews(tmp_path: Path) -> None:
    path = _csv(tmp_path / "odd.csv", [{"a": "x", "b": "y", "c": "z"}])
    report = describe(RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"), data=DataConfig(train=str(path))), None)
    assert report.mapping is None
    assert len(report.preview) == 1
    assert any("a, b, c" in n for n in report.notes)  # the engine's message names the columns

    ok = _csv(tmp_path / "s.csv", _sentiment_rows())
    report = describe(RunConfig(task="seq2seq", model=ModelConfig(name_or_path="tiny"), data=DataConfig(train=str(ok), target_column="label")), None)
    assert report.lengths is None
    assert report.example == [("Input: ", None), (LONG, None), ("\nTarget: ", None), ("positive", TRAINED)]
    assert any("Pick a model" in n for n in report.notes)


def test_describe_names_text_picked_as_label_in_one_line(tmp_path: Path) -> None:
    """The review text as label: one note naming the better column, no 400-bar balance, no note of every review."""
    rows = [{"review": f"review number {i} was {'good' if i % 2 else 'bad'}", "sentiment": "pos" if i % 2 else "neg"}
            for i in range(400)]
    path = _csv(tmp_path / "mine.csv", rows)
    data = DataConfig(train=str(path), text_column="sentiment", label_column="review")
    report = describe(RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"), data=data), None)
    assert report.notes == ["'review' has 400 different values: it looks like text, not labels; did you mean 'sentiment'?"]
    assert report.balance is None and report.label_names is None


def test_few_examples_note_lists_a_few_classes_and_counts_the_rest(tmp_path: Path) -> None:
    """Thirty rare classes: the note names five of them and counts the other 25."""
    rows = [{"text": f"sentence {i}", "label": f"c{i % 30:02d}"} for i in range(90)]
    report = describe(
        RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"), data=DataConfig(train=str(_csv(tmp_path / "r.csv", rows)))),
        None,
    )
    assert len(report.balance) == 30
    few = [n for n in report.notes if n.startswith("Few examples")]
    assert few == ["Few examples for 'c00' (3), 'c01' (3), 'c02' (3), 'c03' (3), 'c04' (3) and 25 more: "
                   "the model may not learn these classes well."]


def test_a_max_length_that_cuts_over_a_quarter_of_the_rows_is_a_warning(tmp_path: Path, bert_tok) -> None:
    """30% of the rows cut by max length 20: a warning that says how far to raise it; 10% cut: only the note."""
    path = _csv(tmp_path / "s.csv", _sentiment_rows())
    cut = describe(RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"),
                             data=DataConfig(train=str(path), max_length=20)), bert_tok)
    assert cut.lengths.over_limit_share == pytest.approx(0.3)
    assert len(cut.warnings) == 1
    assert "cuts 30% of the rows (more than a quarter)" in cut.warnings[0]
    assert f"about {int(cut.lengths.p95) + 1}" in cut.warnings[0]
    fits = describe(RunConfig(task="classification", model=ModelConfig(name_or_path="tiny"),
                              data=DataConfig(train=str(path), max_length=cut.lengths.max)), bert_tok)
    assert fits.lengths.over_limit == 0 and fits.warnings == []
