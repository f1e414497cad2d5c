"""Trainable-parameter count and a rough GPU-memory estimate for a model, task, method and batch.

Parameters are counted exactly: the model is built from its config on the meta device (no weights
are loaded or allocated) with the task's head, and LoRA is applied with the same `LoraConfig` the
run would use. Memory is an estimate, within about 30% of the real peak:

- weights: full/head 4 bytes per parameter (fp32 master weights) plus, for full fine-tuning, the
  2-byte bf16 copies autocast keeps during the forward pass; LoRA 2 bytes (bf16); 8-bit loading 1
  byte and QLoRA about 0.52 bytes (NF4 + double-quantised scales) for the body's linear layers,
  4 bytes for the rest (peft's k-bit preparation casts it to fp32); adapter weights are fp32 (4 bytes).
- gradients: 4 bytes per trainable parameter; optimizer: 8 per trainable parameter for AdamW
  (two fp32 moments), 2 for 8-bit AdamW, 0 for SGD.
- activations (16-bit, memory-efficient attention, batches padded to max_length), per layer and
  token, after Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
  Models": attention 11h + layer norms 4h + MLP (3h + 4i, or 2h + 8i for gated MLPs) bytes,
  with h the hidden size and i the MLP width; seq2seq decoder layers add cross-attention (13h + 4h
  for the encoder keys/values). Language-model logits add 8 bytes per (token x vocabulary entry).
  Gradient checkpointing keeps only each layer's input (2h) plus one layer in full; head-only
  training keeps no body activations (one layer's worth is live at a time).
- overhead: 0.6 GB for the CUDA context and 5% for allocator fragmentation.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

from .config import (
    DataConfig,
    LoraSettings,
    ModelConfig,
    RunConfig,
)
from .libraries import ensure_loaded
from .methods import get_method
from .modeling import apply_method_changes, build_meta_model, config_key, load_model_config, wrap_for_method
from .tasks import get_task
from .text import count_words, duration_words

logger = logging.getLogger(__name__)

GIB = 2**30
# GPUs people rent or get on Spaces and Colab, with their memory in GiB.
GPUS: dict[str, float] = {"T4 (16 GB)": 16, "A10G / L4 (24 GB)": 24, "A100 (40 GB)": 40, "A100 / H100 (80 GB)": 80}
# Share of a card's memory a run can really use (driver reservations, other processes).
USABLE_SHARE = 0.95
CUDA_CONTEXT_GB = 0.6
FRAGMENTATION = 0.05
OPTIMIZER_BYTES = {"adamw_8bit": 2.0, "paged_adamw_8bit": 2.0, "sgd": 0.0, "adafactor": 0.5}
DEFAULT_OPTIMIZER_BYTES = 8.0
LOGIT_BYTES = 8  # bf16 logits + fp32 copy for the loss + bf16 gradient
ACT_BYTES = 2  # activations kept in 16 bits under mixed precision


@dataclass
class Estimate:
    """Parameter counts and the estimated peak GPU memory (GB = GiB) of one training setup."""

    total_params: int
    trainable_params: int
    weights_gb: float
    optimizer_gb: float
    gradients_gb: float
    activations_gb: float
    overhead_gb: float
    total_gpu_gb: float
    fits: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def trainable_share(self) -> float:
        """Trainable parameters as a share of all (0-1)."""
        return self.trainable_params / self.total_params if self.total_params else 0.0

    def summary(self) -> str:
        """One plain line for the Train tab."""
        return (
            f"Trains {count_words(self.trainable_params, short=True)} of {count_words(self.total_params, short=True)} "
            f"parameters ({self.trainable_share:.2%}). Needs about {self.total_gpu_gb:.1f} GB of GPU memory "
            f"(weights {self.weights_gb:.1f}, optimizer {self.optimizer_gb:.1f}, gradients {self.gradients_gb:.1f}, "
            f"activations {self.activations_gb:.1f})."
        )


@dataclass(frozen=True)
class ParamCounts:
    """Exact parameter counts of one model, task and method."""

    total: int
    trainable: int
    quantizable: int  # parameters of the body's linear layers, which 4-/8-bit loading compresses
    base: int = 0  # the base model's own weights, without adapter layers (what memory holds at the base's precision)


def estimate_config(config: RunConfig, num_labels: int = 2) -> Estimate:
    """The estimate of one run config: every knob the weight count and memory depend on, read from the config, so
    that the plan on the page, the memory check before training and the training process count the same model."""
    t = config.training
    return estimate_run(config.model.name_or_path, config.task, config.method, t.batch_size, config.max_length,
                        num_labels, lora_r=config.lora.r, lora_target_modules=config.lora.target_modules,
                        gradient_checkpointing=t.gradient_checkpointing, optimizer=t.optimizer,
                        max_target_length=config.data.max_target_length,
                        trust_remote_code=config.model.trust_remote_code)


def estimate_run(
    model_name_or_path: str,
    task: str,
    method: str,
    batch_size: int,
    max_length: int,
    num_labels: int = 2,
    lora_r: int = 8,
    lora_target_modules: list[str] | None = None,
    gradient_checkpointing: bool = False,
    *,
    optimizer: str = "adamw_torch",
    max_target_length: int | None = None,
    trust_remote_code: bool = False,
) -> Estimate:
    """Count (trainable) parameters and estimate peak GPU memory for one training setup."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of 1 or more, got {batch_size!r}.")
    if not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a whole number of 1 or more, got {max_length!r}. Try 256.")
    if get_task(task).labels and (not isinstance(num_labels, int) or num_labels < 1):
        raise ValueError(f"num_labels must be 1 or more, got {num_labels!r}. Use 2 for positive/negative.")
    # The run config validates task, method and LoRA knobs with the same messages the Train button gives.
    run = RunConfig(
        task=task,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        model=ModelConfig(name_or_path=model_name_or_path, trust_remote_code=trust_remote_code),
        data=DataConfig(train="(estimate)"),
        lora=LoraSettings(r=lora_r, alpha=2 * lora_r, target_modules=list(lora_target_modules) if lora_target_modules else None),
    )
    config = load_model_config(run.model)
    counts = count_parameters(
        model_name_or_path, task, method, num_labels, lora_r, lora_target_modules, trust_remote_code=trust_remote_code
    )
    # Adapters are counted among the trained weights (as the training process counts them), and held in fp32.
    weights = get_method(method).weights_bytes(counts.base or counts.total, counts.trainable, counts.quantizable)
    trainable = counts.trainable
    gradients = 4.0 * trainable
    optimizer_bytes = OPTIMIZER_BYTES.get(optimizer, DEFAULT_OPTIMIZER_BYTES) * trainable
    target_len = max_target_length or max_length
    activations = _activation_bytes(config, task, method, batch_size, max_length, target_len, gradient_checkpointing)
    subtotal = weights + gradients + optimizer_bytes + activations
    overhead = CUDA_CONTEXT_GB * GIB + FRAGMENTATION * subtotal
    total = subtotal + overhead
    total_gb = total / GIB
    est = Estimate(
        total_params=counts.total,
        trainable_params=trainable,
        weights_gb=weights / GIB,
        optimizer_gb=optimizer_bytes / GIB,
        gradients_gb=gradients / GIB,
        activations_gb=activations / GIB,
        overhead_gb=overhead / GIB,
        total_gpu_gb=total_gb,
        fits={name: total_gb <= size * USABLE_SHARE for name, size in GPUS.items()},
    )
    est.notes = _notes(est, run, config, batch_size, max_length, target_len, gradient_checkpointing)
    return est


