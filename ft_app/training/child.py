"""The training process's side of a run: train one run folder, stop cleanly on a signal, and say how it ended.

`python -m ft_app train`, the app's warm worker and every process of `accelerate launch` all come through
`train_run_folder`, so a run behaves the same whichever started it.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ft_app.runs import RunStore, now_iso
from ft_app.training.progress import INTERRUPTIBLE_PHASES, RunProgress

log = logging.getLogger(__name__)

# The exit codes of `python -m ft_app train` (130, as for Ctrl-C, for a run that stopped on request).
EXIT_CODES = {"completed": 0, "stopped": 130}
EXIT_FAILED = 1
# "module:function" called with the run folder before training, in the training process. For tests that must
# make a run crash, hang or fail inside that process (where a monkeypatch in the test process cannot reach).
HOOK_ENV = "FT_APP_TRAIN_HOOK"


def exit_code(status: str) -> int:
    """The process exit code for a run's final status."""
    return EXIT_CODES.get(status, EXIT_FAILED)


def train_run_folder(
    run_dir: Path,
    store: RunStore | None = None,
    checked: Any = None,
    resume: bool = False,
    show_progress_bar: bool = False,
) -> tuple[str, RunProgress]:
    """Train the run a folder describes (its config.json), or continue it from its last complete checkpoint.

    `checked` is what the caller's checks returned for this same config (then they are not run again).
    Returns the final status and the run's progress.
    """
    from ft_app.training.runner import run_training

    store = store or RunStore(run_dir.parent)
    config = store.read_config(run_dir)
    progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
    resume_from = store.last_complete_checkpoint(run_dir) if resume else None
    if resume and resume_from is None:
        message = f"Run {run_dir.name} has no complete checkpoint to resume from. Start it again instead."
        if int(os.environ.get("RANK", "0")) == 0:
            store.write_status(run_dir, status="failed", phase="failed", message=message, finished=now_iso())
        progress.update(status="failed", phase="failed", message=message)
        return "failed", progress
    stop_event = threading.Event()
    run_hook(run_dir)
    with stop_on_signals(stop_event, progress):
        status = run_training(
            config, run_dir, store, progress, stop_event, checked=checked, show_progress_bar=show_progress_bar,
            resume_from=resume_from,
        )
    return status, progress


@contextmanager
def stop_on_signals(stop_event: threading.Event, progress: RunProgress) -> Iterator[None]:
    """SIGTERM (what the app's Stop, SLURM, Kubernetes and Spaces send) and a first Ctrl-C stop the run cleanly.

    During training the step in progress ends, a checkpoint is saved and the run ends `stopped`; in a phase
    that writes nothing (loading, evaluating) the run ends at once. A second Ctrl-C interrupts at once.
    """
    from ft_app.training.errors import StopRequested

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; a run in another thread stops through its event
        return

    def handler(signum: int, frame: Any) -> None:
        again = stop_event.is_set()
        stop_event.set()
        if signum == signal.SIGINT and again:
            raise KeyboardInterrupt
        if progress.phase in INTERRUPTIBLE_PHASES:
            raise StopRequested()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_hook(run_dir: Path) -> None:
    """Call the test hook named in FT_APP_TRAIN_HOOK ("module:function"), if any, with the run folder."""
    spec = os.environ.get(HOOK_ENV, "").strip()
    if not spec:
        return
    module_name, _, function = spec.partition(":")
    hook = getattr(importlib.import_module(module_name), function or "hook")
    log.warning("Test hook %s installed for run %s.", spec, run_dir.name)
    hook(run_dir)
