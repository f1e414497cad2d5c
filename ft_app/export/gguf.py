"""GGUF export: one file that llama.cpp, Ollama and LM Studio run on a laptop, plus an Ollama Modelfile beside it.

The file is written with the `gguf` package's own writer, tensor-name maps and quantizers (no llama.cpp checkout):
a causal-LM run of the Llama family (Llama incl. SmolLM2, Mistral, Qwen2) becomes `RUN_DIR/gguf/<name>-<quant>.gguf`
with its tokenizer, chat template and the hyperparameters llama.cpp reads. A LoRA/QLoRA/8-bit run is merged into its
base first (the merge step's own code, kept in RUN_DIR/merged/); a full fine-tuning run is read from its model/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.export.prompting import load_result_tokenizer, prompt_format
from ft_app.export.source import ExportRun, human_size, load_export_run, slug
from ft_app.tasks import get_task

GGUF_DIR = "gguf"
MODELFILE = "Modelfile"
QUANTS = ("f16", "q8_0", "q4_0")
DEFAULT_QUANT = "q8_0"
QUANT_WORDS = {
    "f16": "16-bit floats (the weights as trained, to float16 precision)",
    "q8_0": "8-bit blocks (about half the f16 size; answers nearly always the same as the fine-tuned model's)",
    "q4_0": "4-bit blocks (about a quarter of the f16 size; answers can differ from the fine-tuned model's)",
}
# transformers class -> llama.cpp architecture. Mistral is the Llama graph in llama.cpp (its converter writes it as
# "llama"); its sliding window is not used there, which only matters past the window (4,096 tokens for Mistral 7B).
ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
COVERED = "Llama-family models: LlamaForCausalLM (Llama, SmolLM2, ...), MistralForCausalLM and Qwen2ForCausalLM"
# Byte-level BPE pre-tokenizers llama.cpp knows by name (`tokenizer.ggml.pre`), found from tokenizer.json's split rule.
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
PREFERRED_PRE = {"llama3": "llama-bpe", "qwen2": "qwen2", "tekken": "tekken"}
# general.file_type: gguf.LlamaFileType's MOSTLY_F16, MOSTLY_Q8_0 and MOSTLY_Q4_0 (norms and biases stay float32).
FILE_TYPES = {"f16": 1, "q8_0": 7, "q4_0": 2}


@dataclass
class GgufResult:
    """What the GGUF export made: the file, the Modelfile beside it, the quantization, its size and a sentence."""

    path: Path
    modelfile: Path
    quant: str
    size_bytes: int
    message: str


# ---- what the Export tab asks ------------------------------------------------------------------------------------


def gguf_blocker(run: ExportRun | str | Path) -> str | None:
    """Why this run cannot become a GGUF file, in one sentence; None when it can (or when only the export itself can
    tell, e.g. a Hub base model whose config is not on this machine). Reads a config.json at most."""
    if not isinstance(run, ExportRun):
        try:
            run = load_export_run(run)
        except ValueError as exc:
            return str(exc)
    task = get_task(run.config.task)
    if not task.continues_prompt:
        return (f"GGUF files are for llama.cpp, Ollama and LM Studio, which run text-generation models, and this is "
                f"a {task.short} run: share it as the zip or the merged model instead.")
    architecture = _known_architecture(run)
    if architecture is not None and architecture not in ARCHITECTURES:
        return unsupported_architecture(architecture)
    return None


def unsupported_architecture(architecture: str) -> str:
    """The sentence for a model family the GGUF writer does not cover."""
    return (f"GGUF export covers {COVERED}; this run's model is {architecture}, so export it as the zip or the "
            "merged model instead.")


def gguf_file_name(run: ExportRun, quant: str = DEFAULT_QUANT) -> str:
    """The .gguf file's name: the base model, the run and the quantization, e.g. smollm2-135m-<run id>-q8_0.gguf."""
    return f"{ollama_name(run)}-{quant}.gguf"