# ---- config and parameter counts ------------------------------------------------------------


def count_parameters(
    model_name_or_path: str,
    task: str,
    method: str,
    num_labels: int = 2,
    lora_r: int = 8,
    lora_target_modules: tuple[str, ...] | None = None,
    *,
    trust_remote_code: bool = False,
) -> ParamCounts:
    """Total, trainable and quantizable parameter counts, from a meta-device model (cached)."""
    targets = tuple(lora_target_modules) if lora_target_modules else None
    model = ModelConfig(name_or_path=model_name_or_path, trust_remote_code=trust_remote_code)
    return _count_cached(config_key(model), task, method, num_labels, lora_r, targets)


@functools.lru_cache(maxsize=128)
def _count_cached(
    key: tuple[str, float, bool, str | None, bool],
    task: str,
    method: str,
    num_labels: int,
    lora_r: int,
    targets: tuple[str, ...] | None,
) -> ParamCounts:
    """The counts of the model the training process trains, built the same way on the meta device: the method's
    changes to the base (a mean-pooling layer), then its wrapping (frozen body, LoRA layers), counted by the same
    function the training process reports with (tied weights once, adapters and saved head copies included)."""
    from .modeling import count_parameters as count_trained  # this module's count_parameters is the cached one

    name, trust_remote_code = key[0], key[4]
    model_config = ModelConfig(name_or_path=name, revision=key[3], trust_remote_code=trust_remote_code)
    config = load_model_config(model_config)
    model = build_meta_model(config, task, num_labels, trust_remote_code=trust_remote_code)
    run = RunConfig(
        task=task,  # type: ignore[arg-type]
        method=method,  # type: ignore[arg-type]
        model=model_config,
        data=DataConfig(train="(estimate)"),
        lora=LoraSettings(r=lora_r, alpha=2 * lora_r, target_modules=list(targets) if targets else None),
    )
    apply_method_changes(model, run)
    quantizable = _quantizable_params(model)
    base = sum(p.numel() for p in model.parameters())
    try:
        with warnings.catch_warnings():
            # GPT-2's Conv1D layers make peft warn that it flips fan_in_fan_out; harmless, and noise in the app log.
            warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
            wrapped = wrap_for_method(model, run, prepare_quantized=False)
    except ValueError as exc:
        if not get_method(method).adapter:
            raise
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ in ("Linear", "Conv1D")})
        raise ValueError(
            f"LoRA target modules {list(targets or [])!r} do not match layers of {name!r}. "
            f"Its linear layers are named: {', '.join(linear[:12])}. Leave target modules empty for the usual choice."
        ) from exc
    trainable, total = count_trained(wrapped)
    return ParamCounts(total=total, trainable=trainable, quantizable=quantizable, base=base)


