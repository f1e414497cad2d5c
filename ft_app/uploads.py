"""The app's uploads folder: data files visitors uploaded, named `uploads/<name>` in run configs, kept under a cap.

A run config names an uploaded file as `uploads/<name>`, never by its absolute path on the server: the page shows
that name, and `local_path` (used by data loading and by the host's path check alike) finds the file in the
app's uploads folder, wherever the app keeps it (`$FT_APP_HOME/uploads`). A CLI run in the same app home reads
the same file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ft_app.ownership import owner_matches
from ft_app.paths import UPLOADS_PREFIX, default_uploads_dir, local_path
from ft_app.runs import write_json_atomic

log = logging.getLogger(__name__)
__all__ = ["default_uploads_dir", "keep_upload", "local_path", "upload_name", "prune"]
MB = 1024 * 1024
# Who uploaded each kept file (a visitor's user name and the hash of their owner key): `.owners/<name>.json`.
# The same bytes uploaded by two visitors are one file with two owners: each of them has the data anyway.
OWNERS_DIR = ".owners"


def upload_name(path: Path) -> str:
    """How a run config and the page name a kept upload: `uploads/<file name>`."""
    return f"{UPLOADS_PREFIX}{path.name}"


def check_uploads_allowed(host: Any) -> None:
    """Refuse uploads on a demo server (it trains nothing, so it keeps no visitor's files)."""
    if host.demo:
        raise ValueError(
            "This is a demo server: uploading data is switched off here. Browse and compare the runs that are "
            "already on it, or run the app on your own machine to train on your data."
        )


def is_upload(value: str, uploads_dir: Path) -> bool:
    """Whether a path in a run config names a file in the uploads folder (by `uploads/<name>` or by its path)."""
    path = local_path(value, uploads_dir).resolve()
    return path.parent == uploads_dir.resolve()


def owns_upload(uploads_dir: Path, value: str, visitor: Any) -> bool:
    """Whether the visitor uploaded this file (as the same signed-in user, or from the same browser or API key)."""
    return any(owner_matches(owner, visitor) for owner in upload_owners(uploads_dir, local_path(value, uploads_dir).name))


def upload_owners(uploads_dir: Path, name: str) -> list[dict[str, Any]]:
    """The owner records of one kept upload ([] for a file kept before owners were recorded: then it is nobody's,
    and only an admin may use it on a server with owners)."""
    path = uploads_dir / OWNERS_DIR / f"{name}.json"
    try:
        owners = json.loads(path.read_text(encoding="utf-8")).get("owners", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [o for o in owners if isinstance(o, dict)]


def record_upload_owner(uploads_dir: Path, name: str, visitor: Any) -> None:
    """Add the visitor to the owners of a kept upload (nothing for a caller without identity, e.g. the CLI)."""
    if visitor is None or visitor.anonymous:
        return
    owner = {"user": visitor.user, "key_sha256": visitor.key_hash}
    owners = upload_owners(uploads_dir, name)
    if owner not in owners:
        write_json_atomic(uploads_dir / OWNERS_DIR / f"{name}.json", {"owners": [*owners, owner]})


def keep_upload(uploads_dir: Path, tmp_path: str | Path, host: Any, visitor: Any = None) -> Path:
    """Copy an uploaded file out of Gradio's temporary cache into the uploads folder, keeping the folder under the
    host's cap (`FT_APP_MAX_UPLOADS_MB`: the oldest files go first); the file belongs to `visitor` (and to whoever
    else uploaded the same bytes); refused on a demo server."""
    check_uploads_allowed(host)
    src = Path(tmp_path)
    cap = host.max_uploads_mb * MB
    size = src.stat().st_size
    if size > cap:
        raise ValueError(
            f"File {src.name!r} ({size / MB:,.0f} MB) is larger than this server keeps for uploads "
            f"({host.max_uploads_mb:,} MB in all). Use a smaller file, or fewer rows of it."
        )
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    dest = uploads_dir / f"{digest}-{src.name}"
    if dest.exists():
        os.utime(dest)  # uploaded again: it counts as new, so the cap removes it last
    else:
        uploads_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    record_upload_owner(uploads_dir, dest.name, visitor)
    prune(uploads_dir, cap, keep=dest)
    return dest


def prune(uploads_dir: Path, max_bytes: int, keep: Path | None = None) -> list[str]:
    """Delete the oldest uploads until the folder holds at most `max_bytes` (never `keep`); the names deleted."""
    files = sorted((p for p in uploads_dir.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    removed = []
    for path in files:
        if total <= max_bytes:
            break
        if keep is not None and path == keep:
            continue
        total -= path.stat().st_size
        path.unlink()
        (uploads_dir / OWNERS_DIR / f"{path.name}.json").unlink(missing_ok=True)
        removed.append(path.name)
    if removed:
        log.info("Uploads folder over its cap: removed the oldest uploads %s.", ", ".join(removed))
    return removed