def ollama_name(run: ExportRun) -> str:
    """The model name the card and the Modelfile suggest for `ollama create` (lower case, as Ollama stores it)."""
    return slug(f"{run.base_name}-{run.run_id}", limit=80).lower()


def _known_architecture(run: ExportRun) -> str | None:
    """The transformers class of the run's model from a config.json on this machine, without loading anything."""
    if not run.is_adapter:
        return _architecture_in(run.result_dir / "config.json")
    if run.base_is_local:
        return _architecture_in(Path(run.base_model).expanduser() / "config.json")
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(run.base_model, "config.json", revision=run.config.model.revision)
    except Exception:  # noqa: BLE001 - a cache lookup that fails only means "unknown"
        return None
    return _architecture_in(Path(cached)) if isinstance(cached, (str, Path)) else None


def _architecture_in(config_file: Path) -> str | None:
    try:
        names = json.loads(config_file.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return None
    return str(names[0]) if names else None


# ---- the export step -----------------------------------------------------------------------------------------------


def export_gguf(run_dir: str | Path, *, quant: str = DEFAULT_QUANT, out_dir: str | Path | None = None) -> GgufResult:
    """Write the run as one .gguf file plus an Ollama Modelfile into `out_dir` (default RUN_DIR/gguf/).

    Files a person put in `out_dir` are never overwritten; an earlier GGUF export's own files are replaced.
    """
    from ft_app.export.output import check_free, record_made

    quant = check_quant(quant)
    run = load_export_run(run_dir)
    blocker = gguf_blocker(run)
    if blocker:
        raise ValueError(blocker)
    out = Path(out_dir).expanduser().resolve() if out_dir else run.run_dir / GGUF_DIR
    name = gguf_file_name(run, quant)
    check_free(out, (name, MODELFILE))  # before the merge and the writing, which take a while
    source, merged_note = _model_folder(run)
    tokenizer = load_result_tokenizer(source)
    chat = prompt_format(run.config, tokenizer).mode == "chat"
    out.mkdir(parents=True, exist_ok=True)
    path = write_gguf(source, out / name, quant=quant, name=ollama_name(run), chat=chat)
    modelfile = out / MODELFILE
    modelfile.write_text(modelfile_text(run, name, tokenizer), encoding="utf-8")
    record_made(out, (name, MODELFILE))
    size = path.stat().st_size
    message = (f"Wrote {path.name}: {human_size(size)}, {QUANT_WORDS[quant]}. {merged_note}"
               f"Run it, in the folder that holds both files, with Ollama (ollama create {ollama_name(run)} -f "
               f"{modelfile.name}) or llama.cpp (llama-cli -m {path.name} -cnv).")
    return GgufResult(path=path, modelfile=modelfile, quant=quant, size_bytes=size, message=message)


def check_quant(quant: str) -> str:
    """The quantization name, checked."""
    value = str(quant).strip().lower()
    if value not in QUANTS:
        raise ValueError(f"Unknown GGUF quantization {quant!r}: use one of {', '.join(QUANTS)} (default "
                         f"{DEFAULT_QUANT}).")
    return value


def _model_folder(run: ExportRun) -> tuple[Path, str]:
    """The standalone model folder to convert: model/ of a full run, or merged/ of a LoRA run (merged if needed)."""
    if not run.is_adapter:
        return run.result_dir, ""
    if run.has_merged and _newer(run.merged_dir / "config.json", run.result_dir):
        return run.merged_dir, "The merged model in merged/ was used. "
    from ft_app.export.merge import merge_lora

    merged = merge_lora(run.run_dir)
    return merged.path, f"The adapter was merged into the base first ({human_size(merged.size_bytes)} in merged/). "


def _newer(marker: Path, folder: Path) -> bool:
    """Whether `marker` was written after every file in `folder` (a merge made after the adapter was saved)."""
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()]
    return marker.is_file() and marker.stat().st_mtime >= max(times, default=0.0)


# ---- the writer ----------------------------------------------------------------------------------------------------


