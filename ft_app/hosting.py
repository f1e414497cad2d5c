"""Host settings from environment variables: demo mode, login, limits, and what visitors may touch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.data import looks_like_path
from ft_app.hub_token import redact
from ft_app.uploads import local_path


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


def _limit(name: str, kind: type = int) -> Any:
    """A host limit: None when unset (the default for this kind of server applies), 0 for "no limit"."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in ("0", "none", "off", "no"):
        return 0
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"Environment variable {name}={raw!r} must be a number (0 for no limit).") from None
    if value <= 0:
        raise ValueError(f"Environment variable {name}={raw!r} must be above 0 (or 0 for no limit).")
    return value


def _names(name: str) -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get(name, "").split(",") if n.strip())


# Limits a public server has unless its host sets others (0 switches one off): a free CPU Space trains a small
# model on a few thousand rows in minutes; these stop a visitor from holding the one training slot for hours.
PUBLIC_MAX_RUN_MINUTES = 60
PUBLIC_MAX_TRAIN_ROWS = 50_000
PUBLIC_MAX_STEPS = 10_000
DEFAULT_MAX_UPLOADS_MB = 2_000


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
    admin_users: frozenset[str] = frozenset()  # FT_APP_ADMIN_USERS=ann,bob: signed-in HF users who manage every run
    private_runs: bool = False  # FT_APP_PRIVATE_RUNS=1: each visitor sees only their own runs
    # Limits per run: None = the default for this kind of server (see the properties below), 0 = no limit.
    max_run_minutes: float | None = None  # FT_APP_MAX_RUN_MINUTES: the run stops (and saves) when reached
    max_train_rows: int | None = None  # FT_APP_MAX_TRAIN_ROWS
    max_steps: int | None = None  # FT_APP_MAX_STEPS
    max_uploads_mb: int = DEFAULT_MAX_UPLOADS_MB  # FT_APP_MAX_UPLOADS_MB: the uploads folder; oldest files go first
    backup_repo: str | None = None  # FT_APP_BACKUP_REPO=user/name: finished runs are backed up to this Hub dataset

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
            admin_users=_names("FT_APP_ADMIN_USERS"),
            private_runs=_flag("FT_APP_PRIVATE_RUNS"),
            max_run_minutes=_limit("FT_APP_MAX_RUN_MINUTES", float),
            max_train_rows=_limit("FT_APP_MAX_TRAIN_ROWS"),
            max_steps=_limit("FT_APP_MAX_STEPS"),
            max_uploads_mb=_int("FT_APP_MAX_UPLOADS_MB", DEFAULT_MAX_UPLOADS_MB),
            backup_repo=_backup_repo(),
        )

    # ---- who may do what with a run ----------------------------------------------------------------
    @property
    def owns_runs(self) -> bool:
        """Whether runs belong to who started them: stop, delete and resume only for the owner (or an admin)."""
        return self.public or self.private_runs

    # ---- limits per run -----------------------------------------------------------------------------
    def _effective(self, value: Any, public_default: int) -> Any:
        if value is None:
            return public_default if self.public else None
        return value or None

    @property
    def run_minutes_limit(self) -> float | None:
        """Most minutes a run may take here (None: no limit)."""
        return self._effective(self.max_run_minutes, PUBLIC_MAX_RUN_MINUTES)

    @property
    def train_rows_limit(self) -> int | None:
        """Most training rows a run may use here (None: no limit)."""
        return self._effective(self.max_train_rows, PUBLIC_MAX_TRAIN_ROWS)

    @property
    def steps_limit(self) -> int | None:
        """Most optimizer steps a run may take here (None: no limit)."""
        return self._effective(self.max_steps, PUBLIC_MAX_STEPS)

    def run_limits(self) -> dict[str, float]:
        """The limits a run gets in its status.json (what the training process applies): only those that are set."""
        limits = {"max_run_minutes": self.run_minutes_limit, "max_train_rows": self.train_rows_limit,
                  "max_steps": self.steps_limit}
        return {key: value for key, value in limits.items() if value}

    def apply_limits(self, config: Any) -> Any:
        """The config a run trains with here: refused when it asks for more than this host allows; at most
        `train_rows_limit` rows when it names no row count."""
        import dataclasses

        from ft_app.config import field_label

        rows, steps = self.train_rows_limit, self.steps_limit
        if steps and config.training.max_steps and config.training.max_steps > steps:
            raise ValueError(
                f"'{field_label('max_steps')}' is {config.training.max_steps:,}, more than this server allows per run "
                f"({steps:,}). Use {steps:,} or fewer, or leave it empty (the run then stops at {steps:,} steps)."
            )
        if rows and config.data.max_rows and config.data.max_rows > rows:
            raise ValueError(
                f"'{field_label('max_rows')}' is {config.data.max_rows:,}, more than this server allows per run "
                f"({rows:,}). Use {rows:,} or fewer, or leave it empty (the run then uses {rows:,} rows at most)."
            )
        if rows and not config.data.max_rows:
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, max_rows=rows))
        return config

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
        root, inside the uploads folder only; a local single-user app opens any path. `uploads/<name>` is that file
        in the uploads folder (the same `local_path` data loading uses); symlinks and '..' are resolved before the
        check, and any other relative path counts from the folder the app runs in.
        """
        if not self.guards_local_paths or not looks_like_path(value):
            return
        path = local_path(value, uploads_dir).resolve()
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


def _backup_repo() -> str | None:
    raw = os.environ.get("FT_APP_BACKUP_REPO", "").strip()
    if not raw:
        return None
    owner, sep, name = raw.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"FT_APP_BACKUP_REPO={raw!r} must be a Hub dataset repo id like 'user/fine-tune-runs'.")
    return raw


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents
