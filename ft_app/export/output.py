"""Where exports write: never over a file that a person put there.

Every export that writes into a folder a person names (`--demo-space DIR`, `--recipe DIR`, a card's folder) first
checks that the files it is about to write are absent, or were made by an earlier export of this app (listed in the
folder's `.fine_tune_studio.json`); it then records what it made. A zip is replaced only when it is a zip this app
made (its comment says so).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

MANIFEST = ".fine_tune_studio.json"
ZIP_COMMENT = b"Made by Fine-Tune Studio"


def made_here(folder: Path) -> set[str]:
    """The names an earlier export of this app wrote into `folder` (files, or folders it owns whole)."""
    try:
        names = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("made", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in names if isinstance(n, str)}


def check_free(folder: Path, names: Iterable[str]) -> None:
    """Refuse, before anything is written, when `folder` holds any of `names` that this app did not make."""
    ours = made_here(folder)
    clash = sorted(n for n in names if (folder / n).exists() and n not in ours)
    if clash:
        more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
        raise ValueError(
            f"{folder} already has {clash[0]!r}{more}, which Fine-Tune Studio did not make, so it is not overwritten. "
            "Choose an empty or new folder, or move those files away first."
        )


def record_made(folder: Path, names: Iterable[str]) -> None:
    """Note the names this export wrote into `folder`, so that a later export of this app may replace them."""
    made = sorted(made_here(folder) | set(names))
    (folder / MANIFEST).write_text(json.dumps({"made": made}, indent=2) + "\n", encoding="utf-8")


def check_zip_free(path: Path) -> None:
    """Refuse to replace a file that is not a zip this app made."""
    if not path.exists():
        return
    try:
        with zipfile.ZipFile(path) as zf:
            if zf.comment == ZIP_COMMENT:
                return
    except (OSError, zipfile.BadZipFile):
        pass  # not a zip at all: certainly not ours
    raise ValueError(
        f"{path} already exists and Fine-Tune Studio did not make it, so it is not overwritten. Give another file "
        "name, or move that file away first."
    )
