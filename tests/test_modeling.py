"""Model loading per method: what is trainable, pad tokens, position limits, device/dtype, plain load errors."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ft_app import modeling
from ft_app.config import ModelConfig
from ft_app.limits import position_limit
from ft_app.modeling import (
    DeviceInfo,
    check_method_supported,
    count_parameters,
    device_info,
    effective_max_length,
    hub_model_error,
    load_dtype,
    load_model,
    load_model_config,
    load_tokenizer,
)
from tests.engine_checks import make_config, write_remote_code_model

CPU = DeviceInfo("cpu", "CPU", False, 0)
GPU = DeviceInfo("cuda", "Test GPU", True, 1)


def _loaded(task: str, model_dir: Path, method: str, labels: list[str] | None = None, **lora):
    config = make_config(task, model_dir, method, "unused.csv", lora=lora or {})
    tokenizer = load_tokenizer(config)
    return config, load_model(config, tokenizer, labels)


def test_head_freezes_the_body(tiny_bert_dir: Path) -> None:
    """head: the body is frozen; the new classifier trains with the pooler that only feeds it; counts add up."""
    _, loaded = _loaded("classification", tiny_bert_dir, "head", ["neg", "pos"])
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert loaded.trainable_params == (32 * 2 + 2) + (32 * 32 + 32)
    assert loaded.model.config.num_hidden_layers == 2  # not a sentence-embedding model: no pooling layer added
    assert loaded.total_params == sum(p.numel() for p in loaded.model.parameters())
    assert loaded.model.config.id2label == {0: "neg", 1: "pos"}
    assert loaded.model.config.label2id == {"neg": 0, "pos": 1}


def _sentence_embedding_copy(model_dir: Path, dest: Path, pooling: dict[str, bool]) -> Path:
    """The tiny BERT laid out as a sentence-transformers model folder (modules.json + 1_Pooling/config.json)."""
    import json
    import shutil

    shutil.copytree(model_dir, dest)
    (dest / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (dest / "1_Pooling").mkdir()
    (dest / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **pooling}))
    return dest


MEAN = {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}


def test_sentence_pooling_is_read_from_the_model_folder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """modules.json + the Pooling stage's config say which pooling the model was trained with."""
    from ft_app.pooling import sentence_pooling

    assert sentence_pooling(str(tiny_bert_dir)) is None
    mean = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "mean", MEAN)
    assert sentence_pooling(str(mean)) == "mean"
    cls = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "cls", {**MEAN, "pooling_mode_mean_tokens": False,
                                                                      "pooling_mode_cls_token": True})
    assert sentence_pooling(str(cls)) == "cls"
    both = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "both", {**MEAN, "pooling_mode_max_tokens": True})
    assert sentence_pooling(str(both)) is None  # concatenated poolings: not a single vector the head could read


