"""One count of weights (issue 17 item 5): the plan's estimate counts as the training process does.

The plan said "Trains 22.7 million of its 22.7 million weights (100%)" where the progress line of the same MiniLM
run said "training 22.7 million of its 24.5 million weights (92.8%)": the training process counts the model it
really trains (a sentence-embedding model's added mean-pooling layer, frozen; LoRA's adapter weights; tied
weights once), and that count is the truth the estimate must match.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ft_app.estimate import count_parameters as estimate_counts
from ft_app.estimate import estimate_run
from ft_app.modeling import load_model, load_tokenizer
from tests.engine_checks import make_config
from tests.test_modeling import MEAN, _sentence_embedding_copy


@pytest.fixture(scope="module")
def sentence_bert_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT laid out as MiniLM is: a sentence-transformers folder trained with mean pooling."""
    return _sentence_embedding_copy(tiny_bert_dir, tmp_path_factory.mktemp("st") / "st-bert", MEAN)


@pytest.mark.parametrize(
    ("task", "model", "labels"),
    [("classification", "sentence_bert_dir", ["neg", "pos"]), ("classification", "tiny_bert_dir", ["a", "b", "c"]),
     ("causal_lm", "tiny_gpt2_dir", None)],  # GPT-2 ties its input and output embeddings: counted once
)
@pytest.mark.parametrize("method", ["full", "head", "lora"])
def test_the_plan_counts_the_weights_the_training_process_counts(
        task: str, model: str, labels: list[str] | None, method: str, request: pytest.FixtureRequest) -> None:
    if method == "head" and labels is None:
        pytest.skip("head-only needs a task with a new head")
    folder = request.getfixturevalue(model)
    config = make_config(task, folder, method, "unused.csv")
    loaded = load_model(config, load_tokenizer(config), labels)
    counts = estimate_counts(str(folder), task, method, len(labels or [2, 2]), config.lora.r)
    assert (counts.trainable, counts.total) == (loaded.trainable_params, loaded.total_params)
    est = estimate_run(str(folder), task, method, batch_size=2, max_length=32, num_labels=len(labels or [2, 2]))
    assert (est.trainable_params, est.total_params) == (loaded.trainable_params, loaded.total_params)


@pytest.mark.parametrize("task", ["causal_lm", "preference"])
def test_the_plan_counts_the_lora_layers_the_config_names(task: str, tiny_llama_dir: Path) -> None:
    """The plan read only the method and r: a preference recipe's all-linear LoRA (r 16) trained 16.4 thousand weights
    while the plan above the button said 3,584 (the default layers at r 8)."""
    from ft_app.estimate import estimate_config

    config = make_config(task, tiny_llama_dir, "lora", "unused.jsonl",
                         lora={"r": 16, "alpha": 32, "target_modules": ["all-linear"]})
    loaded = load_model(config, load_tokenizer(config), None)
    est = estimate_config(config)
    assert (est.trainable_params, est.total_params) == (loaded.trainable_params, loaded.total_params)
    default = estimate_config(make_config(task, tiny_llama_dir, "lora", "unused.jsonl"))
    assert default.trainable_params < est.trainable_params
