"""Finished runs for the export tests: one short run per task x (LoRA, full) on the tiny models, trained once a session.

The runs go through the real engine (JobManager) with golden prompts and held-out rows, so every file an
export reads (eval.json, compare.jsonl, metrics.jsonl, data.json) is the one a real run writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine_checks import make_config, train_with_manager
from tests.fixtures import data_files


@dataclass(frozen=True)
class RunCase:
    """One kind of finished run."""

    task: str
    model: str  # fixture name of the tiny model
    method: str
    data: str  # data_files writer name
    golden: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.task}-{self.method}"


REVIEWS = ("A wonderful, warm and moving film.", "A dull and boring mess.")
RUN_CASES = {
    "classification-full": RunCase("classification", "tiny_bert_dir", "full", "write_sentiment_csv", REVIEWS),
    "classification-lora": RunCase("classification", "tiny_bert_dir", "lora", "write_sentiment_csv", REVIEWS),
    # GPT-2 has no chat template: prompts use the instruction template.
    "causal_lm-full": RunCase("causal_lm", "tiny_gpt2_dir", "full", "write_instruction_jsonl", ("What color is the sky?",)),
    # Llama's tokenizer has a chat template and the data is chat messages.
    "causal_lm-lora": RunCase("causal_lm", "tiny_llama_dir", "lora", "write_chat_jsonl", ("What color is the grass?",)),
    "seq2seq-full": RunCase("seq2seq", "tiny_t5_dir", "full", "write_seq2seq_csv", REVIEWS),
    "seq2seq-lora": RunCase("seq2seq", "tiny_t5_dir", "lora", "write_seq2seq_csv", REVIEWS),
}
_TRAINED: dict[str, Path] = {}


def train_case(key: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a finished run of this kind (trained on first use, then reused by every test)."""
    if key in _TRAINED and _TRAINED[key].is_dir():
        return _TRAINED[key]
    case = RUN_CASES[key]
    model_dir: Path = request.getfixturevalue(case.model)
    folder = tmp_path_factory.mktemp(f"export-{key}")
    suffix = ".csv" if case.data.endswith("csv") else ".jsonl"
    train_file = getattr(data_files, case.data)(folder / f"train{suffix}")
    config = make_config(
        case.task, model_dir, case.method, train_file,
        data={"max_length": 64, "max_target_length": 8},
        training={"learning_rate": 1e-3 if case.method == "lora" else 1e-4},
        evaluation={"golden_prompts": list(case.golden), "golden_from_heldout": 2, "max_new_tokens": 8,
                    "exact_match_rows": 4},
    )
    snap = train_with_manager(config, folder / "runs")
    assert snap.status == "completed", snap.message
    _TRAINED[key] = snap.run_dir
    return snap.run_dir
