"""Load the base model for a method (full, head-only, LoRA, QLoRA, 8-bit) on the right device and dtype."""

from __future__ import annotations

import copy
import functools
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.config import ModelConfig, RunConfig, to_bnb_config, to_lora_config
from ft_app.hub import HubUnreachableError, hub_error, hub_status
from ft_app.hub_token import token_kwargs
from ft_app.libraries import ensure_loaded
from ft_app.limits import position_limit
from ft_app.methods import get_method
from ft_app.paths import looks_like_path
from ft_app.pooling import (
    add_mean_pooling_layer,
    can_add_mean_pooling,
    has_mean_pooling_layer,
    sentence_pooling,
    start_pooler_as_identity,
)
from ft_app.tasks import get_task
from ft_app.text import first_line

log = logging.getLogger(__name__)


@dataclass
class DeviceInfo:
    """What this machine offers for training."""

    kind: str  # "cuda", "mps" or "cpu"
    name: str
    bf16: bool
    count: int
    memory_gb: float | None = None  # one GPU's memory on CUDA, else the machine's RAM
    cpus: int = 1

    @property
    def cuda(self) -> bool:
        """Whether an NVIDIA GPU is available."""
        return self.kind == "cuda"


@dataclass
class LoadedModel:
    """A model ready to train, with its tokenizer and parameter counts."""

    model: Any
    tokenizer: Any
    trainable_params: int
    total_params: int


@functools.lru_cache(maxsize=1)
def device_info() -> DeviceInfo:
    """Detect CUDA, then Apple MPS, then CPU."""
    import psutil
    import torch

    cpus = os.cpu_count() or 1
    ram_gb = psutil.virtual_memory().total / 2**30
    if torch.cuda.is_available():
        memory = torch.cuda.get_device_properties(0).total_memory / 2**30
        return DeviceInfo("cuda", torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported(),
                          torch.cuda.device_count(), memory, cpus)
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return DeviceInfo("mps", "Apple GPU", False, 1, ram_gb, cpus)  # Apple GPUs share the machine's memory
    return DeviceInfo("cpu", "CPU", False, 0, ram_gb, cpus)


def is_bitsandbytes_available() -> bool:
    """Whether the bitsandbytes package is installed."""
    return importlib.util.find_spec("bitsandbytes") is not None


def check_method_supported(config: RunConfig, device: DeviceInfo | None = None) -> None:
    """Refuse QLoRA/8-bit where they cannot run, saying why and what to choose instead."""
    method = get_method(config.method)
    if not method.quantized:
        return
    device = device or device_info()
    label = method.label
    if not device.cuda:
        raise ValueError(
            f"method {config.method!r} ({label}) needs an NVIDIA GPU with CUDA, and this machine has "
            f"{'an Apple GPU' if device.kind == 'mps' else 'none'}. Choose 'lora' instead (same adapter, "
            "full-precision base), or run on a GPU machine."
        )
    if not is_bitsandbytes_available():
        raise ValueError(
            f"method {config.method!r} ({label}) needs the bitsandbytes package, which is not installed. "
            "Install it with: pip install bitsandbytes"
        )


def load_model_config(model: ModelConfig) -> Any:
    """The model's config.json (cheap; cached, so shared: copy it before changing it), every way it can fail a plain
    sentence: a missing or wrong folder, pickled weights, custom code, an unknown kind, the Hub's errors."""
    key = config_key(model)
    try:
        # A visitor's token is never cached: no other visitor gets what it opened.
        return (_read_config if token_kwargs() else _cached_config)(*key)
    except (OSError, ValueError) as exc:
        source, text = model.name_or_path.strip(), str(exc)
        if "trust_remote_code" in text:
            raise ValueError(
                f"Model {source!r} needs its own Python code to load (trust_remote_code). That is off by default "
                "because the code runs on this machine. Turn 'Trust remote code' on only if you trust its authors, "
                "or pick a model that transformers supports natively."
            ) from exc
        if isinstance(exc, ValueError) and ("model_type" in text or "Unrecognized" in text):
            raise ValueError(
                f"Model {source!r} is of a kind this version of transformers does not know: {first_line(exc)}"
            ) from exc
        raise ValueError(hub_model_error(source, exc, "read the config of model")) from exc


def config_key(model: ModelConfig) -> tuple[str, float, bool, str | None, bool]:
    """What a model's config is cached by: (folder or Hub id, config.json's mtime so that a re-saved folder is read
    again, local files only, revision, trust remote code); a plain error for a folder that is not a saved model."""
    source = model.name_or_path.strip()
    if not source:
        from ft_app.catalog import no_model_message

        raise ValueError(no_model_message())
    if not looks_like_path(source):
        # Offline: go straight to the local cache instead of waiting on the network.
        return source, 0.0, not hub_status().reachable, model.revision, model.trust_remote_code
    path = Path(source).expanduser()
    if not path.exists():
        raise ValueError(f"Model folder {source!r} does not exist. Check the path, or type a Hub model id.")
    if not path.is_dir():
        raise ValueError(f"Model path {source!r} is a file; point to the folder that holds config.json.")
    if not (path / "config.json").is_file():
        raise ValueError(
            f"Model folder {source!r} has no config.json, so it is not a saved model. Point to the folder "
            "that save_pretrained wrote (with config.json and the weights)."
        )
    check_safetensors_only(path, source)
    return str(path.resolve()), (path / "config.json").stat().st_mtime, True, model.revision, model.trust_remote_code


def _read_config(name: str, stamp: float, local_only: bool, revision: str | None, trust_remote_code: bool) -> Any:
    ensure_loaded()
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name, revision=revision, local_files_only=local_only,
                                      trust_remote_code=trust_remote_code, **token_kwargs())


_cached_config = functools.lru_cache(maxsize=64)(_read_config)


def build_meta_model(config: Any, task: str, num_labels: int = 2, trust_remote_code: bool = False) -> Any:
    """The task's model built from `config` on the meta device: shapes only, no memory for weights."""
    ensure_loaded()
    import torch

    from ft_app.tasks import get_task

    config = copy.deepcopy(config)  # the cached config must not get our num_labels
    config.num_labels = num_labels  # read by a classification head only
    try:
        # torch's device context is per thread. accelerate's init_empty_weights patches nn.Module for the whole
        # process, so a model that Compare or a run loaded in another thread meanwhile came out with empty weights.
        with torch.device("meta"):
            model = get_task(task).model_class().from_config(config, trust_remote_code=trust_remote_code)
    except ValueError as exc:
        raise ValueError(
            f"A {config.model_type!r} model cannot be used for task {task!r} ({first_line(exc)}). "
            "Pick another task or model."
        ) from exc
    # Building on the meta device leaves shared weights (e.g. GPT-2's input/output embeddings) untied; tie them so
    # each counts once, as in the real model.
    model.tie_weights()
    return model


def check_safetensors_only(path: Path, source: str) -> None:
    """Refuse a local model folder whose weights are only pickled (.bin): loading a pickle can run code."""
    pickled = sorted(p.name for p in path.glob("*.bin") if p.name.startswith(("pytorch_model", "model")))
    if pickled and not any(path.glob("*.safetensors")):
        raise ValueError(
            f"Model folder {source!r} has only pickled PyTorch weights ({pickled[0]}). This app loads safetensors "
            "weights only, because loading a pickled file can run code. Convert the folder once, on a machine you "
            "trust: load it with transformers (the class it was saved with, e.g. AutoModelForCausalLM."
            "from_pretrained(folder)) and call save_pretrained(folder, safe_serialization=True), which writes "
            "model.safetensors; then try again."
        )


def hub_model_error(source: str, exc: BaseException, what: str = "load model") -> str:
    """A plain sentence for a model that could not be found or fetched ("Could not <what> 'source': ...")."""
    text = str(exc).lower()
    if "safetensors" in text and ("does not appear to have" in text or "no file named" in text):
        return (
            f"Model {source!r} has no safetensors weights on the Hub. For safety this app loads only safetensors "
            "from the Hub (pickled .bin weights can run code). Pick a model that ships model.safetensors."
        )
    error = hub_error(exc, f"{what} {source!r}")
    if error is None:  # not the Hub's: a local folder's file, or the library's own words
        return f"Could not {what} {source!r}: {first_line(exc)}"
    if isinstance(error, HubUnreachableError):
        from ft_app.catalog import local_models_hint

        hint = local_models_hint()  # reads the disk: once
        return f"{error} Pick a local model folder instead." + (f" {hint}" if hint else "")
    return str(error)


