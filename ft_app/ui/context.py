"""What the tabs of one app share: the job manager (the ONE shared object), its run store and the run form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager
from ft_app.ui.form import Form


@dataclass
class AppContext:
    """Handed to every tab builder; per-visitor state lives in gr.State, never here."""

    jobs: JobManager
    form: Form = field(default_factory=Form)
    login_required: bool = False  # Hugging Face OAuth on a Space: Train and Resume need a signed-in visitor
    # The visitor's owner key (a gr.State filled from the browser's local storage when the page loads): every
    # event that touches a run takes it as an input, so that the job manager knows who asks.
    owner: Any = None

    @property
    def store(self) -> RunStore:
        """The run store the job manager writes to."""
        return self.jobs.store

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded data files are kept so that runs can read them after the upload cache is cleaned."""
        return self.store.uploads_dir
