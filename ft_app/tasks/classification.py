"""Text classification: a new head on an encoder, accuracy and macro-F1."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ft_app.config import RunConfig
from ft_app.data import ColumnMapping, label_to_name
from ft_app.methods import get_method
from ft_app.tasks.base import Encoder, GenerationSettings, Metric, Prediction, PromptFormat, TaskSpec

log = logging.getLogger(__name__)

# Uncapped, a label on 1 row in 1,000 would get weight 500, and its one row would jerk the model about.
MAX_LABEL_WEIGHT = 10.0
# Modules between the body and a classification head: trained along with a new head (peft matches name endings).
CLASSIFIER_FEEDERS = ("pooler", "pre_classifier")


def classification_metrics(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 (classes absent from both predictions and labels are left out of the mean)."""
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    accuracy = float((predictions == labels).mean()) if len(labels) else 0.0
    f1s = []
    for c in range(num_labels):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": accuracy, "f1": float(np.mean(f1s)) if f1s else 0.0}


def balanced_label_weights(counts: Sequence[int]) -> list[float]:
    """Loss weights from the rows per label that make every label count the same: rows / (labels x rows with that
    label), at most `MAX_LABEL_WEIGHT`; a label no training row has gets 1 (it only ever appears in the eval loss)."""
    total = sum(counts)
    return [min(MAX_LABEL_WEIGHT, total / (len(counts) * n)) if n else 1.0 for n in counts]


def weighted_cross_entropy(weights: Sequence[float]) -> Callable:
    """A Trainer `compute_loss_func`: cross-entropy with a weight per label.

    Summed over the rows and divided by the rows of the whole optimizer step (`num_items_in_batch`, all
    accumulation steps and processes): the Trainer takes a loss given this way as already scaled for them.
    """
    import torch

    table = torch.tensor(list(weights), dtype=torch.float32)

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        per_row = torch.nn.functional.cross_entropy(
            logits.float().view(-1, logits.shape[-1]), labels.view(-1), weight=table.to(logits.device), reduction="none"
        )
        if num_items_in_batch is None:  # evaluation
            return per_row.mean()
        return per_row.sum() / num_items_in_batch

    return loss


