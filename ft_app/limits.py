"""What a visitor may ask of this machine, in one place: processes, memory, generated tokens, rows to answer.

Every number a visitor can send is checked here before anything starts, and a refusal is one sentence that names
the number and the limit. Limits that do not depend on the machine (the page's sliders end there; the API must stop
there too) are constants; the others read what the machine has (`Machine`) and what the host allows (hosting.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# The Compare tab's "Max new tokens" slider ends here; the API, the test prompts and the demo Space stop here too.
MAX_NEW_TOKENS = 512
# The batch table's "How many held-out rows" slider ends here.
MAX_COMPARE_ROWS = 200
# Test prompts a run may carry, and held-out rows it answers before and after (the page's field ends at 100).
MAX_TEST_PROMPTS = 50
MAX_HELDOUT_TEST_ROWS = 100
# Seq2seq rows whose generated text is checked for exact match (each is a full generation, twice).
MAX_EXACT_MATCH_ROWS = 1000


@dataclass(frozen=True)
class Machine:
    """What the machine that trains has: its accelerator, how many of them, CPU cores and memory per device."""

    kind: str = "cpu"  # "cuda", "mps" or "cpu"
    gpus: int = 0
    cpus: int = 1
    memory_gb: float | None = None  # one GPU's memory on CUDA, else the machine's RAM; None when unknown

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Machine:
        """The machine a training worker described in its hello (older workers said less: unknown stays None)."""
        raw = raw or {}
        memory = raw.get("memory_gb")
        return cls(kind=str(raw.get("kind", "cpu")), gpus=int(raw.get("count") or 0),
                   cpus=int(raw.get("cpus") or os.cpu_count() or 1),
                   memory_gb=float(memory) if isinstance(memory, (int, float)) else None)


def processes_allowed(machine: Machine, public: bool, host_max: int | None = None) -> tuple[int, str]:
    """How many training processes one run may start here, and why in words.

    One per GPU; without a GPU, one on a public server (its visitors share the machine) and one per CPU core on a
    local one. The host's FT_APP_MAX_PROCESSES replaces that.
    """
    if host_max:
        return host_max, "the host's limit (FT_APP_MAX_PROCESSES)"
    if machine.kind == "cuda" and machine.gpus:
        return machine.gpus, f"one per GPU, and this machine has {machine.gpus}"
    if public:
        return 1, "one on a shared server without a GPU"
    return max(1, machine.cpus), f"one per CPU core on this machine without a GPU, and it has {machine.cpus}"


def check_processes(wanted: int | None, machine: Machine, public: bool, host_max: int | None = None) -> None:
    """Refuse more training processes than this machine may start (None: the default, one per GPU or one)."""
    if wanted is None:
        return
    if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted < 1:
        raise ValueError(f"Processes must be a whole number of 1 or more, got {wanted!r}. Leave it empty for one per GPU.")
    most, why = processes_allowed(machine, public, host_max)
    if wanted > most:
        raise ValueError(
            f"Processes is {wanted}, more than this machine allows ({most}: {why}). Use {most} or fewer, or leave "
            "it empty."
        )


def check_memory(batch_size: int, max_length: int, needed_gb: float, machine: Machine) -> None:
    """Refuse a batch that the app's own estimate says cannot fit in this machine's memory (a refusal at the start,
    instead of an out-of-memory kill minutes later)."""
    if machine.memory_gb is None or needed_gb <= machine.memory_gb:
        return
    where = "on one GPU" if machine.kind == "cuda" else "of memory"
    raise ValueError(
        f"Batch size {batch_size} × max length {max_length} needs about {needed_gb:,.1f} GB by the app's estimate, more "
        f"than this machine has ({machine.memory_gb:,.1f} GB {where}). Lower the batch size or the max length, turn on "
        "gradient checkpointing, or use LoRA."
    )


def check_new_tokens(value: Any, what: str = "Max new tokens") -> int:
    """A longest-answer setting as a whole number between 1 and MAX_NEW_TOKENS."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_NEW_TOKENS:
        raise ValueError(f"{what} must be a whole number from 1 to {MAX_NEW_TOKENS}, not {value!r}.")
    return value


def check_compare_rows(value: Any) -> int:
    """How many held-out rows the batch table answers: a whole number between 1 and MAX_COMPARE_ROWS."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COMPARE_ROWS:
        raise ValueError(f"How many held-out rows must be a whole number from 1 to {MAX_COMPARE_ROWS}, not {value!r}.")
    return value


def position_limit(model_config: Any) -> int | None:
    """The most tokens the model can read, or None when it has no fixed limit (e.g. T5)."""
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model_config, attr, None)
        if isinstance(value, int) and value > 0:
            # RoBERTa-style models reserve two positions for padding offsets.
            return value - 2 if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else value
    text = getattr(model_config, "text_config", None)
    return position_limit(text) if text is not None else None
