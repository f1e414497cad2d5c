"""The training process's side of a run: train one run folder, stop cleanly on a signal, and say how it ended.

`python -m ft_app train`, the app's warm worker and every process of `accelerate launch` all come through
`train_run_folder`, so a run behaves the same whichever started it.
"""

from __future__ import annotations

import _thread
import importlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ft_app import system
from ft_app.runs import INTERRUPTIBLE_PHASES, RunStore, now_iso
from ft_app.training.launch import HOOK_ENV, OWNER_ENV
from ft_app.training.progress import RunProgress

log = logging.getLogger(__name__)

# How `python -m ft_app train` ends for a run's final status (any other: system.EXIT_FAILED).
EXIT_CODES = {"completed": system.EXIT_OK, "stopped": system.EXIT_STOPPED}
# How often a training process looks for a stop request in its run folder outside the training steps (loading,
# evaluating); during training the stop callback also looks after every step.
STOP_POLL_S = 0.5


def exit_code(status: str) -> int:
    """The process exit code for a run's final status."""
    return EXIT_CODES.get(status, system.EXIT_FAILED)


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
        message = store.checkpoint_blocker(run_dir) or ""
        if int(os.environ.get("RANK", "0")) == 0:
            store.write_status(run_dir, status="failed", phase="failed", message=message, finished=now_iso())
        progress.update(status="failed", phase="failed", message=message)
        return "failed", progress
    stop_event = threading.Event()
    if os.environ.get(OWNER_ENV) != "app" and int(os.environ.get("RANK", "0")) == 0:
        store.clear_stop_request(run_dir)  # the app clears it before it starts a run; a command line run does here
    rank = int(os.environ.get("RANK", "0"))
    note_process(run_dir, store, rank)
    try:
        run_hook(run_dir)
        with stop_on_signals(stop_event, progress), stop_on_request(run_dir, store, stop_event):
            status = run_training(
                config, run_dir, store, progress, stop_event, checked=checked, show_progress_bar=show_progress_bar,
                resume_from=resume_from,
            )
    finally:
        store.forget_process(run_dir, os.getpid(), rank)
    return status, progress


def note_process(run_dir: Path, store: RunStore, rank: int) -> None:
    """Note this training process in the run folder, so that the server can end it with the run whatever happens.

    A worker of a multi-process launch also dies with its launcher: torch puts each worker in a session of its own,
    so without this a launcher that is killed outright would leave its workers training on their own.
    """
    from ft_app.pids import ProcessId

    if os.environ.get("LOCAL_RANK") is not None and os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        system.die_with_parent()
    store.record_process(run_dir, ProcessId.own().as_status(), rank)


@contextmanager
def stop_on_request(run_dir: Path, store: RunStore, stop_event: threading.Event) -> Iterator[None]:
    """Watch the run folder for a stop request (how the server stops a run on every OS, signals or not).

    Outside the training steps the request is delivered to the main thread as the stop signal would be, so a run
    that is loading or evaluating ends at once, exactly as after SIGTERM.
    """
    done = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()

    def watch() -> None:
        while not done.wait(STOP_POLL_S):
            if store.stop_requested(run_dir) and not stop_event.is_set():
                if in_main:
                    _thread.interrupt_main(system.stop_signals()[0])  # runs the stop handler in the main thread
                else:
                    stop_event.set()
                return

    watcher = threading.Thread(target=watch, name="stop-request", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()


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
        if signum == signal.SIGINT and again:  # a second Ctrl-C: at once
            raise KeyboardInterrupt
        if progress.phase in INTERRUPTIBLE_PHASES:
            raise StopRequested()

    previous = {sig: signal.signal(sig, handler) for sig in system.stop_signals()}
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