def write_gguf(model_dir: str | Path, out_path: str | Path, *, quant: str = DEFAULT_QUANT,
               name: str | None = None, chat: bool = False) -> Path:
    """Write a saved transformers causal LM (config.json, safetensors weights, tokenizer) as one GGUF file.

    `chat`: the model is prompted through its chat template, so prompts begin with special tokens (this decides one
    tokenizer flag, see _spm_space_prefix). The file appears under its name only once complete (written beside it,
    then renamed).
    """
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    quant = check_quant(quant)
    folder = Path(model_dir)
    config = AutoConfig.from_pretrained(str(folder))
    arch = _gguf_arch(config)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    out = Path(out_path)
    partial = out.with_name(f".{out.name}.partial")
    planned = _plan(folder, config, arch, quant)  # shapes only: a wrong weight is refused before any writing
    writer = gguf.GGUFWriter(str(partial), gguf.MODEL_ARCH_NAMES[arch])
    try:
        writer.add_name(name or folder.name)
        writer.add_type("model")
        _add_hparams(writer, config)
        writer.add_file_type(FILE_TYPES[quant])
        if quant != "f16":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_tokenizer(writer, tokenizer, _vocab_rows(config), chat)
        _add_tensor_infos(writer, planned)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in _tensor_data(planned, config, arch):
            writer.write_tensor_data(data)
        writer.close()
        os.replace(partial, out)
    finally:
        writer.close()
        partial.unlink(missing_ok=True)
    return out


def _gguf_arch(config: Any) -> Any:
    import gguf

    names = list(getattr(config, "architectures", None) or [])
    architecture = names[0] if names else type(config).__name__
    if architecture not in ARCHITECTURES:
        raise ValueError(unsupported_architecture(architecture))
    return gguf.MODEL_ARCH.LLAMA if ARCHITECTURES[architecture] == "llama" else gguf.MODEL_ARCH.QWEN2


def _vocab_rows(config: Any) -> int:
    return int(config.vocab_size)


def _head_dim(config: Any) -> int:
    return int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)


def _add_hparams(writer: Any, config: Any) -> None:
    """The architecture numbers llama.cpp reads (under `<arch>.` keys)."""
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = _head_dim(config)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // heads:  # e.g. Mistral Nemo: heads narrower than hidden / heads
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(_vocab_rows(config))
    rope = _rope_parameters(config)
    writer.add_rope_freq_base(float(rope.get("rope_theta", 10000.0)))
    _add_rope_scaling(writer, rope)


def _rope_parameters(config: Any) -> dict[str, Any]:
    """RoPE settings from a transformers 5 config (`rope_parameters`) or an older one (`rope_theta`, `rope_scaling`)."""
    params = dict(getattr(config, "rope_parameters", None) or {})
    if "rope_theta" not in params and getattr(config, "rope_theta", None) is not None:
        params["rope_theta"] = config.rope_theta
    scaling = getattr(config, "rope_scaling", None)
    if isinstance(scaling, dict) and not params.get("rope_type"):
        params.update(scaling)
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params["type"]
    return params


def _add_rope_scaling(writer: Any, rope: dict[str, Any]) -> None:
    """RoPE scaling llama.cpp has keys for; Llama 3's own kind goes in as a `rope_freqs` tensor (see _plan)."""
    import gguf

    kind = rope.get("rope_type") or "default"
    if kind in ("default", "llama3"):
        return
    if kind not in ("linear", "yarn"):
        raise ValueError(f"This model uses RoPE scaling {kind!r}, which llama.cpp has no setting for: GGUF export "
                         "covers default, linear, yarn and llama3 RoPE.")
    writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR if kind == "linear" else gguf.RopeScalingType.YARN)
    writer.add_rope_scaling_factor(float(rope.get("factor", 1.0)))
    if kind == "yarn" and rope.get("original_max_position_embeddings"):
        writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))


# ---- tokenizer -----------------------------------------------------------------------------------------------------


