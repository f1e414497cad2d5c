"""The comparison's base side is truly the base, and its fine-tuned side is truly the saved result."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from ft_app.compare import Comparer, batch_compare, held_out_examples, write_batch_csv
from ft_app.config import RunConfig
from ft_app.inference import load_run_info, predict
from ft_app.runs import RunStore
from ft_app.tasks import GenerationSettings
from ft_app.training.progress import RunProgress
from ft_app.training.runner import run_training


def _train(tmp_path: Path, raw: dict) -> Path:
    store = RunStore(tmp_path / "runs")
    config = RunConfig.from_dict(raw)
    run_dir = store.create(config)
    status = run_training(config, run_dir, store, RunProgress(run_dir.name, run_dir), threading.Event())
    assert status == "completed", store.read_status(run_dir)
    return run_dir


def _fresh_classifier(path: Path, names: list[str], seed: int):
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )
    return model.eval()


CLS_TRAINING = {"max_steps": 6, "batch_size": 8, "learning_rate": 5e-3, "eval_strategy": "no", "save_strategy": "no"}


@pytest.mark.parametrize("method", ["lora", "full"])
def test_classification_sides_equal_fresh_base_and_saved_result(tmp_path, tiny_bert_dir, sentiment_csv, method) -> None:
    run_dir = _train(
        tmp_path,
        {"task": "classification", "model": str(tiny_bert_dir), "method": method,
         "data": {"train": str(sentiment_csv)}, "training": CLS_TRAINING},
    )
    info = load_run_info(run_dir)
    text = "I loved this film, it was warm and great."
    result = Comparer().compare(run_dir, text)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    fresh = _fresh_classifier(tiny_bert_dir, info.label_names, info.config.training.seed)
    expected_base = predict(fresh, tokenizer, text, info, GenerationSettings())
    assert result.base.probabilities == pytest.approx(expected_base.probabilities, abs=1e-6)

    if method == "lora":
        from peft import AutoPeftModelForSequenceClassification

        saved = AutoPeftModelForSequenceClassification.from_pretrained(
            str(run_dir / "adapter"), num_labels=len(info.label_names),
            id2label=dict(enumerate(info.label_names)),
        ).eval()
    else:
        from transformers import AutoModelForSequenceClassification

        saved = AutoModelForSequenceClassification.from_pretrained(str(run_dir / "model")).eval()
    expected_tuned = predict(saved, tokenizer, text, info, GenerationSettings())
    assert result.finetuned.probabilities == pytest.approx(expected_tuned.probabilities, abs=1e-6)
    # Training moved the model: the two sides must differ, or the test proves nothing.
    assert result.base.probabilities != pytest.approx(result.finetuned.probabilities, abs=1e-4)


def test_lora_causal_lm_base_side_is_the_base_with_one_copy(tmp_path, tiny_gpt2_dir, instruction_jsonl) -> None:
    run_dir = _train(
        tmp_path,
        {"task": "causal_lm", "model": str(tiny_gpt2_dir), "method": "lora",
         "data": {"train": str(instruction_jsonl)},
         "lora": {"r": 8, "alpha": 32},
         "training": {"max_steps": 8, "batch_size": 8, "learning_rate": 3e-2, "eval_strategy": "no", "save_strategy": "no"}},
    )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = load_run_info(run_dir)
    settings = GenerationSettings(max_new_tokens=8)
    prompt = "What color is the sky?"
    comparer = Comparer()
    result = comparer.compare(run_dir, prompt, settings)
    loaded = comparer._loaded
    assert loaded is not None and loaded.base is loaded.finetuned  # adapter switched off, not a second copy

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_gpt2_dir))
    tokenizer.pad_token = tokenizer.eos_token
    fresh = AutoModelForCausalLM.from_pretrained(str(tiny_gpt2_dir)).eval()
    assert result.base.text == predict(fresh, tokenizer, prompt, info, settings).text

    from peft import AutoPeftModelForCausalLM

    saved = AutoPeftModelForCausalLM.from_pretrained(str(run_dir / "adapter")).eval()
    assert result.finetuned.text == predict(saved, tokenizer, prompt, info, settings).text
    # Same weights outside the adapter: the adapter alone explains any difference in logits.
    ids = tokenizer("The sky is", return_tensors="pt")
    with torch.no_grad():
        with loaded.finetuned.disable_adapter():
            base_logits = loaded.finetuned(**ids).logits
        assert torch.allclose(base_logits, fresh(**ids).logits, atol=1e-5)
        assert not torch.allclose(loaded.finetuned(**ids).logits, base_logits, atol=1e-4)


def test_batch_compare_judges_rows_and_writes_csv(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    run_dir = _train(
        tmp_path,
        {"task": "classification", "model": str(tiny_bert_dir), "method": "full",
         "data": {"train": str(sentiment_csv), "validation_size": 16}, "training": CLS_TRAINING},
    )
    examples = held_out_examples(run_dir, 100)
    assert len(examples) == 16
    rows = batch_compare(run_dir, 10)
    assert len(rows) == 10
    for row, ex in zip(rows, examples):
        assert row.input == ex["input"] and row.reference == ex["reference"]
        assert row.base_correct == (row.base == row.reference)
        assert row.finetuned_correct == (row.finetuned == row.reference)
        assert row.change in ("fixed", "broken", "same")
    csv_path = write_batch_csv(rows, tmp_path / "out.csv")
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("input,reference,base,fine-tuned") and len(lines) == 11


def test_golden_prompts_are_answered_before_and_after(tmp_path, tiny_bert_dir, sentiment_csv) -> None:
    run_dir = _train(
        tmp_path,
        {"task": "classification", "model": str(tiny_bert_dir), "method": "full",
         "data": {"train": str(sentiment_csv)}, "training": CLS_TRAINING,
         "evaluation": {"golden_prompts": ["A warm and great film."], "golden_from_heldout": 2}},
    )
    lines = [json.loads(x) for x in (run_dir / "compare.jsonl").read_text().splitlines()]
    assert [x["input"] for x in lines][0] == "A warm and great film."
    assert len(lines) == 3 and lines[1]["reference"] in ("positive", "negative")
    info = load_run_info(run_dir)
    fresh = _fresh_classifier(tiny_bert_dir, info.label_names, info.config.training.seed)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert_dir))
    expected = predict(fresh, tokenizer, lines[0]["input"], info, GenerationSettings())
    assert lines[0]["base"]["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    assert lines[0]["finetuned"]["probabilities"] != pytest.approx(lines[0]["base"]["probabilities"], abs=1e-4)
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["before"]["rows"] == ev["after"]["rows"] > 0
    assert "Accuracy" in ev["summary"]


def test_compare_before_any_model_is_a_plain_error(tmp_path) -> None:
    store = RunStore(tmp_path / "runs")
    config = RunConfig.from_dict({"task": "classification", "model": "m", "data": {"train": "d.csv"}})
    run_dir = store.create(config)
    with pytest.raises(ValueError, match="no saved model yet"):
        Comparer().compare(run_dir, "hello")
