"""Seq2seq: text-to-text with an encoder-decoder model (e.g. a sentence to 'positive')."""

from __future__ import annotations

import json
from typing import Any

from ft_app.config import RunConfig
from ft_app.data import ColumnMapping, label_to_name
from ft_app.tasks.base import (
    Encoder,
    GenerationSettings,
    Metric,
    Prediction,
    PromptFormat,
    TaskSpec,
    generation_snippet,
)
from ft_app.tasks.causal_lm import IGNORE_INDEX, generate


class Seq2SeqTask(TaskSpec):
    """AutoModelForSeq2SeqLM with source and target texts."""

    name = "seq2seq"
    label = "Turn one text into another (text-to-text)"
    short = "text-to-text"
    default_max_length = 256
    max_passes = 8
    typical_tokens = 128
    lm_logits = "target"
    checks_exact_match = True
    space_requirements = ("sentencepiece>=0.2",)  # T5-family tokenizers
    lora_task_type = "SEQ_2_SEQ_LM"
    pipeline_tag = "text2text-generation"
    hub_pipeline_tags = ("text2text-generation", "summarization", "translation")
    metrics = (
        Metric("loss", "target loss", "loss", "Loss", "how hard it finds the reference target texts; lower is better",
               "loss", False),
        Metric("perplexity", "perplexity", "perplexity", "Perplexity",
               "roughly how many words it hesitates between at each step; lower is better", "ppl", False),
        Metric("exact_match", "exact match", "exact_match", "Exact match",
               "share of generated texts equal to the reference", "pct", True),
    )
    card_example = "Hello world."
    mapping_parts = ("text", "target")

    def model_class(self) -> Any:
        from transformers import AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM

    def detect_columns(self, pick: Any, data: Any) -> ColumnMapping:
        target = pick("target", data.target_column)
        text = pick("text", data.text_column, (target,)) or pick("prompt", None, (target,))
        if text is None or target is None:
            missing = "input text" if text is None else "target text"
            field_name = "text_column" if text is None else "target_column"
            raise ValueError(
                f"Could not tell which column holds the {missing}. The columns are: {pick.listed}. "
                f"Choose it in the column mapping (data.{field_name})."
            )
        return ColumnMapping(text=text, target=target)

    def example_segments(self, row: dict[str, Any], mapping: Any, tokenizer: Any, data: Any,
                         max_length: int) -> list[tuple[str, str | None]]:
        """The source the encoder reads, then the target the loss is on."""
        from ft_app.data_report import TRAINED

        return [("Input: ", None), (str(row[mapping.text]), None), ("\nTarget: ", None),
                (label_to_name(row[mapping.target]), TRAINED)]

    def token_lengths(self, rows: Any, mapping: Any, tokenizer: Any, data: Any,
                      max_length: int) -> tuple[list[int], int, int]:
        from ft_app.data import column_values
        from ft_app.data_report import token_counts

        lengths = token_counts(tokenizer, [str(t) for t in column_values(rows, mapping.text)], True)
        targets = [label_to_name(t) for t in column_values(rows, mapping.target)]
        target_lengths = [len(ids) for ids in tokenizer(text_target=targets)["input_ids"]]
        return lengths, 0, sum(n > data.max_target_length for n in target_lengths)

    def encoder(self, config: RunConfig, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        max_length, max_target = config.max_length, config.data.max_target_length

        def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            sources = [str(t) for t in batch[mapping.text]]
            targets = [label_to_name(t) for t in batch[mapping.target]]
            out = tokenizer(sources, truncation=True, max_length=max_length)
            out["labels"] = tokenizer(text_target=targets, truncation=True, max_length=max_target)["input_ids"]
            out["length"] = [len(ids) for ids in out["input_ids"]]
            return dict(out)

        return encode

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(
            tokenizer, model=model, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=pad_to_multiple_of
        )

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        return {"input": str(row[mapping.text]), "reference": label_to_name(row[mapping.target])}

    def predict(
        self, model: Any, tokenizer: Any, text: str, config: RunConfig, settings: GenerationSettings
    ) -> Prediction:
        inputs = tokenizer(text, truncation=True, max_length=config.max_length, return_tensors="pt").to(model.device)
        new_tokens = generate(model, tokenizer, inputs, settings)
        return Prediction(text=tokenizer.decode(new_tokens, skip_special_tokens=True).strip())

    def card_purpose(self, label_names: list[str] | None, fmt: PromptFormat) -> str:
        return "It turns an input text into a target text, the way the training pairs did."

    def usage_snippet(self, ref: str, adapter: bool, example: str, label_names: list[str] | None,
                      fmt: PromptFormat) -> str:
        model = "peft import AutoPeftModelForSeq2SeqLM" if adapter else "transformers import AutoModelForSeq2SeqLM"
        encode = f"inputs = tokenizer({json.dumps(example)}, return_tensors=\"pt\")"
        return generation_snippet(f"{model} as Model", ref, encode, cut_prompt=False)


TASK = Seq2SeqTask()
