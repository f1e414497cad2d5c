"""Back up finished runs to a private Hub dataset repo, so that they survive a Space without persistent storage.

With `FT_APP_BACKUP_REPO=user/name` (and a token with write access in `FT_APP_BACKUP_TOKEN` or `HF_TOKEN`), each
run that finishes (completed or stopped) is pushed in ONE commit: its config, status, metrics, evaluation,
held-out examples, log, owner record and the result (`adapter/` or `model/`; never checkpoints). The repo holds
`runs/<run_id>/...` and an `index.json` listing every backed-up run, which is what the Runs tab lists after a
restart; restoring downloads one run's files back into its run folder, byte for byte.

The token goes only into the Authorization header of huggingface_hub's requests; it is never written anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import (
    ADAPTER_DIR,
    BASE_RESULTS_FILE,
    COMPARE_FILE,
    CONFIG_FILE,
    DATA_INFO_FILE,
    EVAL_FILE,
    EXAMPLES_FILE,
    LOG_FILE,
    METRICS_FILE,
    MODEL_DIR,
    SAVED_STATUSES,
    STATUS_FILE,
    RunStore,
    now_iso,
)

log = logging.getLogger(__name__)
INDEX_FILE = "index.json"
RUNS_PREFIX = "runs"
BACKED_UP_STATUSES = SAVED_STATUSES
# The run's own files (beside its result folder); checkpoints are for resuming here and are never backed up.
RUN_FILES = (CONFIG_FILE, STATUS_FILE, METRICS_FILE, EVAL_FILE, COMPARE_FILE, DATA_INFO_FILE, EXAMPLES_FILE,
             BASE_RESULTS_FILE, LOG_FILE, "owner.json")
RESULT_DIRS = (ADAPTER_DIR, MODEL_DIR)


@dataclass
class BackupEntry:
    """One backed-up run, as index.json lists it."""

    run_id: str
    status: str
    task: str
    model: str
    method: str
    created: str
    finished: str | None
    backed_up: str
    files: list[str] = field(default_factory=list)
    owner: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The entry as index.json keeps it."""
        return dict(vars(self))


def backup_token() -> str:
    """The token backups use: FT_APP_BACKUP_TOKEN, else HF_TOKEN; a plain error when there is none."""
    token = os.environ.get("FT_APP_BACKUP_TOKEN", "").strip() or os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise ValueError(
            "FT_APP_BACKUP_REPO is set but there is no token to write it with: set FT_APP_BACKUP_TOKEN (or HF_TOKEN) "
            "to a Hugging Face token with write access."
        )
    return token


def backup_files(run_dir: Path) -> list[str]:
    """The files of a run that a backup holds, relative to the run folder."""
    names = [name for name in RUN_FILES if (run_dir / name).is_file()]
    for folder in RESULT_DIRS:
        if (run_dir / folder).is_dir():
            names += sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / folder).rglob("*") if p.is_file())
    return names