def effective_max_length(config: RunConfig, model_config: Any) -> int:
    """The token limit for this run: the user's, checked against the model, or the task default capped by it."""
    limit = position_limit(model_config)
    if config.data.max_length is not None:
        if limit is not None and config.data.max_length > limit:
            raise ValueError(
                f"Max length (tokens) {config.data.max_length} is above what {config.model.name_or_path!r} can read "
                f"({limit} tokens). Use {limit} or less."
            )
        return config.data.max_length
    return min(config.max_length, limit) if limit else config.max_length


def load_tokenizer(config: RunConfig) -> Any:
    """The model's tokenizer, with a pad token (decoder-only models often lack one)."""
    ensure_loaded()
    from transformers import AutoTokenizer

    m = config.model
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            m.name_or_path, revision=m.revision, trust_remote_code=m.trust_remote_code, **token_kwargs()
        )
    except OSError as exc:
        raise ValueError(hub_model_error(m.name_or_path, exc)) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if get_task(config.task).continues_prompt:
        tokenizer.padding_side = "right"  # training pads on the right; generation handles one row at a time
    return tokenizer


def weights_kwargs(source: str) -> dict[str, Any]:
    """Hub models load from safetensors only (pickled weights can run code); local folders load as they are."""
    return {**token_kwargs(), **({} if looks_like_path(source) else {"use_safetensors": True})}


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as their unpacked size."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if p.__class__.__name__ == "Params4bit":
            n *= 2  # two 4-bit values are packed per byte
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def load_dtype(config: RunConfig, device: DeviceInfo) -> Any:
    """The dtype to load weights in: fp32 for full/head training and on CPU, bf16/fp16 for adapters on a GPU."""
    import torch

    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if config.model.dtype != "auto":
        return names[config.model.dtype]
    if device.cuda and config.uses_adapter:
        return torch.bfloat16 if device.bf16 else torch.float32
    # Full fine-tuning keeps fp32 master weights; mixed precision comes from the Trainer.
    return torch.float32


def load_base_model(config: RunConfig, tokenizer: Any, label_names: list[str] | None = None, *,
                    method_changes: bool = True) -> Any:
    """The pretrained model for the task, unwrapped: seeded new head, method's dtype, 4/8-bit where asked.

    `method_changes=False` leaves out what a method changes in the base before training (the mean-pooling layer and
    identity pooler of full and head-only runs): the model every method starts from, whose new head is the same
    seeded guess for all of them, which is what a run's "before" measures.
    """
    ensure_loaded()
    import torch
    from transformers import set_seed

    from ft_app.tasks import get_task

    check_method_supported(config)
    # A new head is initialised from the global RNG: seed it so the base model is the same every time.
    set_seed(config.training.seed)
    device = device_info()
    task = get_task(config.task)
    m = config.model
    kwargs: dict[str, Any] = dict(
        revision=m.revision,
        trust_remote_code=m.trust_remote_code,
        dtype=load_dtype(config, device),
        **weights_kwargs(m.name_or_path),
        **task.model_kwargs(label_names),
    )
    if get_method(config.method).quantized:
        compute = torch.bfloat16 if device.bf16 else torch.float16
        kwargs["quantization_config"] = to_bnb_config(config, compute)
        kwargs["device_map"] = {"": _local_rank()}
    try:
        model = task.model_class().from_pretrained(m.name_or_path, **kwargs)
    except OSError as exc:
        raise ValueError(hub_model_error(m.name_or_path, exc)) from exc
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if method_changes:
        apply_method_changes(model, config)
    return model


def apply_method_changes(model: Any, config: RunConfig) -> None:
    """What a method changes in the loaded base before it is wrapped (in place; a meta-device model too, so that the
    plan's estimate counts the model the training process trains): a full or head-only run of a mean-pooling
    sentence-embedding model reads the mean through an added, frozen layer.

    Only a whole-model result may carry the added pooling layer (an adapter must fit the unchanged base model).
    """
    method = get_method(config.method)
    if method.mean_pooling and get_task(config.task).has_head:
        _pool_like_the_embedding_model(model, config.model, method.identity_pooler)


