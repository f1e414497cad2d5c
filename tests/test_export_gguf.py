"""GGUF export (issue 18): a causal-LM run becomes one .gguf file that transformers' own GGUF reader loads back to the
same model (f16: the same logits; q8_0: the same greedy answers; q4_0: finite logits), with the tokenizer and the
chat template inside, plus an Ollama Modelfile whose template reproduces the studio's prompt. Other tasks and other
architectures are refused with one sentence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gguf
import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

import ft_app.export.gguf as gguf_export
from ft_app.__main__ import main
from ft_app.export.card import render_card
from ft_app.export.gguf import (
    MODELFILE,
    _ollama_template,
    export_gguf,
    gguf_blocker,
    gguf_file_name,
    ollama_name,
    write_gguf,
)
from ft_app.export.prompting import PromptFormat, load_result_tokenizer, prompt_format
from ft_app.export.source import load_export_run
from ft_app.runs import EXAMPLES_FILE, read_jsonl
from tests.export_runs import train_case
from tests.fixtures.tiny_models import train_gpt2_tokenizer, train_llama_tokenizer

TEXTS = ["Hello world, the sky is blue.", "  two  spaces, 12345 digits!", "Ünïcödé ☃\nnew line", "<|user|>\nhi</s>"]
SMOL_PROMPTS = ["What is the capital of France?", "Name a color of the sky.", "What is 2 + 2?"]


@pytest.fixture
def lora_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished LoRA run on the tiny Llama with chat data (its gguf/ folder emptied for each test)."""
    run_dir = train_case("causal_lm-lora", request, tmp_path_factory)
    for leftover in (run_dir / "gguf").glob("*") if (run_dir / "gguf").is_dir() else []:
        leftover.unlink()
    return run_dir


_FULL_RUN: dict[str, Path] = {}


