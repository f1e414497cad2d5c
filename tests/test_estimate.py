"""Tests for the parameter counts and GPU-memory estimate, against real tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    BertConfig,
    GPT2Config,
    LlamaConfig,
    T5Config,
)

from ft_app.estimate import GPUS, estimate_run
from ft_app.tasks.classification import CLASSIFIER_FEEDERS


def _n(model: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Config-only folders of tiny BERT, GPT-2 (tied embeddings), Llama and T5 (what the estimate reads)."""
    root = tmp_path_factory.mktemp("estimate-models")
    configs = {
        "bert": BertConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32, vocab_size=100),
        "gpt2": GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=100, n_positions=64),
        "llama": LlamaConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            vocab_size=100, tie_word_embeddings=False,
        ),
        "t5": T5Config(d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2, vocab_size=100, feed_forward_proj="gated-gelu"),
    }
    folders = {}
    for name, config in configs.items():
        folders[name] = root / name
        config.save_pretrained(folders[name])
    return folders


def _real(folder: Path, task: str, num_labels: int = 2) -> torch.nn.Module:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    if task == "classification":
        config.num_labels = num_labels
        return AutoModelForSequenceClassification.from_config(config)
    auto = AutoModelForCausalLM if task == "causal_lm" else AutoModelForSeq2SeqLM
    return auto.from_config(config)


@pytest.mark.parametrize(
    ("name", "task"),
    [("bert", "classification"), ("gpt2", "causal_lm"), ("gpt2", "classification"), ("llama", "causal_lm"), ("t5", "seq2seq")],
)
def test_total_params_match_the_real_model(models: dict[str, Path], name: str, task: str) -> None:
    est = estimate_run(str(models[name]), task, "full", batch_size=2, max_length=32, num_labels=3)
    real = _real(models[name], task, num_labels=3)
    assert est.total_params == _n(real)
    assert est.trainable_params == est.total_params


def test_head_only_trains_exactly_the_classifier_and_the_pooler_feeding_it(models: dict[str, Path]) -> None:
    est = estimate_run(str(models["bert"]), "classification", "head", batch_size=2, max_length=32, num_labels=5)
    real = _real(models["bert"], "classification", num_labels=5)
    assert est.trainable_params == _n(real.classifier) + _n(real.bert.pooler) == (16 * 5 + 5) + (16 * 16 + 16)
    gpt2 = estimate_run(str(models["gpt2"]), "classification", "head", batch_size=2, max_length=32, num_labels=4)
    assert gpt2.trainable_params == _n(_real(models["gpt2"], "classification", num_labels=4).score) == 16 * 4


