"""The "before" of a run: the same number for the same model, data and seed, whatever the method (issue 17 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ft_app.runs import EVAL_FILE
from tests.engine_checks import make_config, train_in_process
from tests.fixtures import data_files
from tests.test_modeling import MEAN, _sentence_embedding_copy


@pytest.mark.parametrize("layout", ["plain", "sentence-embedding"])
def test_before_is_the_same_for_full_head_and_lora(tiny_bert_dir: Path, tmp_path: Path, layout: str) -> None:
    """Full, head-only and LoRA runs of one model on one data file with one seed score the same "before".

    The sentence-embedding layout is MiniLM's (modules.json, mean pooling): full and head-only runs put their new
    head on a mean-pooling layer (head-only also starts its pooler as the identity), LoRA does not; before the fix
    each method measured "before" on its own starting model, so the three numbers differed.
    """
    model = tiny_bert_dir if layout == "plain" else _sentence_embedding_copy(tiny_bert_dir, tmp_path / "st", MEAN)
    train = data_files.write_sentiment_csv(tmp_path / "train.csv", n=80)
    befores = {}
    for method in ("full", "head", "lora"):
        config = make_config("classification", model, method, train, data={"max_length": 32},
                             training={"max_steps": 2, "eval_strategy": "no", "seed": 7})
        snap = train_in_process(config, tmp_path / "runs")
        assert snap.status == "completed", snap.message
        befores[method] = json.loads((snap.run_dir / EVAL_FILE).read_text())["before"]
    reference = befores["full"]
    assert reference["rows"] > 0
    for method, before in befores.items():
        assert before["accuracy"] == reference["accuracy"], (method, {m: b["accuracy"] for m, b in befores.items()})
        assert before["loss"] == pytest.approx(reference["loss"], abs=1e-5), method
        assert before["confusion_matrix"] == reference["confusion_matrix"], method