def _add_tokenizer(writer: Any, tokenizer: Any, rows: int, chat: bool = False) -> None:
    """Tokens, merges, types (and scores for a SentencePiece-style vocabulary), special ids, add-bos and the chat
    template: everything llama.cpp and transformers' GGUF reader need to tokenize exactly as the run did."""
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    kind = _tokenizer_kind(backend)
    tokens, types = _token_list(tokenizer, rows, kind)
    merges = _merges(backend)
    writer.add_tokenizer_model(kind)
    if kind == "gpt2":
        writer.add_tokenizer_pre(_pre_name(backend))
        writer.add_add_space_prefix(_byte_level(backend).get("add_prefix_space", False))
    else:
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(_merge_scores(tokens, merges))
        writer.add_add_space_prefix(_spm_space_prefix(backend, chat))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for role, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                      ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        token_id = getattr(tokenizer, f"{role}_token_id", None)
        if isinstance(token_id, int) and 0 <= token_id < rows:
            add(token_id)
    add_bos, add_eos = _adds_specials(tokenizer)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(add_eos)
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        writer.add_chat_template([{"name": k, "template": v} for k, v in template.items()])
    elif template:
        writer.add_chat_template(template)


def _tokenizer_kind(backend: dict[str, Any]) -> str:
    """'gpt2' for byte-level BPE (SmolLM2, Qwen2, Llama 3), 'llama' for SentencePiece-style BPE (Llama 2, Mistral)."""
    model = backend.get("model") or {}
    if model.get("type") != "BPE":
        raise ValueError(f"This model's tokenizer is a {model.get('type')!r} model; GGUF export writes BPE tokenizers "
                         "(byte-level like GPT-2/Llama 3/Qwen2, or SentencePiece-style like Llama 2/Mistral).")
    if _byte_level(backend):
        return "gpt2"
    texts = json.dumps([backend.get("pre_tokenizer"), backend.get("normalizer")])
    if "Metaspace" in texts or "\u2581" in texts:
        return "llama"
    raise ValueError("This model's BPE tokenizer is neither byte-level nor SentencePiece-style (no ByteLevel or "
                     "Metaspace step), so llama.cpp could not split text the same way.")


def _steps(node: Any) -> list[dict[str, Any]]:
    """A pre-tokenizer (or a Sequence of them) as a flat list of steps."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        return [s for child in node.get("pretokenizers") or node.get("normalizers") or [] for s in _steps(child)]
    return [node]


def _byte_level(backend: dict[str, Any]) -> dict[str, Any]:
    return next((s for s in _steps(backend.get("pre_tokenizer")) if s.get("type") == "ByteLevel"), {})


def _pre_name(backend: dict[str, Any]) -> str:
    """llama.cpp's name for how a byte-level BPE tokenizer splits text before merging (`tokenizer.ggml.pre`).

    The split rule is read from tokenizer.json and looked up among the rules transformers' own GGUF reader gives
    each name, so that the file is read back with the same rule. An unknown rule gets llama.cpp's 'default'."""
    steps = _steps(backend.get("pre_tokenizer"))
    types = [s.get("type") for s in steps]
    if types == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if types == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"  # SmolLM: every digit alone, then GPT-2's split
    if types == ["Split", "ByteLevel"]:
        pattern = (steps[0].get("pattern") or {}).get("Regex")
        if pattern == GPT2_SPLIT:
            return "gpt-2"
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS

        names = [n for n, rule in GGUF_PRE_TOKENIZER_SPLITS.items() if rule == pattern]
        if names:
            return PREFERRED_PRE.get(names[0], names[0])
    return "default"