def _quantizable_params(model: Any) -> int:
    """Parameters in the body's linear layers: what bitsandbytes stores in 4 or 8 bits."""
    ensure_loaded()
    import torch
    from transformers.pytorch_utils import Conv1D

    body = getattr(model, model.base_model_prefix, model)
    return sum(
        m.weight.numel() for m in body.modules() if isinstance(m, (torch.nn.Linear, Conv1D)) and m.weight is not None
    )


# ---- memory ---------------------------------------------------------------------------------


def _dims(config: Any) -> dict[str, Any]:
    """Layer count, widths and vocabulary of a (text) config, whatever the family calls them."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    h = int(getattr(text, "hidden_size", 0) or getattr(text, "d_model", 0) or 768)
    inter = getattr(text, "intermediate_size", None) or getattr(text, "d_ff", None) or getattr(text, "n_inner", None)
    act = str(getattr(text, "hidden_act", "") or getattr(text, "activation_function", ""))
    ff = str(getattr(text, "feed_forward_proj", "") or "")
    return {
        "layers": int(getattr(text, "num_hidden_layers", 0) or 12),
        "decoder_layers": int(getattr(text, "num_decoder_layers", None) or getattr(text, "num_hidden_layers", 0) or 12),
        "hidden": h,
        "inter": int(inter or 4 * h),
        "gated": ff.startswith("gated") or act in ("silu", "swish", "swiglu", "geglu"),
        "vocab": int(getattr(text, "vocab_size", 0) or 32000),
        "encoder_decoder": bool(getattr(text, "is_encoder_decoder", False)),
    }


def _activation_bytes(
    config: Any, task: str, method: str, batch: int, seq: int, target_len: int, checkpointing: bool
) -> float:
    d = _dims(config)
    h, i = d["hidden"], d["inter"]
    mlp = (2 * h + 8 * i) if d["gated"] else (3 * h + 4 * i)
    enc_layer = 11 * h + 4 * h + mlp  # bytes per token per layer
    dec_layer = enc_layer + 13 * h + 4 * h  # + cross-attention and the encoder's keys/values
    if d["encoder_decoder"]:
        layers = [(enc_layer, seq)] * d["layers"] + [(dec_layer, target_len)] * d["decoder_layers"]
    else:
        layers = [(enc_layer, seq)] * d["layers"]
    full = sum(per_token * tokens for per_token, tokens in layers) * batch
    largest = max(per_token * tokens for per_token, tokens in layers) * batch
    if get_method(method).head_only:  # the frozen body keeps no activations: one layer's worth is live at a time
        body = largest
    elif checkpointing:
        body = sum(ACT_BYTES * h * tokens for _, tokens in layers) * batch + largest
    else:
        body = full
    over = get_task(task).lm_logits
    logits = LOGIT_BYTES * batch * {"input": seq, "target": target_len}[over] * d["vocab"] if over else 0.0
    return float(body + logits)


def _notes(
    est: Estimate, run: RunConfig, config: Any, batch: int, seq: int, target_len: int, checkpointing: bool
) -> list[str]:
    notes = [
        (
            f"A rough estimate (within about 30%) of peak GPU memory, assuming every batch of {batch} is "
            f"{seq} tokens long; real batches are usually shorter."
        )
    ]
    method = get_method(run.method)
    if method.quantized:
        notes.append(f"Method {run.method!r} loads the model with bitsandbytes and needs an NVIDIA GPU.")
    if method.big_model_note and est.total_params > 1_000_000_000:
        notes.append(method.big_model_note)
    if not any(est.fits.values()):
        notes.append("Even an 80 GB GPU is too small: use QLoRA, a smaller batch or a shorter max length.")
    if not checkpointing and not method.head_only and est.activations_gb > 0.4 * est.total_gpu_gb:
        saved = _activation_bytes(config, run.task, run.method, batch, seq, target_len, True) / GIB
        notes.append(
            f"Activations take most of the memory: gradient checkpointing would cut them to about {saved:.1f} GB "
            "(about 30% slower), or lower the batch size or max length."
        )
    return notes


# ---- time ------------------------------------------------------------------------------------

# Training math a run really gets per second. CPU: calibrated on this project's 2-core machine, where MiniLM
# (10.6M parameters in its linear layers) trained at 126 rows/s of 16 tokens (6 x 10.6M x 16 x 126 = 1.3e11 on
# 2 threads, bench/README.md). GPU: what a T4/A10G-class card sustains in mixed precision on small batches.
CPU_FLOPS_PER_THREAD = 6.5e10
GPU_FLOPS = 2.0e13
# Per-step costs besides the math (data loading, optimizer launch, logging), and seconds per trainable weight
# for the AdamW update (fused AdamW: 15 ms for MiniLM's 22.7M weights on the CPU).
STEP_OVERHEAD_S = {"cpu": 0.01, "gpu": 0.02}
OPTIMIZER_S_PER_PARAM = {"cpu": 7e-10, "gpu": 2e-12}
# Loading the model and data, saving the result.
FIXED_S = {"cpu": 10.0, "gpu": 15.0}


def training_seconds(
    counts: ParamCounts,
    method: str,
    *,
    examples: int,
    steps: int,
    tokens_per_row: float,
    eval_rows: int = 0,
    device: str = "cpu",
    threads: int = 1,
) -> float:
    """Rough wall-clock seconds of a run: training math, per-step costs, evaluating before and after, loading."""
    kind = "cpu" if device == "cpu" else "gpu"
    flops_per_s = CPU_FLOPS_PER_THREAD * max(1, threads) if kind == "cpu" else GPU_FLOPS
    compute = max(1, counts.quantizable)  # the linear layers do the math; embeddings are look-ups
    train = examples * tokens_per_row * get_method(method).flops_per_param_token * compute / flops_per_s
    evaluate = 2 * eval_rows * tokens_per_row * 2 * compute / flops_per_s
    per_step = steps * (STEP_OVERHEAD_S[kind] + OPTIMIZER_S_PER_PARAM[kind] * counts.trainable)
    return FIXED_S[kind] + train + evaluate + per_step


def train_rows_after_split(config: RunConfig, rows: int) -> int:
    """How many of a file's rows a run trains on: the held-out share set aside (as data.py does), max_rows applied."""
    import math

    d = config.data
    train = rows
    if not d.validation and d.validation_size > 0:
        held = int(d.validation_size) if d.validation_size >= 1 else None
        if d.max_rows:
            capped = held if held is not None else max(1, round(d.max_rows * d.validation_size))
            if rows > d.max_rows + capped:
                rows, held = d.max_rows + capped, capped
        held = held if held is not None else math.ceil(rows * d.validation_size)
        train = rows - held
    return max(0, min(train, d.max_rows) if d.max_rows else train)