@pytest.fixture
def full_run(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full fine-tuning run of the tiny Llama (its result is model/, no merge), trained once a session with a rate
    high enough that its answers are clear choices: a near-random model's greedy answer is a near-tie that any
    8-bit rounding may flip (the LoRA run's first answer token does), which would test luck, not the file."""
    if "run" not in _FULL_RUN:
        from tests.engine_checks import make_config, train_with_manager
        from tests.fixtures import data_files

        folder = tmp_path_factory.mktemp("gguf-full")
        config = make_config(
            "causal_lm", tiny_llama_dir, "full", data_files.write_chat_jsonl(folder / "train.jsonl"),
            data={"max_length": 64},
            training={"learning_rate": 1e-2, "max_steps": 12, "batch_size": 8, "eval_steps": 12},
            evaluation={"golden_prompts": ["What color is the grass?"], "golden_from_heldout": 2, "max_new_tokens": 8},
        )
        snap = train_with_manager(config, folder / "runs")
        assert snap.status == "completed", snap.message
        _FULL_RUN["run"] = snap.run_dir
    return _FULL_RUN["run"]


def _load(path: Path) -> tuple[torch.nn.Module, object]:
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids).logits.float()


def _assert_same_weights(model: torch.nn.Module, reference: torch.nn.Module) -> None:
    """Every weight read back equals the reference's rounded to float16 (norms and biases: float32) exactly: the q/k
    reorder for llama.cpp and its undoing on load cancel out, and nothing else moved."""
    got = model.state_dict()
    for name, want in reference.state_dict().items():
        exact = want.float() if want.dim() < 2 else want.half().float()
        assert torch.equal(got[name].float(), exact), name


def _greedy(model: torch.nn.Module, ids: torch.Tensor, n: int = 8) -> list[int]:
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False,
                             temperature=None, top_p=None, top_k=None, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


def _prompt_ids(run_dir: Path, tokenizer: object, texts: list[str]) -> list[torch.Tensor]:
    """The run's prompts as the studio renders them (chat template, with its bos in the text)."""
    fmt = prompt_format(load_export_run(run_dir).config, tokenizer)
    assert fmt.mode == "chat"
    return [tokenizer(fmt.render(t, tokenizer), return_tensors="pt", add_special_tokens=False).input_ids
            for t in texts]


def _run_prompts(run_dir: Path) -> list[str]:
    run = load_export_run(run_dir)
    golden = [str(r["input"]) for r in run.results.golden]
    held_out = [str(r["input"]) for r in read_jsonl(run_dir / EXAMPLES_FILE)[:2]]
    assert golden and held_out
    return golden + held_out


# ---- the run -> file -> transformers round trip -------------------------------------------------------------------


def test_lora_run_at_f16_gives_the_merged_models_logits(lora_run: Path, tmp_path: Path) -> None:
    result = export_gguf(lora_run, quant="f16")
    run = load_export_run(lora_run)
    assert result.path == lora_run / "gguf" / gguf_file_name(run, "f16") and result.path.name.endswith("-f16.gguf")
    assert result.quant == "f16" and result.size_bytes == result.path.stat().st_size > 0
    assert result.modelfile == lora_run / "gguf" / MODELFILE
    assert "merged" in result.message and "ollama create" in result.message and "llama-cli" in result.message
    assert (lora_run / "merged" / "config.json").is_file()  # the merge step's own output was made on the way

    merged = AutoModelForCausalLM.from_pretrained(lora_run / "merged").eval()
    ref_tok = AutoTokenizer.from_pretrained(lora_run / "merged")
    model, tok = _load(result.path)
    assert type(model).__name__ == "LlamaForCausalLM"
    _assert_same_weights(model, merged)
    for ids in _prompt_ids(lora_run, ref_tok, _run_prompts(lora_run)):
        torch.testing.assert_close(_logits(model, ids), _logits(merged, ids), atol=2e-3, rtol=1e-2)
    for text in TEXTS:  # the tokenizer read back from the file splits text as the run's did
        assert tok(text)["input_ids"] == ref_tok(text)["input_ids"], text
    assert tok.chat_template == ref_tok.chat_template


def test_without_the_q_k_permutation_the_logits_would_differ(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama.cpp's Llama graph wants q/k rows reordered; transformers' reader undoes it. The weight check above would
    catch a missing reorder: a file written without it loads to other q/k weights. (The tiny models' attention is
    nearly uniform, so their logits alone would hardly show it.)"""
    ref = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    good, _ = _load(write_gguf(tiny_llama_dir, tmp_path / "good.gguf", quant="f16"))
    _assert_same_weights(good, ref)
    assert gguf.GGUFReader(tmp_path / "good.gguf").fields["tokenizer.ggml.add_space_prefix"].contents() is True
    monkeypatch.setattr(gguf_export, "_permute", lambda weights, n_head, n_kv_head: weights)
    bad, _ = _load(write_gguf(tiny_llama_dir, tmp_path / "bad.gguf", quant="f16"))
    with pytest.raises(AssertionError, match="q_proj"):
        _assert_same_weights(bad, ref)


def test_full_run_at_q8_0_gives_its_greedy_answers(full_run: Path) -> None:
    result = export_gguf(full_run)  # q8_0 is the default; a full run's model/ is read as it is
    assert result.quant == "q8_0" and result.path == full_run / "gguf" / gguf_file_name(load_export_run(full_run))
    assert "merged" not in result.message and not (full_run / "merged").exists()
    tuned = AutoModelForCausalLM.from_pretrained(full_run / "model").eval()
    ref_tok = AutoTokenizer.from_pretrained(full_run / "model")
    model, _ = _load(result.path)
    for ids in _prompt_ids(full_run, ref_tok, _run_prompts(full_run)):
        assert _greedy(model, ids) == _greedy(tuned, ids)
    reader = gguf.GGUFReader(result.path)
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32  # norms stay float32, as in llama.cpp


def test_q4_0_loads_and_gives_finite_logits(lora_run: Path, tmp_path: Path) -> None:
    result = export_gguf(lora_run, quant="q4_0", out_dir=tmp_path / "out")
    assert result.path.parent == tmp_path / "out"
    reader = gguf.GGUFReader(result.path)
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.ffn_up.weight"] == gguf.GGMLQuantizationType.Q4_0
    assert types["output.weight"] == gguf.GGMLQuantizationType.Q8_0  # the output matrix is kept finer
    q8 = export_gguf(lora_run, quant="q8_0", out_dir=tmp_path / "out")
    assert result.size_bytes < q8.size_bytes
    model, tok = _load(result.path)
    logits = _logits(model, tok(TEXTS[0], return_tensors="pt").input_ids)
    assert torch.isfinite(logits).all() and logits.abs().max() > 0


def test_the_file_carries_tokenizer_chat_template_and_hyperparameters(lora_run: Path) -> None:
    path = export_gguf(lora_run, quant="q8_0").path
    tokenizer = load_result_tokenizer(lora_run / "merged")
    config = json.loads((lora_run / "merged" / "config.json").read_text())
    fields = gguf.GGUFReader(path).fields

    def value(key: str) -> object:
        return fields[key].contents()

    assert value("general.architecture") == "llama"
    assert value("tokenizer.ggml.model") == "llama"  # SentencePiece-style BPE (Metaspace, byte fallback)
    tokens = value("tokenizer.ggml.tokens")
    assert len(tokens) == config["vocab_size"] and tokens[tokenizer.eos_token_id] == "</s>"
    assert tokens[: len(tokenizer)] == tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    assert len(value("tokenizer.ggml.merges")) > 100 and len(value("tokenizer.ggml.scores")) == len(tokens)
    token_types = value("tokenizer.ggml.token_type")
    assert token_types[tokenizer.convert_tokens_to_ids("<0x41>")] == gguf.TokenType.BYTE
    assert token_types[tokenizer.convert_tokens_to_ids("<|user|>")] == gguf.TokenType.CONTROL
    assert value("tokenizer.chat_template") == tokenizer.chat_template
    assert value("tokenizer.ggml.bos_token_id") == tokenizer.bos_token_id
    assert value("tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert value("tokenizer.ggml.padding_token_id") == tokenizer.pad_token_id
    assert value("tokenizer.ggml.unknown_token_id") == tokenizer.unk_token_id
    assert value("tokenizer.ggml.add_bos_token") is True  # the run's tokenizer adds <s> to a text
    # Its Metaspace puts '▁' only before a prompt that starts with text; chat prompts start with <s>: no '▁' (a plain
    # export, below, keeps llama.cpp's usual '▁' before the text).
    assert value("tokenizer.ggml.add_space_prefix") is False
    assert value("llama.context_length") == config["max_position_embeddings"]
    assert value("llama.embedding_length") == config["hidden_size"]
    assert value("llama.block_count") == config["num_hidden_layers"]
    assert value("llama.feed_forward_length") == config["intermediate_size"]
    assert value("llama.attention.head_count") == config["num_attention_heads"]
    assert value("llama.attention.head_count_kv") == config["num_key_value_heads"] == 1
    assert value("llama.rope.freq_base") == pytest.approx(config["rope_parameters"]["rope_theta"])
    assert value("llama.attention.layer_norm_rms_epsilon") == pytest.approx(config["rms_norm_eps"])
    assert value("llama.vocab_size") == config["vocab_size"]


# ---- other shapes of the Llama family ----------------------------------------------------------------------------


def _tiny_model(kind: str, tokenizer: object, path: Path) -> Path:
    """A tiny Qwen2 (q/k/v biases), Mistral (narrow heads) or tied-embedding Llama, saved like a full run's model/."""
    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                  pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=kind == "llama-tied")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if kind == "qwen2":
            model = Qwen2ForCausalLM(Qwen2Config(**common))
            with torch.no_grad():  # biases start at zero: make them count
                for layer in model.model.layers:
                    for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                        proj.bias.normal_(0, 0.5)
        elif kind == "mistral":
            model = MistralForCausalLM(MistralConfig(**common, head_dim=8))  # 8, not 64 / 4
        else:
            model = LlamaForCausalLM(LlamaConfig(**common))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.parametrize("kind", ["qwen2", "mistral", "llama-tied"])
def test_qwen2_mistral_and_tied_llama_round_trip_at_f16(kind: str, tmp_path: Path) -> None:
    # Qwen2's tokenizer class in transformers is byte-level, so it gets the byte-level (GPT-2 style) vocabulary;
    # the tied Llama takes it too, to cover llama.cpp's "gpt2" tokenizer model on a fast test.
    tokenizer = train_llama_tokenizer() if kind == "mistral" else train_gpt2_tokenizer()
    folder = _tiny_model(kind, tokenizer, tmp_path / kind)
    path = write_gguf(folder, tmp_path / f"{kind}.gguf", quant="f16", name=f"tiny-{kind}")
    fields = gguf.GGUFReader(path).fields
    tensors = {t.name for t in gguf.GGUFReader(path).tensors}
    arch = "qwen2" if kind == "qwen2" else "llama"
    assert fields["general.architecture"].contents() == arch
    if kind == "qwen2":
        assert {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"} <= tensors
        assert fields["tokenizer.ggml.pre"].contents() == "qwen2"
    if kind == "mistral":
        assert fields["llama.attention.key_length"].contents() == 8
    if kind == "llama-tied":
        assert "output.weight" not in tensors  # llama.cpp then uses token_embd for the output
        assert fields["tokenizer.ggml.model"].contents() == "gpt2"
        assert fields["tokenizer.ggml.pre"].contents() == "gpt-2"
        assert len(fields["tokenizer.ggml.merges"].contents()) > 100

    reference = AutoModelForCausalLM.from_pretrained(folder).eval()
    ref_tok = AutoTokenizer.from_pretrained(folder)
    model, tok = _load(path)
    _assert_same_weights(model, reference)
    ids = ref_tok(TEXTS[0], return_tensors="pt").input_ids
    torch.testing.assert_close(_logits(model, ids), _logits(reference, ids), atol=2e-3, rtol=1e-2)
    for text in TEXTS[:3]:
        assert tok(text)["input_ids"] == ref_tok(text)["input_ids"], text


def test_a_weight_the_architecture_has_no_place_for_is_refused_before_writing(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from safetensors.torch import save_file

    folder = tmp_path / "odd-llama"
    shutil.copytree(tiny_llama_dir, folder)
    save_file({"model.adapter_gate.weight": torch.zeros(4, 4)}, str(folder / "extra.safetensors"))
    with pytest.raises(ValueError, match="'model.adapter_gate.weight' has no place in a llama GGUF file"):
        write_gguf(folder, tmp_path / "odd.gguf")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.partial"))


def test_llama3_rope_scaling_becomes_llama_cpps_rope_freqs(tmp_path: Path) -> None:
    tokenizer = train_llama_tokenizer()
    folder = _tiny_model("llama", tokenizer, tmp_path / "llama3")
    config = json.loads((folder / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
    (folder / "config.json").write_text(json.dumps(config))
    reader = gguf.GGUFReader(write_gguf(folder, tmp_path / "llama3.gguf", quant="f16"))
    freqs = next(t for t in reader.tensors if t.name == "rope_freqs.weight").data
    assert freqs.shape == (8,)  # one divisor per rotated pair of a 16-wide head
    assert freqs[0] == pytest.approx(1.0) and freqs[-1] == pytest.approx(8.0)  # fast ones kept, slow ones / factor


# ---- the Ollama Modelfile ----------------------------------------------------------------------------------------


def _ollama_render(template: str, system: str, prompt: str) -> str:
    """What Ollama sends the model for one question: the template up to `.Response`, with .System and .Prompt."""
    text = template.split("{{ .Response }}")[0]
    text = re.sub(r"\{\{ if \.System \}\}(.*?)(?:\{\{ else \}\}(.*?))?\{\{ end \}\}",
                  lambda m: m.group(1) if system else (m.group(2) or ""), text, flags=re.S)
    return text.replace("{{ .System }}", system).replace("{{ .Prompt }}", prompt).replace('{{ "{{" }}', "{{")


def _modelfile_template(text: str) -> str:
    return re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M).group(1)


def test_modelfile_names_the_file_and_prompts_as_the_studio_does(lora_run: Path) -> None:
    result = export_gguf(lora_run)
    text = result.modelfile.read_text(encoding="utf-8")
    assert f"FROM ./{result.path.name}\n" in text
    assert "PARAMETER temperature 0\n" in text and "PARAMETER top_p 1\n" in text
    assert "PARAMETER num_predict 64\n" in text and "PARAMETER repeat_penalty 1\n" in text
    assert 'PARAMETER stop "</s>"' in text
    assert "SYSTEM" not in text  # this run has no system prompt
    assert f"ollama create {ollama_name(load_export_run(lora_run))} -f Modelfile" in text

    tokenizer = load_result_tokenizer(lora_run / "merged")
    studio = prompt_format(load_export_run(lora_run).config, tokenizer).render("Is grass green?", tokenizer)
    # llama.cpp adds <s> itself (the file says add_bos_token), so the template leaves it out.
    assert tokenizer.bos_token + _ollama_render(_modelfile_template(text), "", "Is grass green?") == studio


@pytest.mark.parametrize("system", [None, "Answer in one word {{like this}}."])
def test_ollama_template_with_a_system_prompt_and_a_default_one(system: str | None, tiny_llama_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    fmt = PromptFormat("chat", system_prompt=system)
    template, stops = _ollama_template(fmt, tokenizer, add_bos=True)
    assert tokenizer.bos_token + _ollama_render(template, system or "", "Hi?") == fmt.render("Hi?", tokenizer)
    # A ChatML-like template that writes its own system prompt when none is given (as SmolLM2's does) and ends a
    # turn with a token that is not eos (<pad> here, <|im_end|> there): that token becomes a stop too.
    tokenizer.chat_template = (
        "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}{{ '<|system|>\nI am Tiny.<pad>\n' }}"
        "{% endif %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<pad>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    )
    template, stops = _ollama_template(fmt, tokenizer, add_bos=False)
    assert _ollama_render(template, system or "", "Hi?") == fmt.render("Hi?", tokenizer)
    assert "I am Tiny." in template and stops == ["</s>", "<pad>"]


def test_prompt_template_runs_get_their_template(tiny_llama_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    fmt = PromptFormat("template", template="### Question:\n{prompt}\n\n### Answer {{x}}:\n")
    template, stops = _ollama_template(fmt, tokenizer, add_bos=True)
    assert _ollama_render(template, "", "Why?") == fmt.render("Why?")
    assert stops == ["</s>"]


# ---- never over a person's files ---------------------------------------------------------------------------------


def test_never_overwrites_a_persons_files_but_replaces_its_own(lora_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ollama"
    out.mkdir()
    (out / MODELFILE).write_text("FROM llama3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="already has 'Modelfile', which Fine-Tune Studio did not make"):
        export_gguf(lora_run, quant="q4_0", out_dir=out)
    assert (out / MODELFILE).read_text() == "FROM llama3\n" and not list(out.glob("*.gguf"))

    (out / MODELFILE).unlink()
    first = export_gguf(lora_run, quant="q4_0", out_dir=out)
    again = export_gguf(lora_run, quant="q4_0", out_dir=out)  # our own earlier file: replaced
    assert again.path == first.path and again.path.is_file()
    assert not list(out.glob(".*.partial"))


# ---- refusals, the Export tab's question, the card and the CLI -------------------------------------------------


@pytest.mark.parametrize("key, words", [("classification-lora", "classification run"),
                                        ("seq2seq-lora", "text-to-text run")])
def test_classification_and_seq2seq_runs_are_refused_in_one_sentence(
    key: str, words: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_dir = train_case(key, request, tmp_path_factory)
    merged_before = (run_dir / "merged").exists()  # the run is shared: the merge tests may have made it
    sentence = gguf_blocker(run_dir)
    assert sentence and words in sentence and "text-generation" in sentence and "zip or the merged model" in sentence
    with pytest.raises(ValueError) as caught:
        export_gguf(run_dir)
    assert str(caught.value) == sentence
    assert not (run_dir / "gguf").exists() and (run_dir / "merged").exists() == merged_before
    assert "(GGUF)" not in str(render_card(load_export_run(run_dir), model_ref="./adapter"))


def test_other_architectures_are_refused_naming_them(
    tiny_gpt2_dir: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run_dir = train_case("causal_lm-full", request, tmp_path_factory)  # a full fine-tuning run of the tiny GPT-2
    with pytest.raises(ValueError, match=r"covers Llama-family models.*this run's model is GPT2LMHeadModel"):
        export_gguf(run_dir)
    assert gguf_blocker(load_export_run(run_dir)) is not None
    with pytest.raises(ValueError, match="GPT2LMHeadModel"):
        write_gguf(tiny_gpt2_dir, tmp_path / "gpt2.gguf")
    assert not (tmp_path / "gpt2.gguf").exists()


def test_export_tab_question_and_card_for_a_llama_run(lora_run: Path) -> None:
    run = load_export_run(lora_run)
    assert gguf_blocker(run) is None and gguf_blocker(lora_run) is None
    card = str(render_card(run, model_ref="./adapter"))
    assert "## Run it on your laptop (GGUF)" in card
    assert f"python -m ft_app export runs/{run.run_id} --gguf" in card
    assert f"ollama create {ollama_name(run)} -f Modelfile" in card and f"llama-cli -m {gguf_file_name(run)} -cnv" in card


def test_cli_prints_the_gguf_path_last(full_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(full_run), "--gguf", "--quant", "q4_0", "--out", str(tmp_path / "g")]) == 0
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    assert last.endswith("-q4_0.gguf") and Path(last).is_file() and Path(last).parent == tmp_path / "g"
    assert (tmp_path / "g" / MODELFILE).is_file() and "ollama create" in err
    assert main(["export", str(full_run), "--zip", str(tmp_path / "a.zip"), "--quant", "f16"]) == 2
    assert "--quant and --out go with --gguf" in capsys.readouterr().err


# ---- a real model ------------------------------------------------------------------------------------------------


def test_smollm2_round_trips_at_f16_and_answers_alike_at_q8_0(smollm2_dir: Path, tmp_path: Path) -> None:
    """The real SmolLM2-135M-Instruct (tied embeddings, byte-level BPE, ChatML template) as a full model result."""
    reference = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    ref_tok = AutoTokenizer.from_pretrained(smollm2_dir)
    prompts = [ref_tok(ref_tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                   add_generation_prompt=True),
                       return_tensors="pt", add_special_tokens=False).input_ids for p in SMOL_PROMPTS]

    f16 = write_gguf(smollm2_dir, tmp_path / "smollm2-f16.gguf", quant="f16", name="smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=f16.name, dtype=torch.float32).eval()
    for ids in prompts:
        torch.testing.assert_close(_logits(model, ids), _logits(reference, ids), atol=0.1, rtol=0.02)
    del model

    q8 = write_gguf(smollm2_dir, tmp_path / "smollm2-q8_0.gguf", quant="q8_0", name="smollm2-135m-instruct")
    assert q8.stat().st_size < 0.6 * f16.stat().st_size
    model, tok = _load(q8)
    for ids in prompts:
        assert _greedy(model, ids) == _greedy(reference, ids)
    fields = gguf.GGUFReader(q8).fields
    assert fields["tokenizer.ggml.model"].contents() == "gpt2" and "output.weight" not in {
        t.name for t in gguf.GGUFReader(q8).tensors}
    assert tok.chat_template == ref_tok.chat_template
    for text in TEXTS:
        assert tok(text)["input_ids"] == ref_tok(text)["input_ids"], text
