"""Turn an exception from a run into a plain sentence that says what to do."""

from __future__ import annotations


def explain_error(exc: BaseException) -> str:
    """A plain-language message for a failed run."""
    name = type(exc).__name__
    text = str(exc).strip()
    first = text.splitlines()[0][:400] if text else name
    if name == "OutOfMemoryError" or "out of memory" in text.lower():
        return (
            "The GPU ran out of memory. Lower the batch size (and raise gradient accumulation to keep the "
            "effective batch), lower the max length, turn on gradient checkpointing, or use LoRA/QLoRA."
        )
    if isinstance(exc, ValueError):
        return first if len(text) < 600 else first + " (see the log for details)"
    if isinstance(exc, KeyboardInterrupt):
        return "Stopped from the keyboard (Ctrl-C)."
    if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
        return "The disk is full. Free some space (delete old runs or checkpoints) and start again."
    return f"Training failed with {name}: {first}. The log below shows where it happened."
