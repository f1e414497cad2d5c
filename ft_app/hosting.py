"""Host settings from environment variables: demo mode, login, limits, and what visitors may touch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.data import looks_like_path


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
        for what, value in (("model", config.model.name_or_path), ("data.train", config.data.train),
                            ("data.validation", config.data.validation)):
            if value:
                self.check_local_path(what, value, uploads_dir)

    def check_local_path(self, what: str, value: str, uploads_dir: Path | None = None) -> None:
        """With a local root set, refuse local paths outside it and outside the app's uploads folder."""
        if self.local_root is None or not looks_like_path(value):
            return
        path = Path(value).expanduser().resolve()
        roots = [self.local_root] + ([uploads_dir.resolve()] if uploads_dir else [])
        if not any(path == root or root in path.parents for root in roots):
            raise ValueError(
                f"{what} {value!r} is outside the folder this server allows ({self.local_root}). "
                "Upload the file instead, or use a path inside that folder."
            )