@pytest.mark.parametrize(
    ("name", "task", "task_type", "targets"),
    [
        ("bert", "classification", TaskType.SEQ_CLS, None),
        ("bert", "classification", TaskType.SEQ_CLS, ["query", "key", "value", "dense"]),
        ("gpt2", "causal_lm", TaskType.CAUSAL_LM, None),
        ("llama", "causal_lm", TaskType.CAUSAL_LM, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"]),
        ("t5", "seq2seq", TaskType.SEQ_2_SEQ_LM, None),
    ],
)
def test_lora_trainable_matches_peft_on_the_real_model(
    models: dict[str, Path], name: str, task: str, task_type: TaskType, targets: list[str] | None
) -> None:
    for method in ("lora", "qlora"):
        est = estimate_run(
            str(models[name]), task, method, batch_size=2, max_length=32, lora_r=4, lora_target_modules=targets
        )
        # The engine trains the pooler that feeds a new classifier along with the adapter (config.CLASSIFIER_FEEDERS).
        feeders = list(CLASSIFIER_FEEDERS) if task == "classification" else None
        lora = LoraConfig(task_type=task_type, r=4, target_modules=targets, modules_to_save=feeders)
        peft_model = get_peft_model(_real(models[name], task), lora)
        trainable, _ = peft_model.get_nb_trainable_parameters()
        assert est.trainable_params == trainable == _n(peft_model, trainable_only=True)
        assert 0 < est.trainable_params < est.total_params


def test_lora_rank_scales_adapter_size(models: dict[str, Path]) -> None:
    small = estimate_run(str(models["llama"]), "causal_lm", "lora", 2, 32, lora_r=4)
    big = estimate_run(str(models["llama"]), "causal_lm", "lora", 2, 32, lora_r=8)
    assert big.trainable_params == 2 * small.trainable_params


def test_memory_grows_with_batch_and_length_and_drops_with_lighter_methods(models: dict[str, Path]) -> None:
    path = str(models["llama"])
    base = estimate_run(path, "causal_lm", "full", batch_size=4, max_length=64)
    bigger_batch = estimate_run(path, "causal_lm", "full", batch_size=8, max_length=64)
    longer = estimate_run(path, "causal_lm", "full", batch_size=4, max_length=128)
    assert bigger_batch.activations_gb == pytest.approx(2 * base.activations_gb)
    assert bigger_batch.total_gpu_gb > base.total_gpu_gb
    assert longer.total_gpu_gb > base.total_gpu_gb
    assert bigger_batch.weights_gb == base.weights_gb  # weights do not depend on the batch

    lora = estimate_run(path, "causal_lm", "lora", batch_size=4, max_length=64)
    qlora = estimate_run(path, "causal_lm", "qlora", batch_size=4, max_length=64)
    assert lora.weights_gb < base.weights_gb
    assert lora.optimizer_gb < base.optimizer_gb and lora.gradients_gb < base.gradients_gb
    assert lora.total_gpu_gb < base.total_gpu_gb
    assert qlora.weights_gb < lora.weights_gb
    assert base.optimizer_gb == pytest.approx(8 * base.total_params / 2**30, rel=1e-2)

    checkpointed = estimate_run(path, "causal_lm", "lora", 4, 64, gradient_checkpointing=True)
    assert checkpointed.activations_gb < lora.activations_gb
    sgd = estimate_run(path, "causal_lm", "full", 4, 64, optimizer="sgd")
    assert sgd.optimizer_gb == 0


def test_head_only_needs_less_than_full(models: dict[str, Path]) -> None:
    # Two layers: head-only keeps one layer's activations live at a time, full training keeps both.
    full = estimate_run(str(models["gpt2"]), "classification", "full", 16, 64)
    head = estimate_run(str(models["gpt2"]), "classification", "head", 16, 64)
    assert head.total_gpu_gb < full.total_gpu_gb
    assert head.activations_gb < full.activations_gb


def test_fits_and_notes_for_a_7b_model(tmp_path: Path) -> None:
    # A Llama-2-7B-shaped config: only shapes are built (meta device), so this is fast and allocates nothing.
    LlamaConfig(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000
    ).save_pretrained(tmp_path)
    full = estimate_run(str(tmp_path), "causal_lm", "full", batch_size=4, max_length=512)
    assert full.total_params == 6_738_415_616
    assert full.total_gpu_gb > 100
    assert not any(full.fits.values())
    assert any("80 GB" in note for note in full.notes)
    qlora = estimate_run(str(tmp_path), "causal_lm", "qlora", batch_size=1, max_length=512, gradient_checkpointing=True)
    assert 3 < qlora.weights_gb < 5  # about 0.5 byte per weight
    assert qlora.fits["T4 (16 GB)"]
    assert set(qlora.fits) == set(GPUS)
    assert any("NVIDIA GPU" in note for note in qlora.notes)
    assert "4.19M" in qlora.summary() or "4.2M" in qlora.summary()


def test_plain_errors(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        estimate_run(str(tmp_path / "missing"), "classification", "full", 8, 128)
    with pytest.raises(ValueError, match="no config.json"):
        estimate_run(str(tmp_path), "classification", "full", 8, 128)
    with pytest.raises(ValueError, match="'head'"):
        estimate_run(str(models["gpt2"]), "causal_lm", "head", 8, 128)
    with pytest.raises(ValueError, match="linear layers are named: .*c_attn"):
        estimate_run(str(models["gpt2"]), "causal_lm", "lora", 8, 128, lora_target_modules=["q_proj"])
    with pytest.raises(ValueError, match="batch_size"):
        estimate_run(str(models["bert"]), "classification", "full", 0, 128)
    with pytest.raises(ValueError, match="'t5'.*'causal_lm'|'causal_lm'.*t5"):
        estimate_run(str(models["t5"]), "causal_lm", "lora", 8, 128)


def test_unknown_hub_model_offline_fails_fast_with_a_plain_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="'nobody/no-such-model': the Hugging Face Hub cannot be reached"):
        estimate_run("nobody/no-such-model", "causal_lm", "lora", 8, 128)


def test_meta_models_for_the_estimate_leave_models_loading_in_other_threads_real(tmp_path: Path) -> None:
    """The Train tab's estimate runs beside Compare and runs in the server: its meta device must stay in its thread."""
    import threading

    from ft_app.modeling import build_meta_model

    config = BertConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32, vocab_size=100)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "bert")
    stop = threading.Event()
    built = []

    def estimate_again_and_again() -> None:
        while not stop.is_set():
            built.append(build_meta_model(config, "classification"))

    thread = threading.Thread(target=estimate_again_and_again)
    thread.start()
    try:
        loaded = [AutoModelForSequenceClassification.from_pretrained(tmp_path / "bert") for _ in range(10)]
    finally:
        stop.set()
        thread.join()
    assert built and all(p.is_meta for p in built[-1].parameters())
    assert not [n for model in loaded for n, p in model.named_parameters() if p.is_meta]
