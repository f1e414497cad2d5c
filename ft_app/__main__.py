"""Command line: `python -m ft_app` starts the app; `python -m ft_app train CONFIG.json` trains headless."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m ft_app", description="Fine-Tune Studio")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="Fine-tune from a run config (JSON) without the app.")
    train.add_argument("config", help="Path of the run config JSON file.")
    train.add_argument("--runs-dir", default=None, help="Folder that holds the runs (default: $FT_APP_HOME/runs or ./runs).")
    ui = sub.add_parser("ui", help="Start the app (the default).")
    ui.add_argument("--host", default=None)
    ui.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "train":
        return train_command(Path(args.config), args.runs_dir)
    from ft_app.ui import launch

    launch(host=getattr(args, "host", None), port=getattr(args, "port", None))
    return EXIT_OK


def train_command(config_path: Path, runs_dir: str | None) -> int:
    """Run one training from a config file; print the run folder as the last line."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import preflight, run_training

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    store = RunStore(runs_dir)
    try:
        config = RunConfig.load(config_path)
        checked = preflight(config)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    run_dir = store.create(config) if rank == 0 else None
    if distributed:
        run_dir = _share_run_dir(run_dir)
    assert run_dir is not None
    if rank == 0:
        print(f"Run {run_dir.name}: training {config.model.name_or_path} ({config.task}, {config.method}).", file=sys.stderr)
    progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
    status = run_training(
        config, run_dir, store, progress, threading.Event(), checked=checked, show_progress_bar=rank == 0
    )
    snapshot = progress.snapshot()
    if rank == 0:
        if snapshot.message:
            print(("Error: " if status == "failed" else "") + snapshot.message, file=sys.stderr)
        print(run_dir)
    return {"completed": EXIT_OK, "stopped": EXIT_STOPPED}.get(status, EXIT_FAILED)


def _share_run_dir(run_dir: Path | None) -> Path:
    """Under `accelerate launch`, rank 0 makes the run folder and every process uses that one."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list

    from ft_app.modeling import device_info

    # Sets up the process group the broadcast needs. The shared state is created once per process, so it must
    # match what the Trainer asks for later (`use_cpu` on a CPU machine): a plain PartialState() here would
    # make a multi-process CPU launch look non-distributed, and rank 1 would receive nothing.
    PartialState(cpu=device_info().kind == "cpu")
    holder = [str(run_dir) if run_dir else None]
    broadcast_object_list(holder, from_process=0)
    return Path(holder[0])


if __name__ == "__main__":
    sys.exit(main())