def _spm_space_prefix(backend: dict[str, Any], chat: bool) -> bool:
    """llama.cpp's add_space_prefix for a SentencePiece-style tokenizer: llama.cpp then puts '▁' before every piece of
    text that starts the prompt or follows a special token. That is what a '▁'-prepending normalizer does (Llama 2's
    tokenizer.json) and a Metaspace step with prepend_scheme "always". With "first" (transformers 5's LlamaTokenizer,
    Mistral) only a prompt that starts with text gets one, and none after special tokens: llama.cpp has no such
    setting, so the flag follows how the run is prompted. A chat prompt starts with special tokens (<s>, a role
    token) and gets no '▁' anywhere: off. A plain or template prompt starts with text: on."""
    for step in _steps(backend.get("pre_tokenizer")):
        if step.get("type") == "Metaspace":
            scheme = step.get("prepend_scheme", "always" if step.get("add_prefix_space", True) else "never")
            return scheme == "always" or (scheme == "first" and not chat)
    return any(s.get("type") == "Prepend" for s in _steps(backend.get("normalizer")))


def _token_list(tokenizer: Any, rows: int, kind: str) -> tuple[list[str], list[int]]:
    """Every id's token text and llama.cpp token type, padded to the model's embedding rows (as llama.cpp's
    converter does: a model may have more rows than its tokenizer has tokens, e.g. Qwen2)."""
    from gguf import TokenType

    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    if size > rows:
        raise ValueError(f"The tokenizer has {size} tokens but the model only {rows} embedding rows: resize the "
                         "model's embeddings to the tokenizer (model.resize_token_embeddings) and train again.")
    by_id: dict[int, str] = {i: t for t, i in vocab.items()}
    added = {i: t for i, t in tokenizer.added_tokens_decoder.items()}
    tokens, types = [], []
    for i in range(rows):
        text = by_id.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
        elif i in added:
            tokens.append(text)
            types.append(TokenType.CONTROL if added[i].special else TokenType.USER_DEFINED)
        elif kind == "llama" and re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", text):
            tokens.append(text)
            types.append(TokenType.BYTE)
        else:
            tokens.append(text)
            types.append(TokenType.NORMAL)
    return tokens, [int(t) for t in types]


def _merges(backend: dict[str, Any]) -> list[str]:
    """BPE merges as 'left right' strings; a space inside a part is written as llama.cpp's converter does (U+0120)."""
    out = []
    for merge in (backend.get("model") or {}).get("merges") or []:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        out.append(" ".join(part.replace(" ", chr(ord(" ") + 256)) for part in (left, right)))
    return out


def _merge_scores(tokens: list[str], merges: list[str]) -> list[float]:
    """Scores for llama.cpp's SentencePiece tokenizer, which merges the best-scoring adjacent pair first: a token
    made by the n-th BPE merge scores -n, so pairs merge in the BPE order. Tokens no merge makes score lower than
    any merge (they are single characters, bytes or specials, which that tokenizer never builds from a pair)."""
    rank: dict[str, int] = {}
    for n, merge in enumerate(merges):
        rank.setdefault(merge.replace(" ", ""), n)
    floor = -float(len(merges) + 1)
    return [-float(rank[t]) if t in rank else floor for t in tokens]


def _adds_specials(tokenizer: Any) -> tuple[bool, bool]:
    """Whether encoding a text adds bos at the start / eos at the end (read from what the tokenizer does)."""
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return bool(ids) and bos is not None and ids[0] == bos, bool(ids) and eos is not None and ids[-1] == eos


# ---- tensors -------------------------------------------------------------------------------------------------------


@dataclass
class _Planned:
    """One tensor of the file: where its data comes from, its GGUF name and kind, its shape and its GGML type."""

    source: str | None  # the safetensors key; None for a tensor made here (Llama 3's rope_freqs)
    name: str
    kind: Any
    shape: tuple[int, ...]
    qtype: Any
    file: Path | None = None


