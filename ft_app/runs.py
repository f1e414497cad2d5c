"""The run store on disk: one folder per run, holding everything needed to reload it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.paths import UPLOADS_DIR, app_home

CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "log.txt"
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
LABELS_FILE = "labels.json"
DATA_INFO_FILE = "data.json"
EXAMPLES_FILE = "examples.jsonl"
EVAL_FILE = "eval.json"
COMPARE_FILE = "compare.jsonl"
BASE_RESULTS_FILE = "base_results.json"
# One file per training process of a run (every rank of a multi-process launch), so that all of them can be ended.
PROCESSES_DIR = "processes"
# Written by the server to ask the run to stop: the trainer reads it after every step (on every OS; signals are the
# fast path where the OS has them).
STOP_REQUEST_FILE = "stop_request.json"
# Written after a checkpoint is fully on disk; a checkpoint without it was cut short and is never resumed from.
CHECKPOINT_MARKER = "ft_app_complete.json"

# Beside the run folders: what trials before Train measured (training/trial.py). A dot name is never a run id.
TRIALS_DIR = ".trials"
# status.json is written under this lock (the training process and the server may both write it).
STATUS_LOCK_FILE = ".status.lock"
# Steps a run takes before its own speed replaces the estimate ("measured on the first 10 steps").
MEASURE_STEPS = 10

# A run id is a folder name inside the runs root; nothing that could climb out of it.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# ---- the status vocabulary: a run's status, and the phases of an active run as the page shows them -------------
ACTIVE_STATUSES = ("queued", "running", "stopping")
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted")
RESUMABLE_STATUSES = ("interrupted", "stopped", "failed")
TRAINING_STATUSES = ("running", "stopping")  # a training process is at work (an ETA makes sense)
BROKEN_STATUSES = ("failed", "interrupted")  # ended without saving what it learned: the page explains why
SAVED_STATUSES = ("completed", "stopped")  # ended with what it learned saved
CHECKING = "checking the model and data"
LOADING_DATA = "loading data"
TOKENIZING = "tokenizing data"
LOADING_MODEL = "loading model"
TRAINING = "training"
SAVING = "saving the model"
EVALUATING_RESULT = "evaluating the fine-tuned model"
EVALUATING_BASE = "evaluating the base model"
RECORDING = "recording the results"
STOPPING = "stopping after this step"
# Phases a Stop may cut short at once: they read and compute, and write nothing that could be left half-done.
INTERRUPTIBLE_PHASES = frozenset({CHECKING, LOADING_DATA, TOKENIZING, LOADING_MODEL, EVALUATING_RESULT, EVALUATING_BASE})


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, read-only copy of a run's progress at one moment, as its folder tells it."""

    run_id: str
    run_dir: Path
    status: str
    phase: str
    step: int
    total_steps: int
    epoch: float
    elapsed_s: float
    eta_s: float | None
    records: tuple[dict[str, Any], ...]
    message: str = ""
    trainable_params: int | None = None
    total_params: int | None = None
    s_per_step: float | None = None  # seconds an optimizer step takes, measured on this run's steps so far
    measured_steps: int = 0  # the steps that measure covers
    awaiting_check: bool = False  # an evaluation or checkpoint comes before the end and none is timed yet

    @property
    def measured(self) -> bool:
        """Whether the run has taken enough steps, and its first check where one comes before the end, for its time
        to be a measurement."""
        return (self.s_per_step is not None and not self.awaiting_check
                and self.measured_steps >= min(MEASURE_STEPS, max(1, self.total_steps // 2)))

    @property
    def fraction(self) -> float:
        """Share of the steps done, 0 to 1."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def active(self) -> bool:
        """Whether the run is still queued, running or stopping."""
        return self.status in ACTIVE_STATUSES


class MetricsTail:
    """The records appended to a metrics.jsonl since the last read; notices when a resume rewrote the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: int | None = None
        self.offset = 0
        self.partial = b""
        self.records: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        """Every complete record of the file, reading only what was appended since the last call."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.inode, self.offset, self.partial, self.records = None, 0, b"", []
            return []
        if self.inode is None or stat.st_ino != self.inode or stat.st_size < self.offset:  # new, or rewritten
            self.inode, self.offset, self.partial, self.records = stat.st_ino, 0, b"", []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")  # the last piece waits for its newline
        for line in lines:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                continue  # not a record (only a line torn by a crash can be)
        return self.records


def default_runs_root() -> Path:
    """Where runs live: the app home's runs/ ($FT_APP_HOME, /data/ft_app on a Space with storage, else ./)."""
    return app_home() / "runs"


def now_iso() -> str:
    """The current UTC time as ISO-8601 text."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON so that a reader or a crash sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; run files are ordinary readable files
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file, skipping a torn last line left by a crash."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # only a line cut by a crash can be torn; the rest of the history is still good
    return records


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a line and flush it to disk."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, allow_nan=True) + "\n")
        fh.flush()


@dataclass
class RunSummary:
    """One line of the runs list."""

    run_id: str
    path: Path
    status: str
    task: str
    model: str
    method: str
    created: str
    finished: str | None
    message: str
    best_metric: dict[str, float] = field(default_factory=dict)  # the held-out numbers of the model the run kept
    best_step: int | None = None  # the step of that model
    result_dir: Path | None = None


class RunStore:
    """The runs root folder: create, list, read and delete runs."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_runs_root()
        self._tails: dict[Path, MetricsTail] = {}
        self._tails_lock = threading.Lock()

    @property
    def trials_dir(self) -> Path:
        """Where trials of a few steps before Train keep what they measured (a folder name no run id can take)."""
        return self.root / TRIALS_DIR

    @property
    def uploads_dir(self) -> Path:
        """Where the app keeps uploaded data files: beside the runs folder."""
        return self.root.parent / UPLOADS_DIR

    def path(self, run_id: str) -> Path:
        """The folder of a run; refuses ids that are not plain folder names."""
        if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id) or ".." in run_id:
            raise ValueError(
                f"Run id {run_id!r} is not valid: use letters, digits, '.', '_' and '-' only (no paths)."
            )
        return self.root / run_id

    def create(self, config: RunConfig) -> Path:
        """Make a new, uniquely named run folder holding config.json and a queued status."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{config.name.strip()}" if config.name and config.name.strip() else f"{stamp}-{config.task}-{config.method}"
        for n in range(1000):
            run_id = base if n == 0 else f"{base}-{n + 1}"
            run_dir = self.path(run_id)
            try:
                run_dir.mkdir()  # atomic: an existing run is never reused or overwritten
            except FileExistsError:
                continue
            config.save(run_dir / CONFIG_FILE)
            self.write_status(run_dir, status="queued", created=now_iso())
            return run_dir
        raise ValueError(f"Could not create a run folder for {base!r}: 1000 runs share that name. Pick another name.")

    @staticmethod
    def write_status(run_dir: Path, **changes: Any) -> dict[str, Any]:
        """Merge changes into status.json, atomically, under the run's status lock (the training process and the
        server may both write it); `written_at` says when, so a reader can tell how old the figures are."""
        from filelock import FileLock

        with FileLock(run_dir / STATUS_LOCK_FILE, timeout=30):  # a deleted run's folder is not made again
            status = RunStore.read_status(run_dir)
            status.update(changes)
            status["updated"] = now_iso()
            status["written_at"] = time.time()
            write_json_atomic(run_dir / STATUS_FILE, status)
        return status

    def read_progress(self, run_dir: Path) -> JobSnapshot:
        """THE reader of a run's progress, for the page and the API: status.json and metrics.jsonl as the training
        process wrote them (only new metrics lines are read on each call). The clock of an active run goes on from
        when its status was written; a run asked to stop shows as stopping until the process says how it ended."""
        status = self.read_status(run_dir)
        with self._tails_lock:
            tail = self._tails.setdefault(run_dir, MetricsTail(run_dir / METRICS_FILE))
            records = tuple(dict(r) for r in tail.read())
        state, phase = status.get("status", "unknown"), status.get("phase", "")
        active = state in ACTIVE_STATUSES
        since = max(0.0, time.time() - float(status.get("written_at") or time.time())) if active else 0.0
        if state == "running" and self.stop_requested(run_dir):
            state, phase = "stopping", STOPPING  # asked: the process says how it ended once it has
        eta = status.get("eta_s")
        return JobSnapshot(
            run_id=run_dir.name,
            run_dir=run_dir,
            status=state,
            phase=phase,
            step=last_step(status, list(records)),
            total_steps=int(status.get("total_steps") or 0),
            epoch=float(status.get("epoch") or 0.0),
            elapsed_s=float(status.get("elapsed_s") or 0.0) + since,
            eta_s=max(0.0, float(eta) - since) if isinstance(eta, (int, float)) and state in TRAINING_STATUSES
            else None,
            records=records,
            message=status.get("message", ""),
            trainable_params=status.get("trainable_params"),
            total_params=status.get("total_params"),
            s_per_step=status.get("s_per_step"),
            measured_steps=int(status.get("measured_steps") or 0),
            awaiting_check=bool(status.get("awaiting_check")),
        )

    def resume_blocker(self, run_dir: Path) -> str | None:
        """THE resume check: why this run cannot be resumed (plain words), or None when Resume will work."""
        status = self.read_status(run_dir).get("status", "unknown")
        if status not in RESUMABLE_STATUSES:
            return f"Run {run_dir.name!r} is {status}; only interrupted, stopped or failed runs can be resumed."
        return self.checkpoint_blocker(run_dir)

    def checkpoint_blocker(self, run_dir: Path) -> str | None:
        """Why a run has nothing to resume from (no complete checkpoint), or None (the training process checks only
        this: the server checked the status before it handed the run over)."""
        if self.last_complete_checkpoint(run_dir) is None:
            return (
                f"Run {run_dir.name!r} saved no complete checkpoint before it ended, so it cannot continue: start it "
                "again with the same settings instead (they are in its config file)."
            )
        return None

    @staticmethod
    def read_status(run_dir: Path) -> dict[str, Any]:
        """The run's status.json, or an empty dict when it has none yet."""
        path = run_dir / STATUS_FILE
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    @staticmethod
    def read_config(run_dir: Path) -> RunConfig:
        """The run's config."""
        return RunConfig.load(run_dir / CONFIG_FILE)

    @staticmethod
    def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
        """Every metrics record the run logged, in order."""
        return read_jsonl(run_dir / METRICS_FILE)

    @staticmethod
    def read_log_tail(run_dir: Path, lines: int = 40) -> str:
        """The last lines of the run's log."""
        from ft_app.run_log import readable_log

        path = run_dir / LOG_FILE
        if not path.is_file():
            return ""
        return "\n".join(readable_log(path.read_text(encoding="utf-8", errors="replace")).splitlines()[-lines:])

    @staticmethod
    def result_dir(run_dir: Path) -> Path | None:
        """The saved adapter/ or model/ folder, if the run produced one."""
        for name in (ADAPTER_DIR, MODEL_DIR):
            candidate = run_dir / name
            if (candidate / "config.json").is_file() or (candidate / "adapter_config.json").is_file():
                return candidate
        return None

    def summary(self, run_id: str) -> RunSummary:
        """What the runs list shows for one run."""
        run_dir = self.path(run_id)
        status = self.read_status(run_dir)
        try:
            raw = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raw = {}
        model = raw.get("model", {})
        return RunSummary(
            run_id=run_id,
            path=run_dir,
            status=status.get("status", "unknown"),
            task=str(raw.get("task", "?")),
            model=str(model.get("name_or_path", model) if isinstance(model, dict) else model),
            method=str(raw.get("method", "?")),
            created=status.get("created", ""),
            finished=status.get("finished"),
            message=status.get("message", ""),
            best_metric=status.get("best_metric", {}) or {},
            best_step=status.get("best_step"),
            result_dir=self.result_dir(run_dir),
        )

    def list_runs(self) -> list[RunSummary]:
        """Every run on disk, newest first."""
        if not self.root.is_dir():
            return []
        ids = [p.name for p in self.root.iterdir() if p.is_dir() and (p / CONFIG_FILE).is_file()]
        summaries = [self.summary(i) for i in ids if RUN_ID_PATTERN.match(i)]
        return sorted(summaries, key=lambda s: (s.created, s.run_id), reverse=True)

    def delete(self, run_id: str) -> None:
        """Remove a finished run's folder."""
        run_dir = self.path(run_id)
        if not run_dir.is_dir():
            raise ValueError(f"Run {run_id!r} does not exist in {self.root}.")
        if self.read_status(run_dir).get("status") in ACTIVE_STATUSES:
            raise ValueError(f"Run {run_id!r} is still running: stop it before deleting it.")
        shutil.rmtree(run_dir)

    # ---- the run's processes and its stop request -------------------------------------------------------
    @staticmethod
    def request_stop(run_dir: Path, reason: str = "", by: str | None = None) -> None:
        """Ask the run's training processes to stop after the current step (they read this file every step);
        `reason`: why the server stops it (its time limit, a shutdown), which the run's final message begins with."""
        write_json_atomic(run_dir / STOP_REQUEST_FILE, {"at": now_iso(), "reason": reason, "by": by})

    @staticmethod
    def stop_requested(run_dir: Path) -> bool:
        """Whether a stop was asked for this run (and not yet cleared by a new attempt)."""
        return (run_dir / STOP_REQUEST_FILE).is_file()

    @staticmethod
    def stop_request(run_dir: Path) -> dict[str, Any]:
        """The stop asked for this run ({} when none, or when it cannot be read)."""
        try:
            request = json.loads((run_dir / STOP_REQUEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return request if isinstance(request, dict) else {}

    @staticmethod
    def clear_stop_request(run_dir: Path) -> None:
        """Forget an old stop request: a resumed run must not stop at its first step."""
        (run_dir / STOP_REQUEST_FILE).unlink(missing_ok=True)

    @staticmethod
    def record_process(run_dir: Path, identity: dict[str, Any], rank: int) -> None:
        """Note one training process of the run (its pid, start time, host and group) so the server can end it."""
        write_json_atomic(run_dir / PROCESSES_DIR / f"rank-{rank}-{identity['pid']}.json", {**identity, "rank": rank})

    @staticmethod
    def forget_process(run_dir: Path, pid: int, rank: int) -> None:
        """A training process that ends on its own takes its note away (the folder goes with the last one)."""
        folder = run_dir / PROCESSES_DIR
        (folder / f"rank-{rank}-{pid}.json").unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            pass  # another process of the run is still noted (or the folder is already gone)

    @staticmethod
    def recorded_processes(run_dir: Path) -> list[dict[str, Any]]:
        """Every training process the run noted (also ones that have ended since: check before acting on one)."""
        folder = run_dir / PROCESSES_DIR
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("rank-*.json")):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # torn by a crash: that process wrote nothing else either
        return found

    @staticmethod
    def clear_processes(run_dir: Path) -> None:
        """Forget the processes of an earlier attempt (before a run starts or resumes)."""
        shutil.rmtree(run_dir / PROCESSES_DIR, ignore_errors=True)

    @staticmethod
    def last_complete_checkpoint(run_dir: Path) -> Path | None:
        """The newest checkpoint that was fully written (it carries our completion marker), or None."""
        folder = run_dir / CHECKPOINTS_DIR
        if not folder.is_dir():
            return None
        complete = []
        for ckpt in folder.glob("checkpoint-*"):
            step = ckpt.name.rpartition("-")[2]
            if step.isdigit() and (ckpt / CHECKPOINT_MARKER).is_file() and (ckpt / "trainer_state.json").is_file():
                complete.append((int(step), ckpt))
        return max(complete)[1] if complete else None

    def mark_interrupted(self) -> list[str]:
        """Mark runs left active by a training process that is gone as interrupted; return their ids.

        A run whose training process still lives (a CLI run, or an app run that outlived the server that
        started it) is left alone: its process is still the one writing its status.
        """
        found = []
        for summary in self.list_runs():
            status = self.read_status(summary.path)
            if summary.status in ACTIVE_STATUSES and not owner_alive(status):
                self.write_status(
                    summary.path,
                    status="interrupted",
                    finished=now_iso(),
                    step=last_step(status, self.read_metrics(summary.path)),
                    message="The app stopped while this run was active (restart or crash).",
                )
                found.append(summary.run_id)
        return found


def last_step(status: dict[str, Any], records: list[dict[str, Any]]) -> int:
    """The furthest step a run reached: status.json's, or the last metrics record's when a killed process logged
    steps it could not record in its status any more."""
    logged = [int(r["step"]) for r in records if r.get("kind") == "train" and isinstance(r.get("step"), (int, float))]
    return max([int(status.get("step") or 0), *logged])


def owner_alive(status: dict[str, Any]) -> bool:
    """Whether the process that writes an active run's status still runs on this machine.

    The process is recognised by its pid AND its start time, so a pid the system gave to another process
    since is never mistaken for the run. A status from an older version has no start time: then the pid alone.
    """
    from ft_app.pids import ProcessId

    identity = ProcessId.from_status(status)
    if identity is not None:
        return identity.pid != os.getpid() and identity.alive()
    pid, host = status.get("pid"), status.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or pid == os.getpid():
        return False
    import psutil

    return psutil.pid_exists(pid)  # (os.kill(pid, 0) would end the process on Windows)
