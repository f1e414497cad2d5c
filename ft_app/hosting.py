"""Host settings from environment variables: demo mode, login, limits, and what visitors may touch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.hub_token import redact
from ft_app.paths import PUBLIC_ENV, PathRule, looks_like_path
from ft_app.uploads import is_upload, owns_upload


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
PUBLIC_MAX_EVAL_ROWS = 2_000  # held-out rows evaluated before and after: each is a forward pass, twice
PUBLIC_MAX_EXPORTS_MB = 2_000  # one visitor's downloads (zips, cards, demo apps) kept at once; the oldest go first
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
    max_processes: int | None = None  # FT_APP_MAX_PROCESSES: training processes per run (default: see limits.py)
    max_eval_rows: int | None = None  # FT_APP_MAX_EVAL_ROWS
    max_exports_mb: int | None = None  # FT_APP_MAX_EXPORTS_MB: one visitor's downloads at once
    max_run_life_minutes: float | None = None  # FT_APP_MAX_RUN_LIFE_MINUTES: a run's whole life, resumes included
    shared_runs: bool = False  # FT_APP_SHARED_RUNS=1: every visitor may download any run's files (zip, weights, ...)

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
            public=_flag(PUBLIC_ENV) or bool(os.environ.get("SPACE_ID")),
            max_upload_mb=_int("FT_APP_MAX_UPLOAD_MB", 200),
            queue_size=_int("FT_APP_QUEUE_SIZE", 16),
            admin_users=_names("FT_APP_ADMIN_USERS"),
            private_runs=_flag("FT_APP_PRIVATE_RUNS"),
            max_run_minutes=_limit("FT_APP_MAX_RUN_MINUTES", float),
            max_train_rows=_limit("FT_APP_MAX_TRAIN_ROWS"),
            max_steps=_limit("FT_APP_MAX_STEPS"),
            max_uploads_mb=_int("FT_APP_MAX_UPLOADS_MB", DEFAULT_MAX_UPLOADS_MB),
            backup_repo=_backup_repo(),
            max_processes=_limit("FT_APP_MAX_PROCESSES") or None,
            max_eval_rows=_limit("FT_APP_MAX_EVAL_ROWS"),
            max_exports_mb=_limit("FT_APP_MAX_EXPORTS_MB"),
            max_run_life_minutes=_limit("FT_APP_MAX_RUN_LIFE_MINUTES", float),
            shared_runs=_flag("FT_APP_SHARED_RUNS"),
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

    @property
    def run_life_limit(self) -> float | None:
        """Most minutes a run may train here in all, resumes included (None: no limit). By default the same as the
        limit per run, so that Resume cannot keep the one training slot for ever."""
        if self.max_run_life_minutes is None:
            return self.run_minutes_limit
        return self.max_run_life_minutes or None

    @property
    def eval_rows_limit(self) -> int | None:
        """Most held-out rows a run may evaluate here (None: no limit)."""
        return self._effective(self.max_eval_rows, PUBLIC_MAX_EVAL_ROWS)

    @property
    def exports_limit_mb(self) -> int | None:
        """Most megabytes of downloads one visitor may have made at once here (None: no limit)."""
        return self._effective(self.max_exports_mb, PUBLIC_MAX_EXPORTS_MB)

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

        rows, steps, eval_rows = self.train_rows_limit, self.steps_limit, self.eval_rows_limit
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
        if eval_rows and config.data.max_eval_rows and config.data.max_eval_rows > eval_rows:
            raise ValueError(
                f"'{field_label('max_eval_rows')}' is {config.data.max_eval_rows:,}, more than this server allows per "
                f"run ({eval_rows:,}). Use {eval_rows:,} or fewer, or leave it empty (then {eval_rows:,} at most)."
            )
        if rows and not config.data.max_rows:
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, max_rows=rows))
        if eval_rows and not config.data.max_eval_rows:
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, max_eval_rows=eval_rows))
        return config

    def check_run_allowed(self, config: Any, uploads_dir: Path | None = None, visitor: Any = None) -> None:
        """Refuse what this host does not allow, before anything is loaded (files in `uploads_dir` are allowed; on a
        server with owners, only the visitor's own uploads)."""
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
        self.check_config_paths(config, uploads_dir, visitor)

    def check_config_paths(self, config: Any, uploads_dir: Path | None = None, visitor: Any = None) -> None:
        """Every local path a run config names goes through `check_local_path`."""
        for what, value in (("Model", config.model.name_or_path), ("Training data", config.data.train),
                            ("Validation data", config.data.validation),
                            ("Zero-shot baseline model", config.evaluation.zero_shot_model)):
            if value:
                self.check_local_path(what, value, uploads_dir, visitor)

    @property
    def guards_local_paths(self) -> bool:
        """Whether visitors are limited in which local files and folders they may name."""
        return self.local_root is not None or self.demo or self.public

    @property
    def path_rule(self) -> PathRule:
        """The one rule on the local paths visitors may name here (paths.py; the catalog's suggestions ask it too)."""
        return PathRule(local_root=self.local_root, guarded=self.guards_local_paths)

    def allows_path(self, value: str, uploads_dir: Path | None = None) -> bool:
        """Whether `check_local_path` lets a visitor name this path (what the page may suggest)."""
        return self.path_rule.allows(value, uploads_dir)

    def check_local_path(self, what: str, value: str, uploads_dir: Path | None = None, visitor: Any = None) -> None:
        """The ONE check for a local path a visitor names (model folder, data file): refuse what this host keeps out.

        With a local root, paths must lie inside it or the app's uploads folder; on a public or demo server with no
        root, inside the uploads folder only; a local single-user app opens any path (paths.PathRule). `uploads/<name>`
        is that file in the uploads folder; symlinks and '..' are resolved before the check, and any other relative
        path counts from the folder the app runs in. On a server where runs have owners, an upload is opened only
        for a visitor who uploaded it (or an admin); `visitor` None is a trusted caller (the command line, the job
        manager resuming its own run).
        """
        if looks_like_path(value) and uploads_dir is not None and visitor is not None and self.owns_runs:
            self._check_upload_owner(what, value, uploads_dir, visitor)
        if self.allows_path(value, uploads_dir):
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

    def is_admin(self, visitor: Any) -> bool:
        """Whether the visitor is signed in as one of the host's admins."""
        user = getattr(visitor, "user", None)
        return bool(user and user in self.admin_users)

    def _check_upload_owner(self, what: str, value: str, uploads_dir: Path, visitor: Any) -> None:
        if is_upload(value, uploads_dir) and not (owns_upload(uploads_dir, value, visitor) or self.is_admin(visitor)):
            raise ValueError(
                f"{what} {redact(value)!r} was uploaded by another visitor of this server: only they can use it. "
                "Upload your own file in the Data tab."
            )


def _backup_repo() -> str | None:
    raw = os.environ.get("FT_APP_BACKUP_REPO", "").strip()
    if not raw:
        return None
    owner, sep, name = raw.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ValueError(f"FT_APP_BACKUP_REPO={raw!r} must be a Hub dataset repo id like 'user/fine-tune-runs'.")
    return raw

