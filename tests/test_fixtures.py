"""The shared fixtures: tiny models load back by path offline and run, data files parse, real assets are sane."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from tests.fixtures import data_files, tiny_models
from tests.fixtures.corpus import NEGATIVE_WORDS, POSITIVE_WORDS

SAMPLES = ["The movie was wonderful and warm.", "What a dull plot, truly tedious!"]


def _read_jsonl(path: Path) -> list[dict]:
    """Return the rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Return the rows of a CSV file with a header."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- tiny models


def test_tiny_bert_loads_as_encoder_checkpoint_with_new_head(
    tiny_bert_dir: Path, no_network: None
) -> None:
    """BERT folder loads by path; only the classification head is new; a forward pass gives logits."""
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    assert type(tok).__name__ == "BertTokenizer"
    specials = (
        tok.pad_token,
        tok.unk_token,
        tok.cls_token,
        tok.sep_token,
        tok.mask_token,
    )
    assert (
        specials
        == tiny_models.BERT_SPECIAL_TOKENS
        == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    )
    assert tok.convert_tokens_to_ids(list(specials)) == [0, 1, 2, 3, 4]
    assert tok.pad_token_id == 0 and tok.model_max_length == 128
    ids = tok("The MOVIE")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "the", "movie", "[SEP]"]

    model, info = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert_dir, num_labels=2, output_loading_info=True
    )
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 2
    batch = tok(SAMPLES, padding=True, return_tensors="pt")
    out = model(**batch, labels=torch.tensor([1, 0]))
    assert out.logits.shape == (2, 2) and torch.isfinite(out.loss)


def test_tiny_gpt2_has_no_pad_token_and_runs(
    tiny_gpt2_dir: Path, no_network: None
) -> None:
    """GPT-2 folder: eos=bos=unk=<|endoftext|>, no pad, no special tokens added; LM loss is finite."""
    tok = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    assert type(tok).__name__ == "GPT2Tokenizer"
    assert tok.eos_token == tok.bos_token == tok.unk_token == "<|endoftext|>"
    assert tok.pad_token is None and tok.pad_token_id is None
    assert 400 <= len(tok) <= 500
    ids = tok(SAMPLES[0])["input_ids"]
    assert tok.eos_token_id not in ids and tok.decode(ids) == SAMPLES[0]
    assert (
        tok.decode(tok("Héllo 😀")["input_ids"]) == "Héllo 😀"
    )  # byte-level: nothing is unknown

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert (
        model.config.eos_token_id == tok.eos_token_id
        and model.config.n_positions == 128
    )
    x = torch.tensor([ids])
    out = model(input_ids=x, labels=x)
    assert out.logits.shape == (1, len(ids), len(tok)) and torch.isfinite(out.loss)


def test_tiny_llama_tokenizer_and_forward(
    tiny_llama_dir: Path, no_network: None
) -> None:
    """Llama folder: bos added, eos not, <pad> set, left padding; padded batch forward works."""
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    assert type(tok).__name__ == "LlamaTokenizer"
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == (
        "<s>",
        "</s>",
        "<pad>",
        "<unk>",
    )
    assert (tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.padding_side == "left"
    ids = tok(SAMPLES[0])["input_ids"]
    assert (
        ids[0] == tok.bos_token_id
        and ids.count(tok.bos_token_id) == 1
        and tok.eos_token_id not in ids
    )
    assert tok.decode(ids, skip_special_tokens=True) == SAMPLES[0]
    assert tok.convert_ids_to_tokens(
        tok("<|user|>", add_special_tokens=False)["input_ids"]
    ) == ["<|user|>"]

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (
        model.config.num_key_value_heads == 1
        and model.config.pad_token_id == tok.pad_token_id
    )
    batch = tok(SAMPLES, padding=True, return_tensors="pt")
    assert (
        batch["input_ids"][:, 0] == tok.pad_token_id
    ).any()  # left padding on the shorter row
    out = model(
        **batch,
        labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100),
    )
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)


