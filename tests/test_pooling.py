"""A run on a mean-pooling sentence-embedding model: the saved model reloads with plain transformers and Compare works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ft_app.compare import Comparer
from ft_app.pooling import CONFIG_FLAG
from tests.engine_checks import make_config, train_with_manager
from tests.test_modeling import MEAN, _sentence_embedding_copy


@pytest.mark.parametrize("method", ["head", "full"])
def test_a_run_saves_a_plain_model_that_compare_and_transformers_load_alike(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path, method: str
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "st", MEAN)
    config = make_config("classification", folder, method, sentiment_csv, training={"eval_strategy": "no"})
    snap = train_with_manager(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    model_dir = snap.run_dir / "model"
    plain = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    assert plain.config.num_hidden_layers == 3 and getattr(plain.config, CONFIG_FLAG)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    text = "a warm, funny and moving film"
    with torch.no_grad():
        probs = torch.softmax(plain(**tokenizer(text, return_tensors="pt")).logits[0], -1).tolist()
    result = Comparer().compare(snap.run_dir, text)
    tuned = [result.finetuned.probabilities[plain.config.id2label[i]] for i in range(len(probs))]
    assert tuned == pytest.approx(probs, abs=1e-5)
    assert set(result.base.probabilities) == set(result.finetuned.probabilities)
    assert result.base.probabilities != result.finetuned.probabilities  # the base is the untrained start