@dataclass(frozen=True)
class MeasuredSpeed:
    """How fast a run of this kind trained on this machine: its seconds per optimizer step, measured by a run's steps
    or by a trial of a few steps before Train (then with the memory the trial took)."""

    run_id: str  # the run that measured it; "" for a trial
    s_per_step: float
    steps: int
    peak_gb: float | None = None  # a trial's peak memory, and what the device had free
    free_gb: float | None = None

    def words(self) -> str:
        """'measured on run X's 29 steps (0.41 s a step)', or for a trial 'measured on 4 trial steps (0.41 s a step;
        peak memory 1.2 GB of 20 GB free)'."""
        per = f"{self.s_per_step:.2g} s a step"
        if self.run_id:
            return f"measured on run {self.run_id}'s {self.steps} steps ({per})"
        if self.peak_gb is not None and self.free_gb is not None:
            from .trials import FITS_SHARE

            if self.peak_gb <= self.free_gb * FITS_SHARE:
                per += f"; peak memory {self.peak_gb:.1f} GB of {self.free_gb:.0f} GB free"
            else:
                per += (f"; peak memory {self.peak_gb:.1f} GB, more than the {self.free_gb:.1f} GB free here: lower "
                        "the batch size or the max length, or use LoRA")
        return f"measured on {self.steps} trial steps ({per})"


