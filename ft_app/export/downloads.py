"""Downloads the app makes for its visitors (zips, cards, demo apps, recipes, side-by-side tables).

Each visitor's downloads live in a folder of their own, under the cache folder the web server hands files out from;
the host's cap (`FT_APP_MAX_EXPORTS_MB`) bounds what one visitor's downloads take on the disk at once, the oldest
going first (as the uploads' cap does), and any download older than an hour is removed.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

MAX_AGE_S = 3600  # how long a made download stays
MB = 1024 * 1024


def visitor_folder_name(visitor: Any) -> str:
    """A folder name for one visitor's downloads that reveals nothing about them."""
    who = getattr(visitor, "user", None) or getattr(visitor, "key", None) or "anyone"
    return hashlib.sha256(str(who).encode("utf-8")).hexdigest()[:16]


def new_download_folder(root: Path, visitor: Any) -> Path:
    """A fresh folder for one download of this visitor (old downloads of every visitor are removed first)."""
    remove_old(root)
    folder = root / visitor_folder_name(visitor) / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_old(root: Path, max_age_s: float = MAX_AGE_S) -> None:
    """Remove downloads older than `max_age_s` (a visitor's folder goes when it is empty)."""
    if not root.is_dir():
        return
    now = time.time()
    for visitor_dir in [d for d in root.iterdir() if d.is_dir()]:
        for made in [d for d in visitor_dir.iterdir() if d.is_dir()]:
            if now - made.stat().st_mtime > max_age_s:
                shutil.rmtree(made, ignore_errors=True)
        if not any(visitor_dir.iterdir()):
            visitor_dir.rmdir()


def folder_bytes(folder: Path) -> int:
    """The size of everything in a folder."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def keep_under_cap(made: Path, cap_mb: int | None) -> list[str]:
    """After a download was made in `made`: delete this visitor's older downloads until theirs fit in `cap_mb`
    (None: no cap); the names removed. A download bigger than the cap on its own is deleted and refused."""
    if not cap_mb:
        return []
    cap = cap_mb * MB
    size = folder_bytes(made)
    if size > cap:
        shutil.rmtree(made, ignore_errors=True)
        raise ValueError(
            f"This download is {size / MB:,.0f} MB, more than this server keeps for one visitor ({cap_mb:,} MB). "
            "Ask the host to raise FT_APP_MAX_EXPORTS_MB, or run the app on your own machine to export it."
        )
    others = sorted((d for d in made.parent.iterdir() if d.is_dir() and d != made), key=lambda d: d.stat().st_mtime)
    total = size + sum(folder_bytes(d) for d in others)
    removed = []
    for old in others:
        if total <= cap:
            break
        total -= folder_bytes(old)
        shutil.rmtree(old, ignore_errors=True)
        removed.append(old.name)
    return removed
