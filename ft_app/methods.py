"""The training methods, one record each: what the page and the card call it, what it trains, how it loads the base,
its usual learning rate, and what the estimate, the recipe, the merge and the exports need to know about it.

This is the only module that knows a method by its name; every other module asks its record (`get_method`), so
that a method's traits live in one place and the page, the engine and the exports cannot disagree about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Bytes a base weight takes when 4-bit (NF4 + 8-bit absmax per 64 weights + fp32 scale per 256 absmax: double
# quantisation) or 8-bit loaded; what stays unquantised is cast to fp32 by peft's k-bit preparation.
NF4_BYTES = 0.516
INT8_BYTES = 1.0


@dataclass(frozen=True)
class Method:
    """One way to fine-tune."""

    name: str
    label: str  # the page's name for it
    help: str  # one line beside the choice on the Train tab
    card_words: str  # how the model card says what was trained
    adapter: bool = False  # trains LoRA adapter layers; the result is an adapter/ folder on top of the base
    head_only: bool = False  # trains only a new head on a frozen body (needs a task with a head)
    quant_bits: int | None = None  # 4 or 8: the base is loaded quantized with bitsandbytes (an NVIDIA GPU)
    # The learning rate for a model of `reference_params`, and how far the model's size may move it (recipe.py).
    base_learning_rate: float = 5e-5
    reference_params: float = 110e6
    size_factor_range: tuple[float, float] = (1.0, 1.0)
    halve_rate_on_long_runs: bool = False  # over recipe.LONG_RUN_STEPS steps the rate is halved
    # Label weights left on "auto" weigh every label the same (a head on a frozen body leans to the common label).
    balanced_labels: bool = False
    # The new head of a mean-pooling embedding model reads the mean of the tokens (only a whole-model result can
    # carry the added pooling layer), and starts as a linear probe on it (pooler = identity).
    mean_pooling: bool = False
    identity_pooler: bool = False
    # Memory and time estimates: bytes per base weight (fp32 master weights, autocast copies, 16-bit bases) and
    # training operations per weight and token.
    weight_bytes: float = 4.0
    flops_per_param_token: int = 6
    # Said beside the memory estimate for a model over 1B parameters.
    big_model_note: str = ""
    # Where the Model tab suggests it (catalog's "fits"): for small or large models, of a task with a new head
    # ("-head": classification) or without one.
    suggested_for: frozenset[str] = frozenset({"small", "large", "small-head", "large-head"})

    @property
    def quantized(self) -> bool:
        """Whether the base is loaded in 4 or 8 bits (bitsandbytes, an NVIDIA GPU)."""
        return self.quant_bits is not None

    @property
    def bits_words(self) -> str:
        """'4-bit' or '8-bit' for a quantized method ('' otherwise)."""
        return f"{self.quant_bits}-bit" if self.quant_bits else ""

    @property
    def quant_bytes(self) -> float | None:
        """Bytes one quantized base weight takes (None: not quantized)."""
        return {4: NF4_BYTES, 8: INT8_BYTES}.get(self.quant_bits or 0)

    @property
    def trains_whole_model(self) -> bool:
        """Whether every weight trains (the result is a whole model/ folder)."""
        return not self.adapter and not self.head_only

    def fits(self, has_head: bool) -> bool:
        """Whether the method suits a task (`has_head`: the task puts a new head on an encoder, classification)."""
        return has_head or not self.head_only

    def weights_bytes(self, total: int, trainable: int, quantizable: int) -> float:
        """Memory the weights take while training: the base (quantized where it is), and fp32 adapters."""
        adapters = 4.0 * trainable if self.adapter else 0.0
        if self.quant_bytes is not None:
            return self.quant_bytes * quantizable + 4.0 * (total - quantizable) + adapters
        return self.weight_bytes * total + adapters

    def bnb_config(self, compute_dtype: Any) -> Any:
        """The `BitsAndBytesConfig` that loads the base for this method (None when it is not quantized)."""
        if not self.quantized:
            return None
        from transformers import BitsAndBytesConfig

        if self.quant_bits == 4:
            return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=compute_dtype)
        return BitsAndBytesConfig(load_in_8bit=True)


FULL = Method(
    name="full",
    label="Full fine-tuning",
    help="trains every weight: best results for small models, needs the most memory.",
    card_words="full fine-tuning (every weight trained)",
    base_learning_rate=5e-5, reference_params=110e6, size_factor_range=(0.4, 2.0), halve_rate_on_long_runs=True,
    mean_pooling=True,
    weight_bytes=6.0,  # fp32 weights + the bf16 copies autocast keeps during the forward pass
    flops_per_param_token=6,  # forward (2) + backward through the activations (2) + weight gradients (2)
    big_model_note="Full fine-tuning of a model over 1B parameters needs a large GPU; LoRA or QLoRA need far less.",
    suggested_for=frozenset({"small", "small-head"}),
)
HEAD = Method(
    name="head",
    label="New head only",
    help="freezes the model and trains only a new output layer: very fast, a bit less accurate (labels only).",
    card_words="a new classification head trained on a frozen model",
    head_only=True,
    # MiniLM, 400 SST-2 rows, 5 seeds: 0.752 dev accuracy at 3e-4, 0.737 at 1e-3 (bench/README.md).
    base_learning_rate=3e-4, reference_params=110e6,
    # MiniLM, 400 SST-2 rows (60% positive): 0.752 -> 0.762 over 5 seeds with every label weighed the same.
    balanced_labels=True,
    # The identity pooler: 0.735 -> 0.752 (5 seeds); full fine-tuning keeps the loaded pooler (0.796 vs 0.792).
    mean_pooling=True, identity_pooler=True,
    weight_bytes=4.0,
    flops_per_param_token=2,  # the frozen body runs forward only
    suggested_for=frozenset({"small-head", "large-head"}),
)
LORA = Method(
    name="lora",
    label="LoRA",
    help="trains small adapter layers: about 1% of the weights, little memory, small files.",
    card_words="LoRA (small adapter layers trained, the base weights frozen)",
    adapter=True,
    base_learning_rate=2e-4, reference_params=1e9, size_factor_range=(1.0, 5.0),
    weight_bytes=2.0,  # the frozen base in 16 bits
    flops_per_param_token=4,  # adapters skip the frozen weights' gradients
)
QLORA = Method(
    name="qlora",
    label="QLoRA (4-bit)",
    help="LoRA on a model loaded in 4-bit: fine-tunes 7-8B models on one GPU (needs an NVIDIA GPU).",
    card_words="QLoRA (LoRA on the base loaded in 4-bit)",
    adapter=True, quant_bits=4,
    base_learning_rate=2e-4, reference_params=1e9, size_factor_range=(1.0, 5.0),
    flops_per_param_token=4,
    suggested_for=frozenset({"small", "large", "large-head"}),
)
LORA8BIT = Method(
    name="lora8bit",
    label="LoRA on 8-bit",
    help="LoRA on a model loaded in 8-bit: between LoRA and QLoRA in memory (needs an NVIDIA GPU).",
    card_words="LoRA on the base loaded in 8-bit",
    adapter=True, quant_bits=8,
    base_learning_rate=2e-4, reference_params=1e9, size_factor_range=(1.0, 5.0),
    flops_per_param_token=4,
    suggested_for=frozenset({"small", "large"}),
)

METHODS: dict[str, Method] = {m.name: m for m in (FULL, HEAD, LORA, QLORA, LORA8BIT)}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
# The order methods are suggested in: for a small model the one that learns most first, for a big one the cheapest.
SMALL_MODEL_ORDER = (FULL, HEAD, LORA, QLORA, LORA8BIT)
LARGE_MODEL_ORDER = (LORA, HEAD, QLORA, LORA8BIT)


def get_method(name: str) -> Method:
    """The record of a method; a plain error naming the choices for an unknown name."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown training method {name!r}. Choose one of: {', '.join(METHOD_NAMES)}.") from None


def quantized_methods() -> tuple[str, ...]:
    """The methods that load the base in 4 or 8 bits."""
    return tuple(m.name for m in METHODS.values() if m.quantized)


def adapter_methods() -> tuple[str, ...]:
    """The methods that train LoRA adapters."""
    return tuple(m.name for m in METHODS.values() if m.adapter)


def suggested_methods(small_model: bool, has_head: bool) -> list[str]:
    """The methods that suit a task for a model of this size, the recommended one first."""
    order = SMALL_MODEL_ORDER if small_model else LARGE_MODEL_ORDER
    where = ("small" if small_model else "large") + ("-head" if has_head else "")
    return [m.name for m in order if where in m.suggested_for]
