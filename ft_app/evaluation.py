"""Before/after metrics on the held-out rows, golden prompts, and the zero-shot NLI baseline."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import numpy as np

from ft_app.config import RunConfig
from ft_app.tasks import GenerationSettings, get_task
from ft_app.tasks.causal_lm import IGNORE_INDEX
from ft_app.text import first_line

log = logging.getLogger(__name__)
ZERO_SHOT_TEMPLATE = "This text is about {}."


def evaluate_model(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    collator: Any,
    task_name: str,
    label_names: list[str] | None,
    batch_size: int,
) -> dict[str, Any]:
    """Token-weighted loss (and, for a task with labels, its metrics) of a model on tokenized held-out rows."""
    import torch
    from torch.utils.data import DataLoader

    task = get_task(task_name)
    columns = [c for c in dataset.column_names if c != "length"]
    ordered = dataset.sort("length") if "length" in dataset.column_names else dataset
    loader = DataLoader(ordered.select_columns(columns), batch_size=batch_size, collate_fn=collator)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, total_count = 0.0, 0
    predictions: list[int] = []
    references: list[int] = []
    try:
        with torch.no_grad():
            for batch in loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                labels = batch.pop("labels")
                out = model(**batch)
                logits = out.logits.float()
                if task.labels:
                    loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
                    predictions += logits.argmax(-1).tolist()
                    references += labels.tolist()
                    total_loss += loss.item()
                    total_count += labels.numel()
                    continue
                if task.continues_prompt:  # each position predicts the next token
                    logits, labels = logits[:, :-1, :], labels[:, 1:]
                mask = labels != IGNORE_INDEX
                loss = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
                )
                total_loss += loss.item()
                total_count += int(mask.sum())
    finally:
        model.train(was_training)
    loss = total_loss / total_count if total_count else float("nan")
    result: dict[str, Any] = {"loss": loss, "rows": len(dataset)}
    if task.labels:
        result.update(classification_report(np.array(predictions), np.array(references), label_names or []))
    else:
        result["perplexity"] = math.exp(loss) if loss < 50 else float("inf")
        result["tokens"] = total_count
    return result


def classification_report(predictions: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: true class)."""
    from ft_app.tasks.classification import classification_metrics

    k = len(names)
    confusion = np.zeros((k, k), dtype=int)
    for t, p in zip(labels, predictions):
        confusion[int(t), int(p)] += 1
    per_class = {}
    for i, name in enumerate(names):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    return {
        **classification_metrics(predictions, labels, k),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "labels": list(names),
    }


def normalize_answer(text: str) -> str:
    """Lower-case, strip punctuation and extra spaces: what exact match compares."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", str(text).lower())).strip()


def exact_match(model: Any, tokenizer: Any, rows: list[dict[str, str]], config: RunConfig) -> dict[str, Any]:
    """Share of rows whose generated text equals the reference after normalisation (seq2seq)."""
    task = get_task(config.task)
    settings = GenerationSettings(max_new_tokens=config.data.max_target_length, temperature=0.0, seed=config.training.seed)
    was_training = model.training
    model.eval()
    try:
        hits = sum(
            normalize_answer(task.predict(model, tokenizer, r["input"], config, settings).text)
            == normalize_answer(r["reference"])
            for r in rows
        )
    finally:
        model.train(was_training)
    return {"exact_match": hits / len(rows) if rows else 0.0, "exact_match_rows": len(rows)}


def answer_prompts(
    model: Any, tokenizer: Any, prompts: list[dict[str, str]], config: RunConfig
) -> list[dict[str, Any]]:
    """The model's answers to golden prompts, with the run's decoding settings."""
    task = get_task(config.task)
    ev = config.evaluation
    settings = GenerationSettings(max_new_tokens=ev.max_new_tokens, temperature=ev.temperature, seed=config.training.seed)
    was_training = model.training
    model.eval()
    try:
        answers = []
        for p in prompts:
            pred = task.predict(model, tokenizer, p["input"], config, settings)
            answers.append({"text": pred.text, "label": pred.label, "probabilities": pred.probabilities})
        return answers
    finally:
        model.train(was_training)


def zero_shot_baseline(
    model_id: str, texts: list[str], references: list[str], label_names: list[str]
) -> dict[str, Any]:
    """Score held-out rows with an NLI model ("this text is about {label}"); a plain skip reason if unavailable."""
    from transformers import pipeline

    try:
        classifier = pipeline("zero-shot-classification", model=model_id, device=-1)
    except Exception as exc:  # offline, unknown id or not an NLI model: the baseline is optional
        reason = first_line(exc, 200)
        log.warning("Zero-shot baseline skipped: %s", reason)
        return {"skipped": f"The zero-shot model {model_id!r} could not be loaded ({reason}), so the baseline was skipped."}
    predictions = []
    for text in texts:
        out = classifier(text, candidate_labels=label_names, hypothesis_template=ZERO_SHOT_TEMPLATE)
        predictions.append(out["labels"][0])
    index = {n: i for i, n in enumerate(label_names)}
    result = classification_report(
        np.array([index[p] for p in predictions]), np.array([index[r] for r in references]), label_names
    )
    result.update({"model": model_id, "rows": len(texts)})
    return result


def describe_change(task_name: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    """One plain sentence: what fine-tuning changed on the held-out rows."""
    if not before or not after:
        return ""
    rows = after.get("rows", 0)
    task = get_task(task_name)
    own = task.change_sentence(before, after)
    if own:
        return own
    if task.labels and "accuracy" in before and "accuracy" in after:
        gain = after["accuracy"] - before["accuracy"]
        verdict = _verdict(gain > 0.005, gain < -0.005)
        f1 = (f", macro-F1 {before['f1']:.3f} -> {after['f1']:.3f}" if "f1" in before and "f1" in after else "")
        # A change of a share is in percentage points, as the results table says it ("+32.5 points", not "+32.5%").
        return (f"Accuracy {before['accuracy']:.1%} -> {after['accuracy']:.1%} ({gain * 100:+.1f} points){f1} on "
                f"{rows} held-out rows: {verdict}.")
    b, a = before.get("loss"), after.get("loss")
    if b is None or a is None or not (math.isfinite(b) and math.isfinite(a)):
        return "The held-out loss could not be computed (no answer tokens in the held-out rows)."
    change = (a - b) / b if b else 0.0
    verdict = _verdict(change < -0.01, change > 0.01)
    what = next(m.name for m in task.metrics if m.key == "loss")  # the task's word for it ("answer loss", ...)
    text = (
        f"Held-out {what} {b:.3f} -> {a:.3f} ({change:+.0%}), perplexity {before['perplexity']:.1f} -> "
        f"{after['perplexity']:.1f} on {rows} rows: {verdict}."
    )
    if "exact_match" in after and "exact_match" in before:
        text += f" Exact match {before['exact_match']:.0%} -> {after['exact_match']:.0%}."
    return text


def new_head_chance(task_name: str, before: dict[str, Any]) -> float | None:
    """The accuracy of a guess (1 in the number of labels) when the run's "before" is a new, untrained head: a task
    that puts a new head on the model starts from chance, whatever the method; None when "before" is the model's own
    answers (a causal LM, text-to-text) or the labels are not known."""
    labels = before.get("labels")
    if not get_task(task_name).has_head or not isinstance(labels, list) or not labels:
        return None
    return 1 / len(labels)


def _verdict(better: bool, worse: bool) -> str:
    if better:
        return "better than before training"
    if worse:
        return "worse than before training"
    return "about the same as before training"