def test_tiny_llama_chat_template_renders(tiny_llama_dir: Path) -> None:
    """The chat template renders roles, eos after each turn, one bos, the generation prompt and assistant mask."""
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What color is the sky?"},
        {"role": "assistant", "content": "The sky is blue."},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<s><|system|>\nBe brief.</s>\n<|user|>\nWhat color is the sky?</s>\n<|assistant|>\nThe sky is blue.</s>\n"
    )
    prompt = tok.apply_chat_template(
        messages[:2], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|user|>\nWhat color is the sky?</s>\n<|assistant|>\n")

    enc = tok.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    answer = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert answer.strip() == "The sky is blue.</s>"


def test_tiny_t5_tokenizer_and_forward(tiny_t5_dir: Path, no_network: None) -> None:
    """T5 folder: pad=0, eos=1, unk=2, eos appended, no sentinels; seq2seq loss and generation work."""
    tok = AutoTokenizer.from_pretrained(tiny_t5_dir)
    assert type(tok).__name__ == "T5Tokenizer"
    assert (tok.pad_token, tok.eos_token, tok.unk_token, tok.bos_token) == (
        "<pad>",
        "</s>",
        "<unk>",
        None,
    )
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert not any(t.startswith("<extra_id_") for t in tok.get_vocab())
    ids = tok(SAMPLES[0])["input_ids"]
    assert (
        ids[-1] == tok.eos_token_id
        and tok.decode(ids, skip_special_tokens=True) == SAMPLES[0]
    )

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5_dir)
    assert type(model).__name__ == "T5ForConditionalGeneration"
    assert model.config.decoder_start_token_id == tok.pad_token_id == 0
    assert model.config.vocab_size == len(tok)
    batch = tok(SAMPLES, padding=True, return_tensors="pt")
    labels = tok(["positive", "negative"], padding=True, return_tensors="pt")[
        "input_ids"
    ]
    out = model(**batch, labels=labels.masked_fill(labels == tok.pad_token_id, -100))
    assert torch.isfinite(out.loss)
    generated = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert generated.shape[0] == 2 and (generated[:, 0] == 0).all()


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5"])
def test_tiny_tokenizer_training_is_deterministic(
    family: str, request: pytest.FixtureRequest
) -> None:
    """Training a tokenizer again gives exactly the saved vocabulary and ids."""
    folder = request.getfixturevalue(f"tiny_{family}_dir")
    saved = AutoTokenizer.from_pretrained(folder)
    fresh = getattr(tiny_models, f"train_{family}_tokenizer")()
    assert fresh.get_vocab() == saved.get_vocab()
    assert fresh(SAMPLES)["input_ids"] == saved(SAMPLES)["input_ids"]


def test_tiny_model_weights_are_seeded(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    """Rebuilding a tiny model gives identical weights and leaves the global torch RNG untouched."""
    state = torch.random.get_rng_state()
    again = tiny_models.build_tiny_gpt2(tmp_path / "again")
    assert torch.equal(state, torch.random.get_rng_state())
    a = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).state_dict()
    b = AutoModelForCausalLM.from_pretrained(again).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- data files


def test_sentiment_csv_is_balanced_and_separable(sentiment_csv: Path) -> None:
    """64 rows, string labels, and each review uses only words of its own polarity."""
    rows = _read_csv(sentiment_csv)
    assert len(rows) == 64 and list(rows[0]) == ["text", "label"]
    assert sorted({r["label"] for r in rows}) == ["negative", "positive"]
    assert sum(r["label"] == "positive" for r in rows) == 32
    for r in rows:
        words = set(
            r["text"]
            .lower()
            .replace(",", " ")
            .replace(".", " ")
            .replace("!", " ")
            .split()
        )
        own, other = (
            (POSITIVE_WORDS, NEGATIVE_WORDS)
            if r["label"] == "positive"
            else (NEGATIVE_WORDS, POSITIVE_WORDS)
        )
        assert words & set(own) and not words & set(other), r


def test_seq2seq_csv(seq2seq_csv: Path) -> None:
    """48 rows of ``text,target`` with targets "positive"/"negative"."""
    rows = _read_csv(seq2seq_csv)
    assert len(rows) == 48 and list(rows[0]) == ["text", "target"]
    assert sorted({r["target"] for r in rows}) == ["negative", "positive"]