def _pool_like_the_embedding_model(model: Any, m: ModelConfig, identity_pooler: bool) -> None:
    """A mean-pooling sentence-embedding model: let the new head read the mean of the tokens, not the [CLS] token."""
    if has_mean_pooling_layer(model):
        return
    mode = sentence_pooling(m.name_or_path, _model_file_reader(m))
    if mode != "mean":
        return
    if not can_add_mean_pooling(model):
        log.info("%s was trained with mean pooling, but its layers are not BERT-style: the head reads [CLS].",
                 m.name_or_path)
        return
    add_mean_pooling_layer(model)
    if identity_pooler:  # head-only: the new head starts as a linear probe on the mean
        start_pooler_as_identity(model)
    log.info("%s is a sentence-embedding model trained with mean pooling: the new head reads the mean of the "
             "token vectors (one fixed pooling layer added on top).", m.name_or_path)


def _model_file_reader(m: ModelConfig) -> Any:
    """Read one small file of a model: from its folder, or from the Hub (None when it has no such file)."""
    if looks_like_path(m.name_or_path):
        folder = Path(m.name_or_path).expanduser()
        return lambda name: (folder / name).read_text(encoding="utf-8") if (folder / name).is_file() else None

    def read(name: str) -> str | None:
        from huggingface_hub import hf_hub_download

        try:
            path = hf_hub_download(m.name_or_path, name, revision=m.revision, **token_kwargs())
        except Exception as exc:
            error = hub_error(exc, f"read {name} of {m.name_or_path}")
            if error is None:
                raise
            # Not a sentence-embedding model, or offline without the file cached: the head reads the model's pooler.
            log.log(logging.INFO if error.kind in ("not_found", "offline") else logging.WARNING, "%s", error)
            return None
        return Path(path).read_text(encoding="utf-8")

    return read


def load_model(config: RunConfig, tokenizer: Any, label_names: list[str] | None = None) -> LoadedModel:
    """Load the base model, then wrap it for the method."""
    m = config.model
    model = wrap_for_method(load_base_model(config, tokenizer, label_names), config)
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise ValueError(f"No parameter of {m.name_or_path!r} is trainable with method {config.method!r}.")
    log.info("Trainable parameters: %s of %s (%.2f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    return LoadedModel(model=model, tokenizer=tokenizer, trainable_params=trainable, total_params=total)


def wrap_for_method(model: Any, config: RunConfig, prepare_quantized: bool = True) -> Any:
    """The base made ready for its method: head-only freezes the body, an adapter method wraps it in LoRA layers (a
    quantized base prepared first, unless `prepare_quantized` is off: a meta-device model the estimate counts)."""
    method = get_method(config.method)
    if method.head_only:
        body = getattr(model, model.base_model_prefix, None)
        if body is None or body is model:
            raise ValueError(
                f"Cannot tell the body from the head of {config.model.name_or_path!r}, so method {config.method!r} "
                "cannot train the head alone. Use 'full' or 'lora'."
            )
        freeze_body(model)
    elif method.adapter:
        from peft import get_peft_model, prepare_model_for_kbit_training

        if method.quantized and prepare_quantized:
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=config.training.gradient_checkpointing
            )
        model = get_peft_model(model, to_lora_config(config, model.config.model_type))
    return model


def head_modules(model: Any) -> list[str]:
    """Names of the body's modules that only feed the classification head: trained with it in head-only runs.

    BERT-style bodies end in a pooler (dense + tanh on [CLS]). It was trained for next-sentence prediction in
    bert-base and never trained at all in sentence-embedding models, so the new head learns it too.
    """
    body = getattr(model, model.base_model_prefix, None)
    from ft_app.tasks.classification import CLASSIFIER_FEEDERS

    return [name for name in CLASSIFIER_FEEDERS if hasattr(getattr(body, name, None), "parameters")]


def freeze_body(model: Any) -> None:
    """Head-only: freeze the body except the modules that only feed the head (its pooler)."""
    body = getattr(model, model.base_model_prefix)
    for p in body.parameters():
        p.requires_grad = False
    for name in head_modules(model):
        for p in getattr(body, name).parameters():
            p.requires_grad = True


def _local_rank() -> int:
    import os

    return int(os.environ.get("LOCAL_RANK", 0))