# What makes two runs' steps cost the same: the same model, task, method, batch, length and memory savers.
def speed_key(config: RunConfig) -> tuple[Any, ...]:
    """The knobs a step's cost depends on, as one comparable value."""
    t = config.training
    return (config.model.name_or_path, config.task, config.method, t.batch_size, t.gradient_accumulation_steps,
            config.max_length, config.lora.r if get_method(config.method).adapter else None,
            t.gradient_checkpointing, t.precision, t.num_processes)


def measured_speed(store: Any, config: RunConfig) -> MeasuredSpeed | None:
    """The speed the newest run of the same kind measured here (a RunStore's runs, newest first), or None.

    A plan built on it says what a step really costs on this machine, which a model of the hardware cannot know
    (other programs, a busy CPU, memory bandwidth)."""
    from .runs import MEASURE_STEPS
    from .trials import latest_trial

    key = speed_key(config)
    trial = latest_trial(store, key)
    for summary in store.list_runs():
        status = store.read_status(summary.path)
        per_step, steps = status.get("s_per_step"), int(status.get("measured_steps") or 0)
        if not isinstance(per_step, (int, float)) or per_step <= 0 or steps < MEASURE_STEPS:
            continue
        try:
            if speed_key(store.read_config(summary.path)) != key:
                continue
        except ValueError:  # a run folder from an older version, or a broken config: not comparable
            continue
        if trial is not None and trial.when > str(status.get("finished") or summary.created or ""):
            break  # a trial taken since: the newer measure of this machine as it is now
        return MeasuredSpeed(run_id=summary.run_id, s_per_step=float(per_step), steps=steps)
    if trial is None:
        return None
    return MeasuredSpeed(run_id="", s_per_step=trial.s_per_step, steps=trial.steps, peak_gb=trial.peak_gb,
                         free_gb=trial.free_gb)


