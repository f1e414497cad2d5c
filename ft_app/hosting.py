"""Host settings from environment variables: demo mode, login, limits, and what visitors may touch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.data import looks_like_path
from ft_app.hub_token import redact


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"Environment variable {name}={raw!r} must be a whole number.") from None
    if value <= 0:
        raise ValueError(f"Environment variable {name}={raw!r} must be above 0.")
    return value


@dataclass(frozen=True)
class HostSettings:
    """How this server is hosted; read once at start from FT_APP_* variables."""

    demo: bool = False  # FT_APP_DEMO=1: Compare and browse only; Train is refused (page and API)
    auth: tuple[str, str] | None = None  # FT_APP_AUTH=user:password: Gradio login
    oauth: bool = False  # FT_APP_OAUTH=1 on a Space: "Sign in with Hugging Face"
    allow_remote_code: bool = False  # FT_APP_ALLOW_REMOTE_CODE=1: models may run their own code
    local_root: Path | None = None  # FT_APP_LOCAL_ROOT=/dir: local models/data only from inside it
    public: bool = False  # FT_APP_PUBLIC=1, a Space, or listening beyond the loopback: visitors are strangers
    max_upload_mb: int = 200  # FT_APP_MAX_UPLOAD_MB
    queue_size: int = 16  # FT_APP_QUEUE_SIZE: waiting requests before "queue full"

    @classmethod
    def from_env(cls) -> HostSettings:
        """Read the settings from the environment, with plain errors for bad values."""
        auth = None
        raw_auth = os.environ.get("FT_APP_AUTH", "").strip()
        if raw_auth:
            user, sep, password = raw_auth.partition(":")
            if not sep or not user or not password:
                raise ValueError("FT_APP_AUTH must look like 'user:password'.")
            auth = (user, password)
        root = os.environ.get("FT_APP_LOCAL_ROOT", "").strip()
        return cls(
            demo=_flag("FT_APP_DEMO"),
            auth=auth,
            oauth=_flag("FT_APP_OAUTH"),
            allow_remote_code=_flag("FT_APP_ALLOW_REMOTE_CODE"),
            local_root=Path(root).expanduser().resolve() if root else None,
            public=_flag("FT_APP_PUBLIC") or bool(os.environ.get("SPACE_ID")),
            max_upload_mb=_int("FT_APP_MAX_UPLOAD_MB", 200),
            queue_size=_int("FT_APP_QUEUE_SIZE", 16),
        )

    def check_run_allowed(self, config: Any, uploads_dir: Path | None = None) -> None:
        """Refuse what this host does not allow, before anything is loaded (files in `uploads_dir` are allowed)."""
        if self.demo:
            raise ValueError(
                "This is a demo server: training is switched off here. You can compare and browse the runs "
                "that are already on it. Run the app on your own machine to train."
            )
        if config.model.trust_remote_code and not self.allow_remote_code:
            raise ValueError(
                "This server does not run code shipped with models (trust_remote_code is off). Pick a model that "
                "transformers supports natively; the host can allow it with FT_APP_ALLOW_REMOTE_CODE=1."
            )
        self.check_config_paths(config, uploads_dir)

    def check_config_paths(self, config: Any, uploads_dir: Path | None = None) -> None:
        """Every local path a run config names goes through `check_local_path`."""
        for what, value in (("Model", config.model.name_or_path), ("Training data", config.data.train),
                            ("Validation data", config.data.validation),
                            ("Zero-shot baseline model", config.evaluation.zero_shot_model)):
            if value:
                self.check_local_path(what, value, uploads_dir)

    @property
    def guards_local_paths(self) -> bool:
        """Whether visitors are limited in which local files and folders they may name."""
        return self.local_root is not None or self.demo or self.public

    def check_local_path(self, what: str, value: str, uploads_dir: Path | None = None) -> None:
        """The ONE check for a local path a visitor names (model folder, data file): refuse what this host keeps out.

        With a local root, paths must lie inside it or the app's uploads folder; on a public or demo server with no
        root, inside the uploads folder only; a local single-user app opens any path. Symlinks and '..' are
        resolved before the check, and a relative path counts from the folder the app runs in.
        """
        if not self.guards_local_paths or not looks_like_path(value):
            return
        path = Path(value).expanduser().resolve()
        roots = ([self.local_root] if self.local_root else []) + ([uploads_dir.resolve()] if uploads_dir else [])
        # A run's own files (configs, statuses, held-out rows) are the app's, even under an allowed root.
        runs = uploads_dir.resolve().parent / "runs" if uploads_dir else None
        if any(_inside(path, root) for root in roots) and not (runs and _inside(path, runs)):
            return
        if self.local_root is not None:
            raise ValueError(
                f"{what} {redact(value)!r} is outside the folder this server allows ({self.local_root}). "
                "Upload the file instead, or use a path inside that folder."
            )
        raise ValueError(
            f"{what} {redact(value)!r} is a path on the server, and this server opens only files uploaded to it. "
            "Upload the file instead (the host can allow a folder with FT_APP_LOCAL_ROOT)."
        )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