def test_instruction_jsonl(instruction_jsonl: Path) -> None:
    """48 unique instructions whose response follows "The X is C."."""
    rows = _read_jsonl(instruction_jsonl)
    assert len(rows) == 48 and all(set(r) == {"instruction", "response"} for r in rows)
    assert len({r["instruction"] for r in rows}) == 48
    colors = dict(data_files.OBJECT_COLORS)
    for r in rows:
        obj = r["instruction"].rstrip(".?").split()[-1]
        assert r["response"] == f"The {obj} is {colors[obj]}."


def test_chat_jsonl_renders_with_chat_template(
    chat_jsonl: Path, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    """32 conversations alternate user/assistant, load with `datasets`, and all render with the chat template."""
    from datasets import load_dataset

    rows = _read_jsonl(chat_jsonl)
    assert len(rows) == 32
    for r in rows:
        roles = [m["role"] for m in r["messages"] if m["role"] != "system"]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
    ds = load_dataset(
        "json",
        data_files=str(chat_jsonl),
        split="train",
        cache_dir=str(tmp_path / "hf"),
    )
    assert ds.column_names == ["messages"] and len(ds) == 32
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    texts = [tok.apply_chat_template(m, tokenize=False) for m in ds["messages"]]
    assert all(t.startswith("<s><|") and t.endswith("</s>\n") for t in texts)
    assert (
        max(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
        <= tok.model_max_length
    )


def test_plain_text_jsonl(plain_text_txt_jsonl: Path) -> None:
    """32 rows with a single ``text`` column."""
    rows = _read_jsonl(plain_text_txt_jsonl)
    assert len(rows) == 32 and all(list(r) == ["text"] and r["text"] for r in rows)


def test_data_fixtures_are_deterministic(tmp_path: Path, sentiment_csv: Path) -> None:
    """Writing a data set again gives byte-identical files."""
    again = data_files.write_sentiment_csv(tmp_path / "again.csv")
    assert again.read_bytes() == sentiment_csv.read_bytes()


# ---------------------------------------------------------------- real local assets


def test_chatterbot_qa_is_unique_and_sorted(
    chatterbot_qa: list[dict[str, str]],
) -> None:
    """Hundreds of pairs, questions unique case-insensitively, deterministic order."""
    keys = [qa["question"].strip().lower() for qa in chatterbot_qa]
    assert (
        len(chatterbot_qa) > 500
        and len(keys) == len(set(keys))
        and keys == sorted(keys)
    )
    assert all(isinstance(qa["answer"], str) and qa["answer"] for qa in chatterbot_qa)


def test_sst2_dir_has_glue_layout(sst2_dir: Path) -> None:
    """SST-2 has train/dev TSVs with the header ``label<TAB>sentence``."""
    for name in ("train.tsv", "dev.tsv"):
        with (sst2_dir / name).open(encoding="utf-8") as f:
            assert f.readline().rstrip("\n").split("\t") == ["label", "sentence"]


def test_minilm_dir_loads_offline(
    minilm_dir: Path, no_network: None, request: pytest.FixtureRequest
) -> None:
    """The real MiniLM loads by path with a new 2-label head and is auto-marked slow."""
    assert request.node.get_closest_marker("slow") is not None
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_dir, num_labels=2)
    out = model(**tok(SAMPLES, padding=True, return_tensors="pt"))
    assert out.logits.shape == (2, 2)


def test_smollm2_dir_is_plain_checkpoint(smollm2_dir: Path, no_network: None) -> None:
    """The converted SmolLM2 folder is plain safetensors (no GGUF quantization config) with a chat template."""
    config = AutoConfig.from_pretrained(smollm2_dir)
    assert (
        config.model_type == "llama"
        and getattr(config, "quantization_config", None) is None
    )
    assert (smollm2_dir / "model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tok.eos_token == "<|im_end|>" and tok.chat_template
    text = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")


@pytest.mark.gpu
def test_tiny_gpt2_runs_on_cuda(tiny_gpt2_dir: Path) -> None:
    """On a GPU machine the tiny model runs on CUDA (auto-skipped elsewhere)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).to("cuda")
    x = torch.tensor([[1, 2, 3]], device="cuda")
    assert torch.isfinite(model(input_ids=x, labels=x).loss)
