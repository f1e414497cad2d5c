"""The run store on disk: one folder per run, holding everything needed to reload it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
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

# A run id is a folder name inside the runs root; nothing that could climb out of it.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ACTIVE_STATUSES = ("queued", "running", "stopping")
FINAL_STATUSES = ("completed", "stopped", "failed", "interrupted")


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
    best_metric: dict[str, float] = field(default_factory=dict)
    result_dir: Path | None = None


class RunStore:
    """The runs root folder: create, list, read and delete runs."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root else default_runs_root()

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

    def write_status(self, run_dir: Path, **changes: Any) -> dict[str, Any]:
        """Merge changes into status.json, atomically."""
        status = self.read_status(run_dir)
        status.update(changes)
        status["updated"] = now_iso()
        write_json_atomic(run_dir / STATUS_FILE, status)
        return status

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
    from ft_app.training.pids import ProcessId

    identity = ProcessId.from_status(status)
    if identity is not None:
        return identity.pid != os.getpid() and identity.alive()
    pid, host = status.get("pid"), status.get("host")
    if not isinstance(pid, int) or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True
