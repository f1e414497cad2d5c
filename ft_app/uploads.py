"""The app's uploads folder: data files visitors uploaded, named `uploads/<name>` in run configs, kept under a cap.

A run config names an uploaded file as `uploads/<name>`, never by its absolute path on the server: the page shows
that name, and `local_path` (used by data loading and by the host's path check alike) finds the file in the
app's uploads folder, wherever the app keeps it (`$FT_APP_HOME/uploads`). A CLI run in the same app home reads
the same file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ft_app.runs import UPLOADS_DIR, default_runs_root

log = logging.getLogger(__name__)
UPLOADS_PREFIX = f"{UPLOADS_DIR}/"
MB = 1024 * 1024


def default_uploads_dir() -> Path:
    """The uploads folder of the app home (beside the default runs folder)."""
    return default_runs_root().parent / UPLOADS_DIR


def local_path(value: str, uploads_dir: Path | None = None) -> Path:
    """The file or folder a path in a run config names: `uploads/<name>` is that file in the app's uploads folder;
    any other path is as given ('~' expanded, relative to the folder the app runs in)."""
    text = str(value).strip()
    name = text[len(UPLOADS_PREFIX):] if text.startswith(UPLOADS_PREFIX) else ""
    if name and not any(sep in name for sep in ("/", "\\")) and name not in (".", ".."):
        return (uploads_dir or default_uploads_dir()) / name
    return Path(text).expanduser()


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


def keep_upload(uploads_dir: Path, tmp_path: str | Path, host: Any) -> Path:
    """Copy an uploaded file out of Gradio's temporary cache into the uploads folder, keeping the folder under the
    host's cap (`FT_APP_MAX_UPLOADS_MB`: the oldest files go first); refused on a demo server."""
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
        removed.append(path.name)
    if removed:
        log.info("Uploads folder over its cap: removed the oldest uploads %s.", ", ".join(removed))
    return removed