@dataclass
class Plan:
    """What a run will do before it starts: its recipe, and how long it should take here and on a GPU."""

    recipe: Any  # recipe.Recipe
    seconds_here: float
    seconds_gpu: float
    device: str  # "cpu", "cuda" or "mps"
    measured: MeasuredSpeed | None = None  # the run whose steps timed this plan, when one did

    def time_text(self) -> str:
        """'about 3 minutes here; on a GPU it would take about 20 seconds', or on a GPU machine 'about 40 seconds here';
        'about 9 minutes here, measured on run X's steps (1.3 s a step)' when a run of the same kind timed it.

        The GPU is named only where it would be clearly faster: a GPU run pays start-up costs that a run of a few
        seconds here never recovers.
        """
        here = f"{duration_words(self.seconds_here)} here"
        if self.measured is not None:
            here += f", {self.measured.words()}"
        if self.device == "cpu" and self.seconds_gpu < self.seconds_here / 2:
            return f"{here}; on a GPU it would take {duration_words(self.seconds_gpu)}"
        return here


def plan_run(
    config: RunConfig,
    rows: int,
    *,
    tokens_per_row: float | None = None,
    num_labels: int = 2,
    device: str | None = None,
    threads: int | None = None,
    rows_are_training_rows: bool = False,
    measured: MeasuredSpeed | None = None,
) -> Plan:
    """The auto recipe for this config and data size, with a time estimate for this machine and for a GPU.

    `rows` counts the data file's rows (the held-out share is taken off), or the training rows with
    `rows_are_training_rows`. `tokens_per_row` is the mean token length (the Data tab measures it).
    """
    from .config import recipe_inputs
    from .recipe import choose_recipe

    train_rows = rows if rows_are_training_rows else train_rows_after_split(config, rows)
    if train_rows < 1:
        raise ValueError(f"{rows} rows leave nothing to train on once the held-out share is set aside. Add rows.")
    counts = count_parameters(
        config.model.name_or_path,
        config.task,
        config.method,
        num_labels,
        config.lora.r,
        tuple(config.lora.target_modules) if config.lora.target_modules else None,
        trust_remote_code=config.model.trust_remote_code,
    )
    recipe = choose_recipe(**recipe_inputs(config, train_rows, 1, counts.total))
    if device is None or threads is None:
        from .modeling import device_info

        info = device_info()
        device = device or info.kind
        if threads is None:
            import torch

            threads = torch.get_num_threads()
    tokens = tokens_per_row or min(config.max_length, get_task(config.task).typical_tokens)
    held = max(0, rows - train_rows) if not rows_are_training_rows else 0
    eval_rows = min(held, config.data.max_eval_rows or held) if config.evaluation.before_after else 0
    common = dict(examples=recipe.total_steps * recipe.examples_per_step, steps=recipe.total_steps,
                  tokens_per_row=tokens, eval_rows=eval_rows)
    here = training_seconds(counts, config.method, device=device, threads=threads, **common)
    gpu = training_seconds(counts, config.method, device="cuda", **common)
    if measured is not None:  # the steps as they really ran here; loading and evaluating as estimated
        here = measured.s_per_step * recipe.total_steps + training_seconds(
            counts, config.method, device=device, threads=threads, **{**common, "examples": 0, "steps": 0})
    return Plan(recipe=recipe, seconds_here=here, seconds_gpu=gpu, device=device, measured=measured)


def describe_plan(config: RunConfig, rows: int, **kwargs: Any) -> str:
    """One plain line for the Train tab: '360 rows: 9 passes, 405 steps, learning rate 0.0001, warm-up 41 steps;
    about 2 minutes here; on a GPU it would take about 20 seconds'."""
    from .recipe import describe

    plan = plan_run(config, rows, **kwargs)
    return describe(plan.recipe, plan.time_text())