def _plan(folder: Path, config: Any, arch: Any, quant: str) -> list[_Planned]:
    """Every tensor of the file, from the weights' names and shapes only (no data read): renamed by gguf's
    tensor-name map, typed for the quantization. Tied embeddings get no output.weight: llama.cpp then uses
    token_embd for the output, as transformers' GGUF reader does (it ties them when output.weight is absent)."""
    import gguf

    name_map = gguf.get_tensor_name_map(arch, int(config.num_hidden_layers))
    skip = set(gguf.MODEL_TENSOR_SKIP.get(arch, []))
    tied = bool(getattr(config, "tie_word_embeddings", False))
    planned = []
    for file, key, shape in _weight_shapes(folder):
        if key.endswith("rotary_emb.inv_freq"):
            continue
        found = name_map.get_type_and_name(key, try_suffixes=(".weight", ".bias"))
        if found is None:
            raise ValueError(f"The weight {key!r} has no place in a {gguf.MODEL_ARCH_NAMES[arch]} GGUF file, so this "
                             "model is not the plain architecture its config names.")
        kind, name = found
        if kind in skip or (tied and kind == gguf.MODEL_TENSOR.OUTPUT):
            continue
        is_output = kind == gguf.MODEL_TENSOR.OUTPUT or (tied and kind == gguf.MODEL_TENSOR.TOKEN_EMBD)
        planned.append(_Planned(key, name, kind, shape, _ggml_type(shape, quant, is_output), file))
    if arch == gguf.MODEL_ARCH.LLAMA and _rope_parameters(config).get("rope_type") == "llama3":
        planned.append(_Planned(None, gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight",
                                gguf.MODEL_TENSOR.ROPE_FREQS, (_head_dim(config) // 2,),
                                gguf.GGMLQuantizationType.F32))
    return planned


def _weight_shapes(folder: Path) -> Iterator[tuple[Path, str, tuple[int, ...]]]:
    """(file, key, shape) of each weight in the folder's safetensors files, read from their headers."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ValueError(f"{folder} has no .safetensors weights: GGUF export reads models saved with "
                         "save_pretrained in safetensors (the studio's runs always are).")
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                yield file, key, tuple(f.get_slice(key).get_shape())


def _ggml_type(shape: tuple[int, ...], quant: str, is_output: bool) -> Any:
    """The tensor's type in the file: 1-D tensors (norms, biases) stay float32, as llama.cpp keeps them; matrices go
    to f16 or the chosen blocks. Under q4_0 the output matrix takes q8_0, as llama.cpp's own quantizer keeps it
    finer (it picks q6_k, which gguf-py cannot write) since every answer token passes through it. Rows that do not
    fill whole blocks stay f16, as in llama.cpp."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    if len(shape) < 2:
        return GGMLQuantizationType.F32
    qtype = {"f16": GGMLQuantizationType.F16, "q8_0": GGMLQuantizationType.Q8_0,
             "q4_0": GGMLQuantizationType.Q4_0}[quant]
    if qtype == GGMLQuantizationType.Q4_0 and is_output:
        qtype = GGMLQuantizationType.Q8_0
    if qtype != GGMLQuantizationType.F16 and shape[-1] % GGML_QUANT_SIZES[qtype][0]:
        return GGMLQuantizationType.F16
    return qtype


def _add_tensor_infos(writer: Any, planned: list[_Planned]) -> None:
    """Declare every tensor (name, shape, type, size) up front, so the data can then be streamed one at a time."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quant_shape_to_byte_shape

    for t in planned:
        if t.qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            dtype = np.dtype(np.float32 if t.qtype == GGMLQuantizationType.F32 else np.float16)
            writer.add_tensor_info(t.name, t.shape, dtype, int(np.prod(t.shape)) * dtype.itemsize)
        else:
            byte_shape = quant_shape_to_byte_shape(t.shape, t.qtype)
            writer.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)),
                                   raw_dtype=t.qtype)


def _tensor_data(planned: list[_Planned], config: Any, arch: Any) -> Iterator[Any]:
    """Each planned tensor's bytes, in order, read one weight at a time (a big model never sits in memory whole):
    q/k permuted for llama.cpp's Llama graph, then converted or quantized with gguf's own quantizers."""
    import contextlib

    import gguf
    import numpy as np
    from gguf.quants import quantize
    from safetensors import safe_open

    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    with contextlib.ExitStack() as stack:
        handles: dict[Path, Any] = {}
        for t in planned:
            if t.source is None:
                data = _llama3_rope_freqs(config)
            else:
                if t.file not in handles:
                    handles[t.file] = stack.enter_context(safe_open(str(t.file), framework="pt"))
                data = handles[t.file].get_tensor(t.source).float().numpy()
            if arch == gguf.MODEL_ARCH.LLAMA and t.kind == gguf.MODEL_TENSOR.ATTN_Q:
                data = _permute(data, heads, heads)
            elif arch == gguf.MODEL_ARCH.LLAMA and t.kind == gguf.MODEL_TENSOR.ATTN_K:
                data = _permute(data, heads, kv_heads)
            data = np.ascontiguousarray(data, dtype=np.float32)
            if t.qtype == gguf.GGMLQuantizationType.F32:
                yield data
            elif t.qtype == gguf.GGMLQuantizationType.F16:
                yield data.astype(np.float16)
            else:
                yield quantize(data, t.qtype)


def _permute(weights: Any, n_head: int, n_kv_head: int) -> Any:
    """llama.cpp's Llama graph applies RoPE to interleaved pairs, transformers to two halves: reorder the q/k rows
    (and biases) per head from halves to pairs. transformers' GGUF reader undoes exactly this on load."""
    if n_kv_head != n_head:
        n_head = n_kv_head
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _llama3_rope_freqs(config: Any) -> Any:
    """Llama 3.1+'s RoPE scaling as llama.cpp reads it: a `rope_freqs` tensor of per-frequency divisors."""
    import numpy as np
    import torch
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, torch.device("cpu"))
    dim = _head_dim(config)
    base = float(_rope_parameters(config)["rope_theta"])
    plain = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    return (plain / scaled.double()).numpy().astype(np.float32)


