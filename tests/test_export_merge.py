"""Merging LoRA into the base: the merged model reloads with plain transformers and gives the adapter model's logits
(classification with its trained head, causal LM); the QLoRA/8-bit path reloads the base in 16-bit to merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import peft
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from ft_app.export.merge import merge_lora, merge_plan
from ft_app.export.source import load_export_run
from tests.export_runs import train_case

TEXT = "A wonderful, warm and moving film."


def _logits(model: torch.nn.Module, tokenizer: object, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits.float()


@pytest.mark.parametrize("key", ["classification-lora", "causal_lm-lora"])
def test_merged_logits_equal_the_adapter_models(
    key: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_dir = train_case(key, request, tmp_path_factory)
    result = merge_lora(run_dir)
    assert result.path == run_dir / "merged" and result.dtype == "float32"
    files = {p.name for p in result.path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= files
    assert not {"adapter_config.json", "adapter_model.safetensors"} & files
    assert "standalone float32 model" in result.message and "no peft needed" in result.message

    tokenizer = AutoTokenizer.from_pretrained(result.path)
    if key.startswith("classification"):
        merged = AutoModelForSequenceClassification.from_pretrained(result.path).eval()
        adapter = peft.AutoPeftModelForSequenceClassification.from_pretrained(run_dir / "adapter", num_labels=2).eval()
        assert merged.config.id2label == {0: "negative", 1: "positive"}
        # The trained head was merged too: it differs from the base's freshly seeded one.
        base_head = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())["modules_to_save"]
        assert base_head and "classifier" in base_head
    else:
        merged = AutoModelForCausalLM.from_pretrained(result.path).eval()
        adapter = peft.AutoPeftModelForCausalLM.from_pretrained(run_dir / "adapter").eval()
    expected, got = _logits(adapter, tokenizer, TEXT), _logits(merged, tokenizer, TEXT)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    with adapter.disable_adapter():  # and the adapter really changed something
        assert not torch.allclose(_logits(adapter, tokenizer, TEXT), expected, atol=1e-5)


def test_quantized_run_merges_into_a_16bit_base(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A QLoRA run (here a LoRA run's folder relabelled, since 4-bit training needs a GPU) merges into bfloat16."""
    source = train_case("causal_lm-lora", request, tmp_path_factory)
    run_dir = tmp_path / "runs" / source.name
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns("merged", "card"))
    config = json.loads((run_dir / "config.json").read_text())
    config["method"] = "qlora"
    (run_dir / "config.json").write_text(json.dumps(config))
    plan = merge_plan(load_export_run(run_dir))
    assert "reloaded in bfloat16" in plan and "about 4x the size the 4-bit base took" in plan

    result = merge_lora(run_dir)
    assert result.dtype == "bfloat16" and "4x the size of the 4-bit base" in result.message
    with safe_open(str(result.path / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    tokenizer = AutoTokenizer.from_pretrained(result.path)
    merged = AutoModelForCausalLM.from_pretrained(result.path, dtype=torch.float32).eval()
    adapter = peft.AutoPeftModelForCausalLM.from_pretrained(run_dir / "adapter").eval()
    torch.testing.assert_close(_logits(merged, tokenizer, TEXT), _logits(adapter, tokenizer, TEXT), atol=0.1, rtol=0.05)


def test_full_run_has_nothing_to_merge(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    run_dir = train_case("classification-full", request, tmp_path_factory)
    with pytest.raises(ValueError, match="trained the whole model .*no adapter to merge"):
        merge_lora(run_dir)
    assert not (run_dir / "merged").exists()
