"""Command line: `python -m ft_app` starts the app; `python -m ft_app train CONFIG.json` trains headless; `python -m
ft_app trial CONFIG.json` times a few of its steps."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ft_app.system import EXIT_BAD_INPUT, EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m ft_app", description="Fine-Tune Studio")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="Fine-tune from a run config (JSON) without the app.")
    train.add_argument("config", nargs="?", help="Path of the run config JSON file (trains it in a new run folder).")
    train.add_argument("--runs-dir", default=None, help="Folder that holds the runs (default: $FT_APP_HOME/runs or ./runs).")
    train.add_argument("--run-dir", default=None, help="Train a run folder that already exists (its config.json), "
                       "e.g. one the app made, instead of a config file.")
    train.add_argument("--resume", action="store_true", help="With --run-dir: continue from its last complete checkpoint.")
    trial = sub.add_parser("trial", help="Time a few real training steps of a run config and measure its peak memory "
                           "(what the Train tab's trial does); prints the result as JSON.")
    trial.add_argument("config", help="Path of the run config JSON file.")
    ui = sub.add_parser("ui", help="Start the app (the default).")
    ui.add_argument("--host", default=None)
    ui.add_argument("--port", type=int, default=None)
    from ft_app.export.cli import add_export_parser

    add_export_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "train":
        if bool(args.config) == bool(args.run_dir) or (args.resume and not args.run_dir):
            train.error("give a run config file, or --run-dir RUN_FOLDER (with --resume to continue it), not both")
        return train_command(
            Path(args.config) if args.config else None, args.runs_dir,
            run_dir=Path(args.run_dir) if args.run_dir else None, resume=args.resume,
        )
    if args.command == "trial":
        from ft_app.training.trial import trial_main

        return trial_main(Path(args.config))
    if args.command == "export":
        from ft_app.export.cli import export_command

        return export_command(args)
    from ft_app.ui import launch

    launch(host=getattr(args, "host", None), port=getattr(args, "port", None))
    return EXIT_OK


def train_command(config_path: Path | None, runs_dir: str | None, run_dir: Path | None = None, resume: bool = False) -> int:
    """Train a config file in a new run folder, or a run folder that exists; print the run folder as the last line.

    SIGTERM (what SLURM, Kubernetes and Spaces send before they kill) or a first Ctrl-C stops cleanly: a checkpoint
    is saved, the run ends `stopped` (exit 130), and `train --run-dir RUN_FOLDER --resume` continues it.
    """
    from ft_app.config import RunConfig
    from ft_app.runs import CONFIG_FILE, RunStore
    from ft_app.training.child import exit_code, train_run_folder
    from ft_app.training.runner import preflight

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    checked = None
    try:
        if run_dir is not None:
            run_dir = run_dir.expanduser().resolve()
            if not (run_dir / CONFIG_FILE).is_file():
                raise ValueError(f"{str(run_dir)!r} is not a run folder: it has no {CONFIG_FILE}. Check the path.")
            store = RunStore(run_dir.parent)
            config = store.read_config(run_dir)  # checked inside the run, where a failure is recorded in the folder
        else:
            assert config_path is not None
            store = RunStore(runs_dir)
            config = RunConfig.load(config_path)
            checked = preflight(config)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if run_dir is None:
        run_dir = store.create(config) if rank == 0 else None
        if distributed:
            run_dir = _share_run_dir(run_dir)
    assert run_dir is not None
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if rank == 0:
        print(f"Run {run_dir.name}: training {config.model.name_or_path} ({config.task}, {config.method}).", file=sys.stderr)
        wanted = config.training.num_processes
        if wanted and wanted != world:
            print(f"Note: this config asks for {wanted} training processes and this command runs {world}. For "
                  f"{wanted}, start it with: accelerate launch --multi_gpu --num_processes {wanted} -m ft_app train ...",
                  file=sys.stderr)
    status, progress = train_run_folder(
        run_dir, store, checked=checked, resume=resume, show_progress_bar=rank == 0 and sys.stderr.isatty()
    )
    snapshot = progress.snapshot()
    if rank == 0:
        if snapshot.message:
            print(("Error: " if status == "failed" else "") + snapshot.message, file=sys.stderr)
        print(run_dir)
    return exit_code(status)


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