class RunBackups:
    """The backup repo of one server: push a finished run, list the backed-up runs, restore one."""

    def __init__(self, repo_id: str) -> None:
        self.repo_id = repo_id
        self._lock = threading.Lock()  # one push at a time: index.json is read, changed and written in one commit
        self._repo_ready = False

    # ---- Hub calls ----------------------------------------------------------------------------------
    def _api(self) -> Any:
        from huggingface_hub import HfApi

        from ft_app.export.hub import hub_endpoint

        return HfApi(endpoint=hub_endpoint())

    def _call(self, what: str, call: Any, token: str) -> Any:
        from ft_app.export.hub import hub_call

        return hub_call(what, call, token)

    def _ensure_repo(self, token: str) -> None:
        if self._repo_ready:
            return
        self._call(f"create the backup repo {self.repo_id}", lambda: self._api().create_repo(
            self.repo_id, repo_type="dataset", private=True, exist_ok=True, token=token), token)
        self._repo_ready = True

    def _download(self, path_in_repo: str, folder: Path, token: str) -> Path:
        return Path(self._call(f"download {path_in_repo} from the backup repo", lambda: self._api().hf_hub_download(
            self.repo_id, path_in_repo, repo_type="dataset", token=token, local_dir=str(folder)), token))

    def _read_index(self, token: str) -> dict[str, dict[str, Any]]:
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

        with tempfile.TemporaryDirectory(prefix="ft_app_backup_") as tmp:
            try:
                path = self._download(INDEX_FILE, Path(tmp), token)
            except ValueError as exc:
                if isinstance(exc.__cause__, (EntryNotFoundError, RepositoryNotFoundError)):
                    return {}  # no run backed up yet
                raise
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
        return runs if isinstance(runs, dict) else {}

    # ---- what the app calls -----------------------------------------------------------------------------
    def after_run(self, run_dir: Path, store: RunStore) -> None:
        """Back up a run that has just finished (completed or stopped) and note the outcome in its status.json.

        Called by the job manager once the training process has ended (the only writer of status.json then).
        A failed backup is logged and noted in the run's status; the run itself is unharmed.
        """
        status = store.read_status(run_dir)
        if status.get("status") not in BACKED_UP_STATUSES:
            return
        from ft_app.export.hub import HubUnreachableError

        try:
            commit = self.push(run_dir, store)
        except (ValueError, HubUnreachableError) as exc:
            log.warning("Backing up run %s to %s failed: %s", run_dir.name, self.repo_id, exc)
            store.write_status(run_dir, backup={"repo": self.repo_id, "error": str(exc), "at": now_iso()})
        else:
            log.info("Run %s backed up to %s (%s).", run_dir.name, self.repo_id, commit)
            store.write_status(run_dir, backup={"repo": self.repo_id, "commit": commit, "at": now_iso()})

    def push(self, run_dir: Path, store: RunStore) -> str:
        """One commit with the run's files and the updated index; returns the commit URL."""
        from huggingface_hub import CommitOperationAdd

        from ft_app.ownership import read_owner

        token = backup_token()
        summary = store.summary(run_dir.name)
        files = backup_files(run_dir)
        with self._lock:
            self._ensure_repo(token)
            index = self._read_index(token)
            entry = BackupEntry(
                run_id=summary.run_id, status=summary.status, task=summary.task, model=summary.model,
                method=summary.method, created=summary.created, finished=summary.finished, backed_up=now_iso(),
                files=files, owner=read_owner(run_dir),
            )
            index[summary.run_id] = entry.as_dict()
            payload = json.dumps({"runs": index}, indent=2, sort_keys=True).encode("utf-8")
            operations = [CommitOperationAdd(f"{RUNS_PREFIX}/{summary.run_id}/{name}", str(run_dir / name))
                          for name in files]
            operations.append(CommitOperationAdd(INDEX_FILE, payload))
            info = self._call(f"back up run {summary.run_id}", lambda: self._api().create_commit(
                self.repo_id, operations, repo_type="dataset", token=token,
                commit_message=f"Back up run {summary.run_id} ({summary.status})"), token)
        return str(info.commit_url)

    def forget(self, run_id: str) -> bool:
        """Delete a run's backup (its files and its line in the index) in one commit, so that no one can restore a
        run its owner deleted; False when it had none. A plain error when the Hub cannot be reached: then the run
        is not deleted here either."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        from ft_app.export.hub import HubUnreachableError

        token = backup_token()
        with self._lock:
            try:
                index = self._read_index(token)
            except HubUnreachableError as exc:
                raise ValueError(f"{exc} The run was not deleted: its backup would bring it back. Try again later.") from exc
            if run_id not in index:
                return False
            del index[run_id]
            payload = json.dumps({"runs": index}, indent=2, sort_keys=True).encode("utf-8")
            operations = [CommitOperationDelete(f"{RUNS_PREFIX}/{run_id}/", is_folder=True),
                          CommitOperationAdd(INDEX_FILE, payload)]
            try:
                self._call(f"delete the backup of run {run_id}", lambda: self._api().create_commit(
                    self.repo_id, operations, repo_type="dataset", token=token,
                    commit_message=f"Delete run {run_id} (deleted on the server)"), token)
            except HubUnreachableError as exc:
                raise ValueError(f"{exc} The run was not deleted: its backup would bring it back. Try again later.") from exc
        return True

    def list(self) -> list[BackupEntry]:
        """Every backed-up run, newest first."""
        entries = []
        for run_id, raw in self._read_index(backup_token()).items():
            if not isinstance(raw, dict):
                continue
            known = {k: raw.get(k) for k in BackupEntry.__dataclass_fields__ if k in raw}
            entries.append(BackupEntry(**{**known, "run_id": run_id}))
        return sorted(entries, key=lambda e: (e.created or "", e.run_id), reverse=True)

    def restore(self, run_id: str, store: RunStore) -> Path:
        """Download a backed-up run into its run folder (refused when a run of that id is already on disk)."""
        run_dir = store.path(run_id)
        if run_dir.exists():
            raise ValueError(f"Run {run_id!r} is already here: there is nothing to restore.")
        token = backup_token()
        entry = self._read_index(token).get(run_id)
        if not isinstance(entry, dict):
            raise ValueError(f"Run {run_id!r} is not in the backup repo {self.repo_id}. Refresh the list of backups.")
        if not entry.get("files"):
            raise ValueError(f"The backup of run {run_id!r} holds no files.")
        store.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".restore-{run_id}-", dir=store.root))
        try:
            for name in entry.get("files") or []:
                if name.startswith("/") or ".." in Path(name).parts:
                    raise ValueError(f"The backup of run {run_id!r} names a file outside its folder ({name!r}).")
                self._download(f"{RUNS_PREFIX}/{run_id}/{name}", staging, token)
            shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping
            os.replace(staging / RUNS_PREFIX / run_id, run_dir)  # whole, or not at all
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return run_dir