# ---- Ollama Modelfile ----------------------------------------------------------------------------------------------


def modelfile_text(run: ExportRun, gguf_name: str, tokenizer: Any) -> str:
    """The Ollama Modelfile: FROM the file, the prompt format as a TEMPLATE, the run's system prompt and the Compare
    tab's decoding settings, so `ollama run` answers as the studio's Compare tab did.

    TEMPLATE is always written, not left to the chat template inside the GGUF: Ollama does not run Jinja templates,
    it only matches the embedded one against a list of templates it knows, and a fine-tuned run's template (or its
    plain prompt template) is often not on that list, which would leave prompts unformatted. llama.cpp's llama-cli
    reads the embedded chat template itself.
    """
    import dataclasses

    from ft_app.tasks import GenerationSettings

    fmt = prompt_format(run.config, tokenizer)
    settings = dataclasses.asdict(GenerationSettings())  # the Compare tab's defaults, as the demo Space uses
    add_bos, _ = _adds_specials(tokenizer)
    template, stops = _ollama_template(fmt, tokenizer, add_bos)
    lines = [
        f"# Ollama Modelfile made by Fine-Tune Studio from run {run.run_id} (base model {run.base_model}).",
        f"# Use: ollama create {ollama_name(run)} -f Modelfile && ollama run {ollama_name(run)}",
        f"FROM ./{gguf_name}",
        "",
        f"TEMPLATE {_quoted(template)}",
    ]
    if fmt.mode == "chat" and fmt.system_prompt:
        lines.append(f"SYSTEM {_quoted(fmt.system_prompt)}")
    elif run.config.data.system_prompt:
        lines.append("# The run's system prompt is not part of its prompt format, so it is left out here too.")
    lines += [
        "",
        "# Decoding as in the studio's Compare tab: temperature 0 is greedy; no repetition penalty (Ollama's own",
        "# default is 1.1, which would change the answers).",
        f"PARAMETER temperature {settings['temperature']:g}",
        f"PARAMETER top_p {settings['top_p']:g}",
        f"PARAMETER num_predict {settings['max_new_tokens']}",
        f"PARAMETER seed {settings['seed']}",
        "PARAMETER repeat_penalty 1",
    ]
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stops]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A Modelfile value in triple quotes (multi-line text keeps its line breaks)."""
    if '"""' in text:
        raise ValueError('The prompt format contains """, which an Ollama Modelfile cannot quote.')
    return f'"""{text}"""'


