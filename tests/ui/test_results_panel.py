"""The before -> after card, the golden table and the coach read the run's files as the runner writes them."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from ft_app import plots
from ft_app.results import COMPARE_FILE, EVAL_FILE, read_results
from ft_app.ui import results_panel
from ft_app.ui.form import _from_widget, _to_widget

BEFORE = {
    "loss": 0.69, "rows": 7, "accuracy": 3 / 7, "f1": 0.3, "labels": ["negative", "positive"],
    "confusion_matrix": [[3, 0], [4, 0]],
    "per_class": {"negative": {"precision": 3 / 7, "recall": 1.0, "f1": 0.6, "support": 3},
                  "positive": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 4}},
}
AFTER = {
    "loss": 0.03, "rows": 7, "accuracy": 1.0, "f1": 1.0, "labels": ["negative", "positive"],
    "confusion_matrix": [[3, 0], [0, 4]],
    "per_class": {"negative": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3},
                  "positive": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 4}},
}


def write_run(tmp_path: Path, result: dict, golden: list[dict] | None = None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / EVAL_FILE).write_text(json.dumps(result))
    if golden:
        (run / COMPARE_FILE).write_text("".join(json.dumps(g) + "\n" for g in golden))
    return run


def test_classification_card_shows_both_sides_the_change_and_the_zero_shot_column(tmp_path: Path) -> None:
    zero = {**BEFORE, "accuracy": 4 / 7, "model": "nli-model"}
    run = write_run(tmp_path, {"task": "classification", "before": BEFORE, "after": AFTER, "zero_shot": zero,
                               "summary": "Accuracy 42.9% -> 100.0% (+57.1%) on 7 held-out rows: better than before training."})
    card = results_panel.card_html(read_results(run))
    assert "42.9% → 100.0%" in card and 'data-verdict="better"' in card
    assert "+57.1 points (better)" in card and "96% lower (better)" in card  # accuracy up, loss down: both better
    assert "No training at all" in card and "57.1%" in card and "nli-model" in card
    assert "found 4 of the 4 rows labelled positive (before: 0)" in card
    before_fig, after_fig = results_panel.confusion_pair(read_results(run))
    assert [list(map(str, r)) for r in AFTER["confusion_matrix"]] == [list(r) for r in after_fig.data[0].text]
    assert list(before_fig.data[0].z[1]) == [1.0, 0.0]  # coloured by share of the true label's rows


def test_skipped_zero_shot_says_why_and_generation_cards_show_perplexity(tmp_path: Path) -> None:
    run = write_run(tmp_path, {"task": "classification", "before": BEFORE, "after": AFTER,
                               "zero_shot": {"skipped": "The zero-shot model 'x' could not be loaded (offline)."}})
    card = results_panel.card_html(read_results(run))
    assert "Zero-shot baseline skipped: The zero-shot model" in card and "No training at all" not in card

    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / EVAL_FILE).write_text(json.dumps({
        "task": "seq2seq", "before": {"loss": 2.0, "perplexity": 7.39, "rows": 5, "exact_match": 0.2},
        "after": {"loss": 1.0, "perplexity": 2.72, "rows": 5, "exact_match": 0.6}, "summary": ""}))
    results = read_results(lm)
    assert "better than before training" in results.summary  # filled by describe_change when missing
    card = results_panel.card_html(results)
    assert "Perplexity" in card and "7.4" in card and "2.7" in card and "Exact match" in card and "60.0%" in card
    assert results_panel.confusion_pair(results) is None


def test_a_run_without_numbers_says_why_or_stays_hidden(tmp_path: Path) -> None:
    empty = read_results(tmp_path)
    assert not empty.has_eval and "No before/after numbers" in results_panel.card_html(empty)
    assert results_panel.render(tmp_path, "failed")[0].visible is False  # a failed run: no empty card
    assert results_panel.render(tmp_path, "completed")[0].visible is True


def test_golden_rows_show_labels_with_confidence_and_generated_text() -> None:
    rows = results_panel.golden_rows([
        {"input": "great", "reference": "positive",
         "base": {"text": "negative", "label": "negative", "probabilities": {"negative": 0.5, "positive": 0.5}},
         "finetuned": {"text": "positive", "label": "positive", "probabilities": {"negative": 0.03, "positive": 0.97}}},
        {"input": "Q?", "reference": "", "base": {"text": "hmm"}, "finetuned": {"text": "A."}},
    ])
    assert rows == [["great", "positive", "negative (50% sure)", "positive (97% sure)"], ["Q?", "", "hmm", "A."]]


def test_the_golden_table_is_plain_html_with_long_cells_a_click_away() -> None:
    long = "<b>" + "word " * 100
    table = results_panel.golden_html([["great", "positive", "negative (50% sure)", long]])
    assert table.count("<tr>") == 2 and "<th>input</th>" in table and "positive (97% sure)" not in table
    assert "&lt;b&gt;" in table and "<b>" not in table  # text is escaped, never markup
    shown = html.unescape(re.sub(r"<[^>]+>", "", table)).replace("…", "")
    assert "<details><summary>" in table and long in shown  # cut at 240 characters, nothing lost
    assert results_panel.golden_html([]) == ""


def test_confusion_matrix_figure_refuses_shapes_that_do_not_match() -> None:
    assert not plots.confusion_matrix_figure([[1, 2]], ["a", "b"]).data
    fig = plots.confusion_matrix_figure([[2, 1], [0, 3]], ["a", "b"], "t")
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.xaxis.title.text == "predicted label"


@pytest.mark.parametrize("typed", ["first prompt\nsecond, with a comma\n\n  third  "])
def test_golden_prompts_are_one_per_line_both_ways(typed: str) -> None:
    assert _from_widget(("evaluation", "golden_prompts"), typed) == typed
    from ft_app.config import RunConfig

    config = RunConfig.from_dict({"model": "m", "data": {"train": "x.csv"}, "evaluation": {"golden_prompts": typed}})
    assert config.evaluation.golden_prompts == ["first prompt", "second, with a comma", "third"]
    assert _to_widget(config.evaluation.golden_prompts, separator="\n") == "first prompt\nsecond, with a comma\nthird"


def test_coach_apply_fills_the_form_with_the_fix_and_leaves_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    from ft_app.ui.coach_box import apply_fix
    from ft_app.ui.common import into_notice
    from tests.ui.conftest import build_studio, form_values

    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: said.append(message))
    said: list[str] = []
    ctx, page = build_studio(tmp_path / "runs")
    form, coach = ctx.form, page.train.coach
    values = form_values(ctx, model="some/model", data__train="x.csv", training__learning_rate=0.001)
    values[coach.fixes] = [
        {"training.early_stopping": True, "training.load_best_model_at_end": True},
        {"training.learning_rate": 0.0001, "training.max_grad_norm": 1.0},
    ]
    # Each Apply button runs apply_fix with its finding's number; on the page a refusal goes to the coach's notice.
    first, second = (into_notice(lambda v, i=i: apply_fix(ctx, coach, i, v), form.components(), coach.notice)
                     for i in (0, 1))
    updates = first(values)
    assert set(updates) == {form.by_path[("training", "early_stopping")], form.by_path[("training", "load_best_model_at_end")],
                            coach.notice}
    assert updates[coach.notice] == ""  # an applied fix clears an earlier refusal
    assert updates[form.by_path[("training", "early_stopping")]]["value"] is True
    assert updates[form.by_path[("training", "load_best_model_at_end")]]["value"] == "yes"  # the Automatic/Yes/No radio
    updates = second(values)
    assert updates[form.by_path[("training", "learning_rate")]]["value"] == 0.0001
    assert "learning rate 0.001 → 0.0001" in said[-1] and "Press Train" in said[-1]
    values[coach.fixes] = [{"training.epochs": 0}]  # a fix that the config refuses is a plain note, not a crash
    monkeypatch.setattr(gr, "Warning", lambda message, *a, **k: said.append(message))
    updates = first(values)
    assert list(updates) == [coach.notice]  # the form is left as it was
    assert "could not be applied" in updates[coach.notice]


def test_a_new_heads_before_is_called_a_guess_and_the_zero_shot_is_the_before_that_means_something(
        tmp_path: Path) -> None:
    """Item 3 of issue 17: the page says what the "before" of a new classification head is (a guess: chance)."""
    run = write_run(tmp_path, {"task": "classification", "before": BEFORE, "after": AFTER})
    card = results_panel.card_html(read_results(run))
    assert "Before training the new head guesses: about 50% on two labels" in card
    assert "new head, untrained" in card  # the column says it too
    zero = {**BEFORE, "accuracy": 4 / 7, "model": "nli-model"}
    (run / EVAL_FILE).write_text(json.dumps({"task": "classification", "before": BEFORE, "after": AFTER,
                                             "zero_shot": zero}))
    card = results_panel.card_html(read_results(run))
    assert "the before that means something" in card and "nli-model" in card
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / EVAL_FILE).write_text(json.dumps({"task": "causal_lm", "before": {"loss": 2.0, "perplexity": 7.4, "rows": 5},
                                            "after": {"loss": 1.0, "perplexity": 2.7, "rows": 5}}))
    assert "guesses" not in results_panel.card_html(read_results(lm))  # a causal LM's before is its own answers
