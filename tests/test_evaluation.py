"""Before/after metrics: exact arithmetic on known predictions, and answer-only loss on a real tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ft_app.config import RunConfig
from ft_app.data import load_splits, prepare_data
from ft_app.evaluation import classification_report, describe_change, evaluate_model, normalize_answer
from ft_app.modeling import load_tokenizer
from ft_app.tasks import get_task


def test_classification_report_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 1, 0, 1, 1, 0])
    report = classification_report(preds, labels, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["a"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert report["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["b"]["recall"] == 1.0
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["f1"] == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)


def test_causal_lm_loss_counts_only_answer_tokens(tiny_gpt2_dir, instruction_jsonl) -> None:
    from transformers import AutoModelForCausalLM

    config = RunConfig.from_dict(
        {"task": "causal_lm", "model": str(tiny_gpt2_dir), "data": {"train": str(instruction_jsonl), "validation_size": 8}}
    )
    tokenizer = load_tokenizer(config)
    data = prepare_data(config, tokenizer, load_splits(config))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_dir)).eval()
    task = get_task("causal_lm")
    result = evaluate_model(model, tokenizer, data.validation, task.collator(tokenizer, model, None), "causal_lm", None, 4)

    total, count = 0.0, 0
    for row in data.validation:
        ids = torch.tensor([row["input_ids"]])
        labels = torch.tensor(row["labels"])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1]
        target = labels[1:]
        keep = target != -100
        total += torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum").item()
        count += int(keep.sum())
    assert result["tokens"] == count
    assert result["loss"] == pytest.approx(total / count, rel=1e-4)
    assert result["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-4)
    # Answer tokens are fewer than all tokens: the prompt is not scored.
    assert count < sum(len(r["input_ids"]) - 1 for r in data.validation)


def test_describe_change_in_plain_words() -> None:
    text = describe_change("classification", {"accuracy": 0.5, "f1": 0.4, "rows": 100}, {"accuracy": 0.84, "f1": 0.83, "rows": 100})
    assert "50.0% -> 84.0%" in text and "better than before training" in text
    text = describe_change("causal_lm", {"loss": 3.3, "perplexity": 27.1, "rows": 60}, {"loss": 3.5, "perplexity": 33.1, "rows": 60})
    assert "worse than before training" in text
    assert describe_change("seq2seq", {}, {"loss": 1.0}) == ""


def test_normalize_answer() -> None:
    assert normalize_answer("  Positive. ") == normalize_answer("positive")
    assert normalize_answer("The sky is blue!") == "the sky is blue"


def test_accuracy_changes_are_points_everywhere() -> None:
    """The headline and the table say one thing: '+34.0 points', never '+34.0%' for a change of a share."""
    text = describe_change("classification", {"accuracy": 0.5, "f1": 0.4, "rows": 100},
                           {"accuracy": 0.84, "f1": 0.83, "rows": 100})
    assert "(+34.0 points)" in text and "+34.0%" not in text
    assert "(-10.0 points)" in describe_change("classification", {"accuracy": 0.6, "rows": 10}, {"accuracy": 0.5, "rows": 10})


def test_a_new_heads_before_is_chance() -> None:
    """A task that puts a new head on the model starts from a guess: 1 in the number of labels; other tasks do not."""
    from ft_app.evaluation import new_head_chance

    assert new_head_chance("classification", {"labels": ["neg", "pos"], "accuracy": 0.55}) == pytest.approx(0.5)
    assert new_head_chance("classification", {"labels": ["a", "b", "c"]}) == pytest.approx(1 / 3)
    assert new_head_chance("causal_lm", {"loss": 2.0}) is None
    assert new_head_chance("classification", {}) is None