def test_head_on_a_mean_pooling_model_reads_the_mean_and_reloads_with_plain_transformers(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """The added layer puts the LayerNorm'd mean of the last token vectors where the pooler reads; save + reload agree."""
    from transformers import AutoModelForSequenceClassification

    folder = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "st", MEAN)
    config, loaded = _loaded("classification", folder, "head", ["neg", "pos"])
    model = loaded.model.eval()
    assert model.config.num_hidden_layers == 3 and len(model.bert.encoder.layer) == 3
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    # The pooler starts as the identity: the new head first reads the embedding itself, not a never-trained layer.
    pooler = model.bert.pooler.dense
    assert torch.equal(pooler.weight, torch.eye(model.config.hidden_size)) and not pooler.bias.any()
    tokenizer = load_tokenizer(config)
    batch = tokenizer(["a short one", "a somewhat longer sentence than the first one"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model.bert(**batch, output_hidden_states=True)
        below = out.hidden_states[-2]
        mask = batch["attention_mask"].unsqueeze(-1).float()
        mean = torch.nn.functional.layer_norm((below * mask).sum(1) / mask.sum(1), (below.shape[-1],))
        assert torch.allclose(out.last_hidden_state[:, 0], mean, atol=0.05)
        # Padding does not change the pooled vector: the mean covers the real tokens only.
        alone = model.bert(**tokenizer(["a short one"], return_tensors="pt")).last_hidden_state[0, 0]
        assert torch.allclose(alone, out.last_hidden_state[0, 0], atol=1e-4)
        logits = model(**batch).logits
    model.save_pretrained(tmp_path / "saved")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, logits)
    # A model that already carries the layer (a saved head-only run) does not get a second one.
    # Nor is its trained pooler started again from the identity.
    with torch.no_grad():
        reloaded.bert.pooler.dense.weight.normal_()
    reloaded.save_pretrained(tmp_path / "trained")
    again = _sentence_embedding_copy(tmp_path / "trained", tmp_path / "again", MEAN)
    _, reloaded_run = _loaded("classification", again, "head", ["neg", "pos"])
    assert reloaded_run.model.config.num_hidden_layers == 3
    assert torch.equal(reloaded_run.model.bert.pooler.dense.weight, reloaded.bert.pooler.dense.weight)


def test_full_reads_the_mean_too_and_lora_keeps_the_model_as_it_is(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Full fine-tuning saves the whole model, so it gets the (frozen) pooling layer too; an adapter must fit the
    unchanged base, so LoRA does not."""
    folder = _sentence_embedding_copy(tiny_bert_dir, tmp_path / "st", MEAN)
    _, full = _loaded("classification", folder, "full", ["neg", "pos"])
    assert full.model.config.num_hidden_layers == 3
    frozen = {n for n, p in full.model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith("bert.encoder.layer.2.") for n in frozen)
    assert full.trainable_params == full.total_params - sum(p.numel() for p in full.model.bert.encoder.layer[2].parameters())
    _, lora = _loaded("classification", folder, "lora", ["neg", "pos"])
    assert lora.model.get_base_model().config.num_hidden_layers == 2


def test_full_trains_everything(tiny_t5_dir: Path) -> None:
    """full: every weight trains, in float32 on CPU."""
    _, loaded = _loaded("seq2seq", tiny_t5_dir, "full")
    assert loaded.trainable_params == loaded.total_params > 0
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_head_is_refused_for_a_model_without_a_separate_body(tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the body cannot be told from the head, head-only says to use another method."""
    from transformers import BertForSequenceClassification

    monkeypatch.setattr(BertForSequenceClassification, "base_model_prefix", "no_such_part")
    with pytest.raises(ValueError, match="body from the head.*'full' or 'lora'"):
        _loaded("classification", tiny_bert_dir, "head", ["a", "b"])


@pytest.mark.parametrize(
    ("task", "model", "targets"),
    [
        ("classification", "tiny_bert_dir", {"query", "value"}),
        ("causal_lm", "tiny_llama_dir", {"q_proj", "v_proj"}),
        ("causal_lm", "tiny_gpt2_dir", {"c_attn"}),
        ("seq2seq", "tiny_t5_dir", {"q", "v"}),
    ],
)
def test_lora_wraps_the_usual_layers(task: str, model: str, targets: set[str], request: pytest.FixtureRequest) -> None:
    """LoRA: adapters on the architecture's usual attention layers; the base is frozen."""
    _, loaded = _loaded(task, request.getfixturevalue(model), "lora", ["a", "b"] if task == "classification" else None)
    peft_model = loaded.model
    assert type(peft_model).__name__.startswith("PeftModel")
    adapted = {n.split(".")[-1] for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert adapted == targets
    for name, p in peft_model.named_parameters():
        if "lora_" in name or "modules_to_save" in name:
            assert p.requires_grad, name
        else:
            assert not p.requires_grad, name
    assert 0 < loaded.trainable_params < loaded.total_params
    assert (loaded.trainable_params, loaded.total_params) == count_parameters(peft_model)


def test_lora_custom_targets_and_rank(tiny_llama_dir: Path) -> None:
    """Given target modules and rank are used."""
    _, loaded = _loaded("causal_lm", tiny_llama_dir, "lora", r=2, target_modules=["o_proj", "down_proj"])
    adapted = {n.split(".")[-1] for n, m in loaded.model.named_modules() if hasattr(m, "lora_A")}
    assert adapted == {"o_proj", "down_proj"}
    a = next(p for n, p in loaded.model.named_parameters() if "lora_A" in n)
    assert a.shape[0] == 2


def test_load_tokenizer_gives_decoders_a_pad_token(tiny_gpt2_dir: Path, tiny_llama_dir: Path) -> None:
    """GPT-2 has no pad token: the eos token stands in; causal LM pads on the right; the model learns the id."""
    config = make_config("classification", tiny_gpt2_dir, "full", "unused.csv")
    tokenizer = load_tokenizer(config)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    loaded = load_model(config, tokenizer, ["a", "b"])
    assert loaded.model.config.pad_token_id == tokenizer.pad_token_id
    llama = load_tokenizer(make_config("causal_lm", tiny_llama_dir, "lora", "unused.jsonl"))
    assert llama.pad_token == "<pad>" and llama.padding_side == "right"


def test_new_head_is_seeded(tiny_bert_dir: Path) -> None:
    """The same seed gives the same fresh head (runs and their 'before' side start identical)."""
    _, a = _loaded("classification", tiny_bert_dir, "head", ["a", "b"])
    _, b = _loaded("classification", tiny_bert_dir, "head", ["a", "b"])
    assert torch.equal(a.model.classifier.weight, b.model.classifier.weight)


# ---------------------------------------------------------------- limits, device, dtype


def test_position_limits(tiny_bert_dir: Path, tiny_gpt2_dir: Path, tiny_t5_dir: Path) -> None:
    """BERT/GPT-2 fixtures read 128 tokens; T5 has no fixed limit; RoBERTa reserves two positions."""
    assert position_limit(load_model_config(ModelConfig(str(tiny_bert_dir)))) == 128
    assert position_limit(load_model_config(ModelConfig(str(tiny_gpt2_dir)))) == 128
    assert position_limit(load_model_config(ModelConfig(str(tiny_t5_dir)))) is None
    assert position_limit(SimpleNamespace(model_type="roberta", max_position_embeddings=514)) == 512
    assert position_limit(SimpleNamespace(text_config=SimpleNamespace(max_position_embeddings=64))) == 64


def test_effective_max_length(tiny_gpt2_dir: Path) -> None:
    """The default is capped by the model; a given length above the limit is an error naming both numbers."""
    model_config = load_model_config(ModelConfig(str(tiny_gpt2_dir)))
    assert effective_max_length(make_config("causal_lm", tiny_gpt2_dir, "lora", "x.jsonl"), model_config) == 128
    ok = make_config("causal_lm", tiny_gpt2_dir, "lora", "x.jsonl", data={"max_length": 100})
    assert effective_max_length(ok, model_config) == 100
    bad = make_config("causal_lm", tiny_gpt2_dir, "lora", "x.jsonl", data={"max_length": 129})
    with pytest.raises(ValueError, match=r"Max length \(tokens\) 129 is above.*128 tokens"):
        effective_max_length(bad, model_config)
    no_limit = SimpleNamespace(model_type="t5")
    assert effective_max_length(bad, no_limit) == 129


def test_device_and_dtype() -> None:
    """This machine is CPU-only: fp32 everywhere; adapters on a bf16 GPU load in bf16."""
    assert device_info().kind == "cpu" and not device_info().cuda
    lora = make_config("causal_lm", "m", "lora", "x.jsonl")
    full = make_config("causal_lm", "m", "full", "x.jsonl")
    assert load_dtype(lora, CPU) == torch.float32
    assert load_dtype(lora, GPU) == torch.bfloat16
    assert load_dtype(full, GPU) == torch.float32
    assert load_dtype(make_config("causal_lm", "m", "lora", "x.jsonl", model={"name_or_path": "m", "dtype": "float16"}), CPU) == torch.float16


@pytest.mark.parametrize("method", ["qlora", "lora8bit"])
def test_quantized_methods_need_cuda(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """QLoRA/8-bit without CUDA: say why and to choose 'lora'; without bitsandbytes: how to install it."""
    config = make_config("causal_lm", "m", method, "x.jsonl")
    with pytest.raises(ValueError, match=f"'{method}'.*needs an NVIDIA GPU.*Choose 'lora' instead"):
        check_method_supported(config, CPU)
    with pytest.raises(ValueError, match="Apple GPU"):
        check_method_supported(config, DeviceInfo("mps", "Apple GPU", False, 1))
    monkeypatch.setattr(modeling, "is_bitsandbytes_available", lambda: False)
    with pytest.raises(ValueError, match="pip install bitsandbytes"):
        check_method_supported(config, GPU)
    monkeypatch.setattr(modeling, "is_bitsandbytes_available", lambda: True)
    check_method_supported(config, GPU)  # fine on a GPU with the package
    check_method_supported(make_config("causal_lm", "m", "lora", "x.jsonl"), CPU)


# ---------------------------------------------------------------- load errors


def test_model_config_errors(tmp_path: Path) -> None:
    """Missing folder, a file, a folder without config.json, custom code: each gets its own sentence."""
    with pytest.raises(ValueError, match="'./no/such/model' does not exist"):
        load_model_config(ModelConfig("./no/such/model"))
    file = tmp_path / "weights.bin"
    file.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        load_model_config(ModelConfig(str(file)))
    with pytest.raises(ValueError, match="has no config.json"):
        load_model_config(ModelConfig(str(tmp_path)))
    custom = write_remote_code_model(tmp_path / "custom")
    with pytest.raises(ValueError, match="trust_remote_code.*off by default"):
        load_model_config(ModelConfig(str(custom)))


def test_hub_model_error_sentences() -> None:
    """Gated, offline and unknown models each get a plain sentence naming the model, decided by the typed error
    that transformers wraps (tests/test_hub.py checks every kind)."""
    import httpx2
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    response = httpx2.Response(401, request=httpx2.Request("GET", "https://huggingface.co/org/m"))

    def wrapped(cause: BaseException) -> OSError:
        error = OSError("transformers' own words")
        error.__cause__ = cause
        return error

    assert "gated" in hub_model_error("org/m", wrapped(GatedRepoError("401 Client Error", response=response)))
    offline = hub_model_error("org/m", wrapped(LocalEntryNotFoundError("not in the cache")))
    assert "'org/m'" in offline and "cannot be reached" in offline
    missing = hub_model_error("org/m", wrapped(RepositoryNotFoundError("404", response=response)))
    assert "'org/m'" in missing and "was not found" in missing
    assert "'org/m'" in hub_model_error("org/m", OSError("org/m does not appear to have a file named x.json"))


_KERNELS_PROBE = """
import sys
from tests.engine_checks import make_config
from ft_app.modeling import load_model, load_tokenizer
config = make_config("causal_lm", sys.argv[1], "full", "unused.jsonl")
print("USE_KERNELS", load_model(config, load_tokenizer(config)).model.use_kernels)
"""


@pytest.mark.parametrize(("setting", "expected"), [(None, "False"), ("1", "True")])
def test_models_load_without_hub_kernels_unless_asked(setting: str | None, expected: str, tiny_llama_dir: Path) -> None:
    """transformers 5 fetches compiled kernels from the Hub into a model it loads, by default; on a GPU offline that
    failed every Llama-shaped run. The engine's models load without them; USE_HUB_KERNELS=1 (the person's) still wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "USE_HUB_KERNELS"}
    if setting is not None:
        env["USE_HUB_KERNELS"] = setting
    done = subprocess.run([sys.executable, "-c", _KERNELS_PROBE, str(tiny_llama_dir)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("USE_KERNELS")), done.stderr[-2000:])
    assert line == f"USE_KERNELS {expected}"
