"""Turn an exception from a run into a plain sentence that says what to do."""

from __future__ import annotations

from ft_app.text import first_line


def explain_error(exc: BaseException) -> str:
    """A plain-language message for a failed run."""
    name, text, first = type(exc).__name__, str(exc).strip(), first_line(exc, 400)
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


class StopRequested(BaseException):
    """A Stop that arrived outside the training steps: the run ends at once, as `stopped`.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """


def explain_exit(returncode: int | None, log_tail: str = "") -> str:
    """A plain sentence for a training process that ended without recording how its run ended."""
    from ft_app import system

    if returncode is None:
        return (
            "The training process ended without recording an outcome (it was probably killed, most often because "
            "the machine ran out of memory)."
        )
    if returncode < 0:
        name = system.signal_name(returncode)
        if system.killed_outright(returncode):
            return (
                f"The training process was killed ({name}), most often because the machine ran out of memory: "
                "lower the batch size or the max length, or use LoRA."
            )
        return (
            f"The training process crashed ({name}), in native code such as a CUDA kernel or a library; the log "
            "below shows its last lines."
        )
    last = next((line.strip() for line in reversed(log_tail.splitlines()) if line.strip()), "")
    return (
        f"The training process exited with code {returncode} before it recorded an outcome"
        + (f" (its last words: {last[:300]})" if last else "")
        + "."
    )
