"""The one rule for a place a person names: a local path or a Hub id, the app's home and uploads folder, and which
local paths the visitors of this server may open.

A leaf module (it imports nothing of the app), so that every part of the app, the catalog's suggestions as much as
the host's checks, asks the same rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UPLOADS_DIR = "uploads"
UPLOADS_PREFIX = f"{UPLOADS_DIR}/"
# Data files the app reads (and spreadsheet or text files it names in its refusals): a name ending so is a path.
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt", ".xlsx", ".xls")
# Set by the app when it listens beyond the loopback (a Space sets SPACE_ID): visitors are strangers.
PUBLIC_ENV = "FT_APP_PUBLIC"


def looks_like_path(source: str) -> bool:
    """Whether a name is meant as a local path rather than a Hub id."""
    s = str(source).strip()
    return (
        s.startswith(("/", "./", "../", "~", "\\"))
        or s[1:2] == ":"  # a Windows drive (C:\models); a Hub id has no colon
        or Path(s).suffix.lower() in DATA_SUFFIXES
        or Path(s).expanduser().exists()
    )


def app_home() -> Path:
    """The app's folder for runs and uploads: $FT_APP_HOME, else /data/ft_app on a Space with persistent storage,
    else the folder the app runs in."""
    home = os.environ.get("FT_APP_HOME")
    if home:
        return Path(home).expanduser()
    if os.environ.get("SPACE_ID") and Path("/data").is_dir() and os.access("/data", os.W_OK):
        return Path("/data/ft_app")
    return Path.cwd().resolve()


def default_uploads_dir() -> Path:
    """The uploads folder of the app home."""
    return app_home() / UPLOADS_DIR


def local_path(value: str, uploads_dir: Path | None = None) -> Path:
    """The file or folder a path in a run config names: `uploads/<name>` is that file in the app's uploads folder;
    any other path is as given ('~' expanded, relative to the folder the app runs in)."""
    text = str(value).strip()
    name = text[len(UPLOADS_PREFIX):] if text.startswith(UPLOADS_PREFIX) else ""
    if name and not any(sep in name for sep in ("/", "\\")) and name not in (".", ".."):
        return (uploads_dir or default_uploads_dir()) / name
    return Path(text).expanduser()


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it (both resolved by the caller)."""
    return path == folder or folder in path.parents


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class PathRule:
    """Which local paths visitors may name: any, on a local single-user app; with a local root, those inside it or
    the uploads folder; on a public or demo server without a root, the uploads folder only. Run folders never."""

    local_root: Path | None = None
    guarded: bool = False  # public, demo, or a local root set

    @classmethod
    def from_env(cls) -> PathRule:
        """The rule this server's FT_APP_* settings give (the same variables HostSettings reads)."""
        raw = os.environ.get("FT_APP_LOCAL_ROOT", "").strip()
        root = Path(raw).expanduser().resolve() if raw else None
        public = _flag(PUBLIC_ENV) or bool(os.environ.get("SPACE_ID")) or _flag("FT_APP_DEMO")
        return cls(local_root=root, guarded=public or root is not None)

    def allows(self, value: str, uploads_dir: Path | None = None) -> bool:
        """Whether a visitor may name this path here (a Hub id always)."""
        if not self.guarded or not looks_like_path(value):
            return True
        uploads = (uploads_dir or default_uploads_dir()).resolve()
        path = local_path(value, uploads).resolve()
        roots = ([self.local_root] if self.local_root else []) + [uploads]
        # A run's own files (configs, statuses, held-out rows) are the app's, even under an allowed root.
        if inside(path, uploads.parent / "runs"):
            return False
        return any(inside(path, root) for root in roots)