class ClassificationTask(TaskSpec):
    """AutoModelForSequenceClassification with a fresh head sized to the labels."""

    name = "classification"
    label = "Sort texts into labels (classification)"
    short = "classification"
    has_head = True
    labels = True
    default_max_length = 256
    max_passes = 10
    typical_tokens = 64
    lora_task_type = "SEQ_CLS"
    # peft trains the classifier itself; these feed it and are new (DistilBERT's pre_classifier) or were never
    # trained for the task (BERT's pooler; untrained in sentence-embedding models): train them with it.
    lora_modules_to_save = CLASSIFIER_FEEDERS
    counts_tokens = False
    pipeline_tag = "text-classification"
    hub_pipeline_tags = ("text-classification", "fill-mask", "zero-shot-classification", "token-classification")
    metrics = (
        Metric("accuracy", "accuracy", "accuracy", "Accuracy", "share of test rows given the right label", "pct", True),
        Metric("f1", "macro-F1", "f1", "Macro-F1", "how well every label is found, averaged over labels (1 = perfect)",
               "num", True),
        Metric("loss", "loss", "loss", "Loss", "how unsure the model is about the right label; lower is better", "loss",
               False),
    )
    # Accuracy, not loss: a classifier's eval loss often rises (more sure of the rows it gets wrong) while it
    # answers more rows right, and right answers are what a person keeps the model for.
    best_metric = "eval_accuracy"
    card_example = "I really enjoyed this."
    mapping_parts = ("text", "label")
    card_limitation = "It only knows the labels above and always picks one of them, even for unrelated text."

    def model_class(self) -> Any:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification

    def detect_columns(self, pick: Any, data: Any) -> ColumnMapping:
        label = pick("label", data.label_column)
        text = pick("text", data.text_column, (label,))
        if text is None:
            others = [c for c in pick.column_names if c != label]
            text = others[0] if len(others) == 1 else None
        if text is None or label is None:
            missing = "text" if text is None else "label"
            raise ValueError(
                f"Could not tell which column holds the {missing}. The columns are: {pick.listed}. "
                f"Choose the {missing} column in the column mapping (data.{missing}_column)."
            )
        return ColumnMapping(text=text, label=label)

    def check_rows(self, train: Any, mapping: Any) -> None:
        from ft_app.data import label_column_problem

        problem = label_column_problem(train, mapping.label)
        if problem and problem.blocking:
            raise ValueError(problem.message)
        if problem:
            log.warning("%s", problem.message)

    def label_names(self, train: Any, validation: Any, mapping: Any) -> list[str]:
        from ft_app.data import label_names
        from ft_app.text import plain_list

        names = label_names(train, mapping.label)
        if len(names) < 2:
            raise ValueError(
                f"The label column {mapping.label!r} has a single class ({names[0] if names else 'none'}). "
                "Classification needs at least two different labels; check the column mapping."
            )
        if validation is not None:
            unseen = sorted(set(label_names(validation, mapping.label)) - set(names))
            if unseen:
                raise ValueError(
                    f"The validation data has label {unseen[0]!r} that never appears in the training data "
                    f"(training labels: {plain_list(names)})."
                )
        return names

    def report_data(self, report: Any, table: Any, mapping: Any) -> bool:
        from ft_app.data import label_column_problem
        from ft_app.data_report import EMPTY_LABEL, balance_notes, label_balance

        problem = label_column_problem(table, mapping.label)
        if problem:
            report.notes.append(problem.message)
        if problem and problem.blocking:
            return False  # a balance of hundreds of one-row "classes" says nothing more than the note
        report.balance = label_balance(table, mapping.label)
        report.label_names = [name for name, _ in report.balance if name != EMPTY_LABEL]
        report.notes += balance_notes(report.balance)
        return True

    def token_lengths(self, rows: Any, mapping: Any, tokenizer: Any, data: Any,
                      max_length: int) -> tuple[list[int], int, int]:
        from ft_app.data import column_values
        from ft_app.data_report import token_counts

        return token_counts(tokenizer, [str(t) for t in column_values(rows, mapping.text)], True), 0, 0

    def model_kwargs(self, label_names: list[str] | None) -> dict[str, Any]:
        names = label_names or []
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
            # A checkpoint fine-tuned on other labels has a head of another size: replace it.
            "ignore_mismatched_sizes": True,
        }

    def encoder(self, config: RunConfig, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        label2id = {n: i for i, n in enumerate(label_names or [])}
        max_length = config.max_length

        def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            texts = [str(t) for t in batch[mapping.text]]
            out = tokenizer(texts, truncation=True, max_length=max_length)
            out["labels"] = [label2id[_class_name(v, label_names)] for v in batch[mapping.label]]
            out["length"] = [len(ids) for ids in out["input_ids"]]
            return dict(out)

        return encode

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def compute_metrics(self, label_names: list[str] | None) -> Callable | None:
        num_labels = len(label_names or [])

        def compute(eval_pred: Any) -> dict[str, float]:
            logits, labels = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            return classification_metrics(np.argmax(logits, axis=-1), labels, num_labels)

        return compute

    def loss_function(self, config: RunConfig, train: Any, label_names: list[str] | None) -> Callable | None:
        names = label_names or []
        wanted = config.training.label_weights
        if wanted == "auto":
            wanted = "balanced" if get_method(config.method).balanced_labels else "none"
        if wanted != "balanced" or len(names) < 2:
            return None
        counts = np.bincount(np.asarray(train["labels"][:], dtype=np.int64), minlength=len(names))[: len(names)].tolist()
        weights = balanced_label_weights(counts)
        if max(weights) - min(weights) < 0.01:
            return None  # already balanced: the model's own loss is the same
        rows = max(1, sum(counts))
        log.info(
            "Labels weighed so that each counts the same: %s.",
            ", ".join(f"{n!r} ({c / rows:.0%} of the rows) weight {w:.2f}" for n, c, w in zip(names, counts, weights)),
        )
        return weighted_cross_entropy(weights)

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        return {"input": str(row[mapping.text]), "reference": _class_name(row[mapping.label], label_names)}

    def predict(
        self, model: Any, tokenizer: Any, text: str, config: RunConfig, settings: GenerationSettings
    ) -> Prediction:
        import torch

        inputs = tokenizer(text, truncation=True, max_length=config.max_length, return_tensors="pt").to(model.device)
        with torch.no_grad():
            logits = model(**inputs).logits[0].float()
        probs = torch.softmax(logits, dim=-1).tolist()
        id2label = model.config.id2label
        names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(probs))]
        best = int(np.argmax(probs))
        return Prediction(text=names[best], label=names[best], probabilities=dict(zip(names, probs)))

    def card_purpose(self, label_names: list[str] | None, fmt: PromptFormat) -> str:
        labels = ", ".join(f"`{n}`" for n in label_names or [])
        return f"It sorts a text into one of {len(label_names or [])} labels: {labels}."

    def usage_snippet(self, ref: str, adapter: bool, example: str, label_names: list[str] | None,
                      fmt: PromptFormat) -> str:
        ref, example = json.dumps(ref), json.dumps(example)
        if not adapter:
            return (f"from transformers import pipeline\nclassify = pipeline(\"text-classification\", model={ref})\n"
                    f"print(classify({example})[0][\"label\"])")
        # The base has no classifier of its own: its load report would call the new one MISSING (and its pre-training
        # heads UNEXPECTED) although the adapter then loads the classifier the run trained (modules_to_save). So the
        # snippet passes the labels, keeps that expected report quiet, and leaves peft's own warnings (a head the
        # adapter lacks) on.
        return (
            "from peft import AutoPeftModelForSequenceClassification\nfrom transformers import AutoTokenizer, logging\n"
            f"labels = {json.dumps(label_names or [])}\n"
            "logging.set_verbosity_error()  # the base has no classifier: the adapter brings the one this run trained\n"
            f"model = AutoPeftModelForSequenceClassification.from_pretrained({ref}, num_labels=len(labels), "
            "id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)})\n"
            "logging.set_verbosity_warning()\n"
            f"tokenizer = AutoTokenizer.from_pretrained({ref})\n"
            f"logits = model(**tokenizer({example}, return_tensors=\"pt\")).logits\n"
            "print(labels[logits.argmax(-1).item()])"
        )


def _class_name(value: Any, label_names: list[str] | None) -> str:
    """Map a raw label (a ClassLabel index, a number or a string) to its class name."""
    if label_names and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        # ClassLabel columns hold indices into their names; plain int columns are their own names.
        name = str(int(value))
        if name in label_names:
            return name
        if 0 <= int(value) < len(label_names):
            return label_names[int(value)]
    return label_to_name(value)


TASK = ClassificationTask()