def _go_text(text: str) -> str:
    """Literal text inside a Go template: `{{` would start an action, so it is written as an action printing it."""
    return text.replace("{{", '{{ "{{" }}')


def _ollama_template(fmt: Any, tokenizer: Any, add_bos: bool) -> tuple[str, list[str]]:
    """The run's prompt format as an Ollama (Go) template, and the stop strings that end an answer."""
    eos = tokenizer.eos_token if isinstance(tokenizer.eos_token, str) else None
    stops = [eos] if eos else []
    if fmt.mode == "plain":
        return "{{ .Prompt }}", stops
    if fmt.mode == "template":
        parts = fmt.render("\x00").split("\x00")
        return "{{ .Prompt }}".join(_go_text(p) for p in parts) + "{{ .Response }}", stops
    template, turn_end = _chat_template(tokenizer, add_bos)
    if turn_end and turn_end != eos and turn_end in tokenizer.get_vocab():
        stops.append(turn_end)
    return template, stops


SYSTEM_MARK, USER_MARK, ANSWER_MARK = "\x01SYSTEM\x01", "\x01USER\x01", "\x01ANSWER\x01"


def _chat_template(tokenizer: Any, add_bos: bool) -> tuple[str, str | None]:
    """The tokenizer's chat template, rendered with marker messages and turned into the Go template Ollama fills
    per turn: `.System` (or the template's own default), `.Prompt`, then the answer `.Response` and its end."""

    def render(messages: list[dict[str, str]], generation: bool) -> str:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)

    user = {"role": "user", "content": USER_MARK}
    with_answer = render([user, {"role": "assistant", "content": ANSWER_MARK}], False)
    asking = render([user], True)
    head_plain, after_user = asking.split(USER_MARK, 1)
    tail = with_answer.split(ANSWER_MARK, 1)[1] if ANSWER_MARK in with_answer else ""
    turn_end = tail.strip() or None
    try:
        head_system = render([{"role": "system", "content": SYSTEM_MARK}, user], True).split(USER_MARK, 1)[0]
    except Exception:  # noqa: BLE001 - a template that refuses a system message: no SYSTEM then
        head_system = None
    head = _system_head(head_plain, head_system)
    bos = tokenizer.bos_token if isinstance(tokenizer.bos_token, str) else None
    if add_bos and bos and head.startswith(_go_text(bos)):
        head = head[len(_go_text(bos)):]  # llama.cpp adds bos itself (add_bos_token), as the studio's tokenizer does
    return head + "{{ .Prompt }}" + _go_text(after_user) + "{{ .Response }}" + _go_text(tail), turn_end


def _system_head(plain: str, with_system: str | None) -> str:
    """The text before the user's message as a Go template: the system block with `.System` when one is set,
    else what the chat template writes without one (nothing, or its own default system prompt)."""
    if with_system is None or SYSTEM_MARK not in with_system:
        return _go_text(plain)
    end = 0  # the longest common ending (the user turn's opening), never reaching into the marker
    while end < min(len(plain), len(with_system)) and plain[-1 - end] == with_system[-1 - end]:
        end += 1
    end = min(end, len(with_system) - with_system.index(SYSTEM_MARK) - len(SYSTEM_MARK))
    shared_end = plain[len(plain) - end:]
    a, b = with_system[: len(with_system) - end], plain[: len(plain) - end]
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start] and a[start] != "\x01":
        start += 1
    system_part = _go_text(a[start:]).replace(SYSTEM_MARK, "{{ .System }}")
    default = f"{{{{ else }}}}{_go_text(b[start:])}" if b[start:] else ""
    return _go_text(a[:start]) + "{{ if .System }}" + system_part + default + "{{ end }}" + _go_text(shared_end)
