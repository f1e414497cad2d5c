"""What a finished run offers to export: its config, labels, result folder, metrics and before/after numbers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.paths import looks_like_path
from ft_app.results import RunResults, read_results
from ft_app.runs import ACTIVE_STATUSES, ADAPTER_DIR, CONFIG_FILE, DATA_INFO_FILE, RunStore

MERGED_DIR = "merged"
# Trainer.save_model leaves its pickled arguments beside the weights, and peft an empty template card: neither is
# part of the result (the export writes a real card).
SKIPPED_RESULT_FILES = frozenset({"training_args.bin", "README.md"})


@dataclass
class ExportRun:
    """A finished run, read once for every export step."""

    run_dir: Path
    config: RunConfig  # columns and max length as the run resolved them (data.json)
    status: dict[str, Any]
    label_names: list[str] | None
    result_dir: Path
    data_info: dict[str, Any]
    results: RunResults
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run's folder name."""
        return self.run_dir.name

    @property
    def is_adapter(self) -> bool:
        """Whether the result is a LoRA adapter (it needs the base model to run)."""
        return self.result_dir.name == ADAPTER_DIR

    @property
    def base_model(self) -> str:
        """The base model's Hub id or local folder, as the run used it."""
        return self.config.model.name_or_path

    @property
    def base_is_local(self) -> bool:
        """Whether the base model is a folder on this machine rather than a Hub id."""
        return looks_like_path(self.base_model)

    @property
    def base_name(self) -> str:
        """A short name for the base model: the last part of its Hub id, or of the name its folder gives (its README's
        model name, the folder above a generic `model/`: catalog.model_display_name), never a bare "model"."""
        from ft_app.catalog import model_display_name

        name = model_display_name(self.base_model) if self.base_is_local else self.base_model.strip()
        return name.rstrip("/").rsplit("/", 1)[-1] or "model"

    @property
    def own_name(self) -> str | None:
        """The name the person gave the run (the Train tab's "Run name"), if any: the fine-tuned model's name."""
        name = (self.config.name or "").strip()
        return name or None

    @property
    def model_name(self) -> str:
        """The fine-tuned model's name: the run's own name, else '<base>-<run id>'."""
        return self.own_name or f"{self.base_name}-{self.run_id}"

    @property
    def title(self) -> str:
        """How the card and the demo call the fine-tuned model: its own name, else '<base> fine-tuned (<run id>)'."""
        return self.own_name or f"{self.base_name} fine-tuned ({self.run_id})"

    @property
    def merged_dir(self) -> Path:
        """Where a merged LoRA model is saved."""
        return self.run_dir / MERGED_DIR

    @property
    def has_merged(self) -> bool:
        """Whether the adapter was merged into a standalone model already."""
        return (self.merged_dir / "config.json").is_file()


def load_export_run(run_dir: str | Path) -> ExportRun:
    """Read a run folder for export; a plain ValueError when it is not a finished run with a saved model."""
    from ft_app.inference import load_run_info

    run_dir = Path(run_dir).expanduser().resolve()
    if not (run_dir / CONFIG_FILE).is_file():
        raise ValueError(
            f"{str(run_dir)!r} is not a run folder (it has no {CONFIG_FILE}). Give the folder of one run, "
            "e.g. runs/20250101-120000-classification-lora."
        )
    store = RunStore(run_dir.parent)
    status = store.read_status(run_dir)
    if status.get("status") in ACTIVE_STATUSES:
        raise ValueError(f"Run {run_dir.name!r} is still training: wait until it has finished, then export it.")
    info = load_run_info(run_dir)
    data_info_path = run_dir / DATA_INFO_FILE
    data_info = json.loads(data_info_path.read_text(encoding="utf-8")) if data_info_path.is_file() else {}
    return ExportRun(
        run_dir=run_dir,
        config=info.config,
        status=status,
        label_names=info.label_names,
        result_dir=info.result_dir,
        data_info=data_info,
        results=read_results(run_dir),
        metrics=store.read_metrics(run_dir),
    )


def result_files(folder: Path) -> list[Path]:
    """The files of a model/adapter/merged folder worth shipping, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIPPED_RESULT_FILES)


def slug(text: str, limit: int = 60) -> str:
    """Text as a Hub-safe name part: letters, digits, '-', '_' and '.', no leading or trailing punctuation."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return cleaned[:limit].strip("-._") or "model"


def folder_size(path: Path) -> int:
    """Bytes used by the files under a folder (or by one file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(n: float) -> str:
    """A byte count in words people read: 532 kB, 87.1 MB, 1.2 GB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "kB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
