"""How a run is started: how many training processes, on which GPUs, and the command that starts them."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig

# Set in the environment of a training process the app started, so the run records who owns it.
OWNER_ENV = "FT_APP_RUN_OWNER"
# "module:function" called with the run folder before training, in the training process. For tests that must
# make a run crash, hang or fail inside that process (where a monkeypatch in the test process cannot reach).
HOOK_ENV = "FT_APP_TRAIN_HOOK"



@dataclass(frozen=True)
class LaunchPlan:
    """One process, or several under `accelerate launch`; the GPUs they see (None: all the server sees)."""

    processes: int = 1
    gpus: tuple[int, ...] | None = None

    @property
    def warm(self) -> bool:
        """Whether the warm worker can take the run: one process that sees the GPUs the server sees."""
        return self.processes == 1 and self.gpus is None

    def env(self) -> dict[str, str]:
        """Environment the training processes need for this plan."""
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in self.gpus)} if self.gpus is not None else {}

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values."""
        return {"processes": self.processes, "gpus": list(self.gpus) if self.gpus is not None else None}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LaunchPlan:
        """A plan from `as_dict` values."""
        gpus = raw.get("gpus")
        return cls(processes=int(raw.get("processes", 1)), gpus=tuple(gpus) if gpus is not None else None)


def plan_launch(config: RunConfig, kind: str, gpu_count: int) -> LaunchPlan:
    """The processes and GPUs a run asks for, checked against this machine ('cuda', 'mps' or 'cpu', and its GPUs).

    Default: every visible GPU, one process each; one process on a machine without an NVIDIA GPU.
    """
    wanted = gpu_numbers(config.training.devices)
    processes = config.training.num_processes
    if processes is not None and (not isinstance(processes, int) or processes < 1):
        raise ValueError(f"Processes must be a whole number of 1 or more, got {processes!r}. Leave it empty for one per GPU.")
    if kind != "cuda":
        if wanted:
            raise ValueError(
                f"Devices {', '.join(str(g) for g in wanted)} were chosen, but this machine has no NVIDIA GPU. "
                "Leave Devices empty to train on this machine's processor."
            )
        return LaunchPlan(processes=processes or 1)
    missing = [g for g in (wanted or []) if g < 0 or g >= gpu_count]
    if missing:
        raise ValueError(
            f"GPU {missing[0]} was chosen, but this machine has {gpu_count} GPU(s), numbered 0 to {gpu_count - 1}. "
            "Pick from those, or leave Devices empty to use them all."
        )
    chosen = tuple(dict.fromkeys(wanted)) if wanted else None
    visible = len(chosen) if chosen else gpu_count
    processes = processes or visible
    if processes > visible:
        raise ValueError(
            f"{processes} training processes were asked for, but only {visible} GPU(s) are chosen: one process per "
            f"GPU. Use {visible} processes or fewer, or choose more GPUs."
        )
    all_gpus = chosen is None or chosen == tuple(range(gpu_count))
    return LaunchPlan(processes=processes, gpus=None if all_gpus else chosen)


def gpu_numbers(devices: list[Any] | None) -> list[int]:
    """The Devices setting as GPU numbers ("0, 1" in the form arrives as text items)."""
    numbers = []
    for item in devices or []:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isdigit():
            raise ValueError(f"Devices must be GPU numbers such as 0, 1; got {item!r}. Leave it empty to use every GPU.")
        numbers.append(int(text))
    return numbers


def train_command(run_dir: Path, plan: LaunchPlan, resume: bool) -> list[str]:
    """The command that trains a run folder the app created: `python -m ft_app train`, or under `accelerate launch`."""
    engine = ["-m", "ft_app", "train", "--run-dir", str(run_dir)] + (["--resume"] if resume else [])
    if plan.processes <= 1:
        return [sys.executable, *engine]
    # `--multi_gpu` picks accelerate's multi-process launcher (torchrun); on a CPU machine the processes use gloo.
    launcher = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(plan.processes),
        "--num_machines", "1", "--main_process_port", str(free_port()), "--mixed_precision", "no",
        "--dynamo_backend", "no",
    ]
    return [*launcher, *engine]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a training process the app starts: ours, ft_app importable, unbuffered output."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env[OWNER_ENV] = "app"
    env.update(extra or {})
    return env


def free_port() -> int:
    """A TCP port nothing listens on (for the processes of one run to meet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
