"""Who a run belongs to, and who may stop, delete, resume or see it.

On a public server a run belongs to who started it: the signed-in Hugging Face user, else the owner key of
the browser that started it (a random secret the browser keeps; an API client's session stands in for it).
The run folder keeps the owner in `owner.json`, the key only as a SHA-256 hash; it is never shown.
Stop, delete and resume are for the owner and for the host's admins (`FT_APP_ADMIN_USERS`); with
`FT_APP_PRIVATE_RUNS=1` each visitor also sees only their own runs. A local single-user app (not public)
lets everyone do everything, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ft_app.runs import write_json_atomic

OWNER_FILE = "owner.json"
SECRET_FILE = ".browser_secret"
OWNER_KEY = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def new_owner_key() -> str:
    """A fresh owner key for a browser: 256 random bits."""
    return secrets.token_urlsafe(32)


def valid_owner_key(value: object) -> bool:
    """Whether a value a browser sent is an owner key this app could have made."""
    return isinstance(value, str) and bool(OWNER_KEY.match(value))


def browser_secret(home: Path) -> str:
    """The secret that encrypts owner keys in visitors' browsers, kept in the app home so that a restart does not
    make every browser's key unreadable (made once, readable by this user only)."""
    path = home / SECRET_FILE
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    home.mkdir(parents=True, exist_ok=True)
    text = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


@dataclass(frozen=True)
class Visitor:
    """Who is asking: a signed-in Hugging Face user and/or the owner key of their browser (or API session)."""

    user: str | None = None
    key: str | None = None

    @property
    def key_hash(self) -> str | None:
        """The owner key as the run folder keeps it."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest() if self.key else None

    @property
    def anonymous(self) -> bool:
        """Whether nothing identifies this visitor."""
        return not (self.user or self.key)


def record_owner(run_dir: Path, visitor: Visitor | None) -> None:
    """Write who started a run into its folder (nothing for a run started without a visitor, e.g. the CLI)."""
    if visitor is None or visitor.anonymous:
        return
    write_json_atomic(run_dir / OWNER_FILE, {"user": visitor.user, "key_sha256": visitor.key_hash})


def read_owner(run_dir: Path) -> dict[str, Any]:
    """The run's owner record ({} when it has none: started from the CLI, or before owners were recorded)."""
    path = run_dir / OWNER_FILE
    if not path.is_file():
        return {}
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # an unreadable record makes the run nobody's: only an admin may manage it
    return owner if isinstance(owner, dict) else {}


def owns(run_dir: Path, visitor: Visitor | None) -> bool:
    """Whether the visitor started this run (as the same signed-in user, or from the same browser or session)."""
    return owner_matches(read_owner(run_dir), visitor)


def owner_matches(owner: dict[str, Any], visitor: Visitor | None) -> bool:
    """Whether an owner record (a run's, or a backup's) is this visitor."""
    if visitor is None or visitor.anonymous or not isinstance(owner, dict):
        return False
    if visitor.user and owner.get("user") == visitor.user:
        return True
    return bool(visitor.key_hash and owner.get("key_sha256") == visitor.key_hash)


class Access:
    """The host's rules on runs: with ownership on, stop/delete/resume for the owner or an admin; private runs."""

    def __init__(self, host: Any) -> None:
        self.host = host

    @property
    def on(self) -> bool:
        """Whether runs belong to who started them (a public server, or private runs)."""
        return bool(self.host.owns_runs)

    def is_admin(self, visitor: Visitor | None) -> bool:
        """Whether the visitor is signed in as one of the host's admins."""
        return self.host.is_admin(visitor)

    def may_manage(self, run_dir: Path, visitor: Visitor | None) -> bool:
        """Whether the visitor may stop, delete or resume this run."""
        return not self.on or self.is_admin(visitor) or owns(run_dir, visitor)

    def may_manage_owner(self, owner: dict[str, Any], visitor: Visitor | None) -> bool:
        """Whether the visitor may manage (restore) a run with this owner record (a backed-up run not on disk)."""
        return not self.on or self.is_admin(visitor) or owner_matches(owner, visitor)

    def may_see(self, run_dir: Path, visitor: Visitor | None) -> bool:
        """Whether the visitor may see this run at all (everyone, unless the host keeps runs private)."""
        return not self.host.private_runs or self.is_admin(visitor) or owns(run_dir, visitor)

    def may_see_owner(self, owner: dict[str, Any], visitor: Visitor | None) -> bool:
        """Whether the visitor may see a run with this owner record (a backed-up run not on disk)."""
        return not self.host.private_runs or self.is_admin(visitor) or owner_matches(owner, visitor)

    def may_export(self, run_dir: Path, visitor: Visitor | None) -> bool:
        """Whether the visitor may take the run's files away (zip, card, demo app, recipe, weights): its owner and the
        admins, unless the host shares runs (FT_APP_SHARED_RUNS=1) or runs have no owners here."""
        return not self.on or bool(self.host.shared_runs) or self.is_admin(visitor) or owns(run_dir, visitor)

    def check_export(self, run_dir: Path, visitor: Visitor | None) -> None:
        """Refuse, in a plain sentence, a visitor who may not take this run's files away."""
        if not self.may_export(run_dir, visitor):
            raise ValueError(
                f"Run {run_dir.name} was started by another visitor: its files (zip, model card, demo app, recipe, "
                "weights) are for them and the admins of this server. You can still look at its curves and compare "
                "its answers."
            )

    def check_publish(self, run_dir: Path, visitor: Visitor | None, token_given: bool) -> None:
        """Refuse publishing another visitor's run, or with the host's own HF_TOKEN, on a server with owners."""
        self.check_manage(run_dir, visitor, "publish")
        if self.on and not token_given and not self.is_admin(visitor):
            raise ValueError(
                "On this shared server a model is published with your own Hugging Face token, not the server's: "
                "paste a token with write access in the token field (used for this upload only, never saved). "
                "Create one at https://huggingface.co/settings/tokens."
            )

    def check_manage(self, run_dir: Path, visitor: Visitor | None, action: str) -> None:
        """Refuse, in a plain sentence, a visitor who may not `action` (stop, delete, resume) this run."""
        if not self.may_manage(run_dir, visitor):
            raise ValueError(
                f"Run {run_dir.name} was started by another visitor: only they (or an admin of this server) can "
                f"{action} it."
            )
