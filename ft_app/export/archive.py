"""The download: one zip with the result, its card, curve, numbers, a demo Space folder and the recipe at scale."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from ft_app.export.card import CARD_FILE, render_card
from ft_app.export.curve import LOSS_CURVE_FILE, write_loss_curve
from ft_app.export.output import ZIP_COMMENT, check_zip_free
from ft_app.export.scale import RECIPE_DIR, write_recipe
from ft_app.export.source import ExportRun, load_export_run, result_files
from ft_app.export.space import write_demo_space
from ft_app.runs import (
    COMPARE_FILE,
    CONFIG_FILE,
    DATA_INFO_FILE,
    EVAL_FILE,
    EXAMPLES_FILE,
    LABELS_FILE,
    METRICS_FILE,
)

SPACE_DIR = "space"
RUN_FILES = (CONFIG_FILE, DATA_INFO_FILE, METRICS_FILE, EVAL_FILE, COMPARE_FILE, EXAMPLES_FILE)
# Weights and images are already dense: storing them as they are is as small and much faster than deflating.
STORED_SUFFIXES = (".safetensors", ".bin", ".png", ".gguf", ".pt")


def zip_name(run: ExportRun) -> str:
    """The download's file name."""
    return f"{run.run_id}.zip"


def build_zip(run_dir: str | Path, out_path: str | Path, *, include_merged: bool = False) -> Path:
    """Write the run's result and everything that explains it into one zip (a top folder named after the run)."""
    run = load_export_run(run_dir)
    out = Path(out_path).expanduser().resolve()
    check_zip_free(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if include_merged and not run.has_merged:
        raise ValueError(f"Run {run.run_id!r} has no merged model yet: merge it first, or leave the merged model out.")
    top = run.run_id
    staging = Path(tempfile.mkdtemp(prefix="ft_app_zip_"))
    partial = out.with_name(f".{out.name}.partial")
    try:
        entries: list[tuple[Path, str]] = []
        for folder in [run.result_dir] + ([run.merged_dir] if include_merged else []):
            entries += [(f, f"{top}/{folder.name}/{f.relative_to(folder).as_posix()}") for f in result_files(folder)]
        entries += [(run.run_dir / name, f"{top}/{name}") for name in RUN_FILES if (run.run_dir / name).is_file()]
        if run.label_names:
            labels = staging / LABELS_FILE
            names = run.label_names
            labels.write_text(json.dumps({"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in
                                         enumerate(names)}}, indent=2), encoding="utf-8")
            entries.append((labels, f"{top}/{LABELS_FILE}"))
        curve = write_loss_curve(run.metrics, staging / LOSS_CURVE_FILE, f"Training curve · {run.run_id}")
        if curve:
            entries.append((curve, f"{top}/{LOSS_CURVE_FILE}"))
        card = staging / CARD_FILE
        render_card(run, model_ref=f"./{run.result_dir.name}", curve_file=LOSS_CURVE_FILE if curve else None).save(card)
        entries.append((card, f"{top}/{CARD_FILE}"))
        # The demo app finds the result one folder up, so the weights are not in the zip twice.
        space = write_demo_space(run.run_dir, staging / SPACE_DIR, model_ref=f"../{run.result_dir.name}",
                                 staging=True)
        entries += [(f, f"{top}/{SPACE_DIR}/{f.name}") for f in sorted(space.iterdir()) if f.is_file()]
        recipe = write_recipe(run.run_dir, staging / RECIPE_DIR, staging=True)
        entries += [(f, f"{top}/{RECIPE_DIR}/{f.name}") for f in sorted(recipe.iterdir()) if f.is_file()]
        with zipfile.ZipFile(partial, "w") as zf:
            zf.comment = ZIP_COMMENT
            for path, name in entries:
                method = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                zf.write(path, name, compress_type=method)
        os.replace(partial, out)  # never a half-written zip under the final name
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return out


def zip_folder(folder: str | Path, out_path: str | Path, top: str | None = None) -> Path:
    """Zip a folder's files under one top folder (default: the folder's name); returns the zip."""
    folder = Path(folder)
    out = Path(out_path)
    check_zip_free(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w") as zf:
            zf.comment = ZIP_COMMENT
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                method = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                zf.write(path, f"{top or folder.name}/{path.relative_to(folder).as_posix()}", compress_type=method)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def build_space_zip(run_dir: str | Path, out_path: str | Path) -> Path:
    """The demo Space folder, with the result's files inside it, as one zip ready to upload or run."""
    run = load_export_run(run_dir)
    staging = Path(tempfile.mkdtemp(prefix="ft_app_space_"))
    try:
        write_demo_space(run.run_dir, staging / SPACE_DIR, staging=True)
        return zip_folder(staging / SPACE_DIR, out_path, top=f"{run.run_id}-demo-space")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def build_recipe_zip(run_dir: str | Path, out_path: str | Path) -> Path:
    """config.json, COMMANDS.md and the accelerate config files as one zip."""
    staging = Path(tempfile.mkdtemp(prefix="ft_app_recipe_"))
    try:
        folder = write_recipe(run_dir, staging / RECIPE_DIR, staging=True)
        return zip_folder(folder, out_path, top=f"{Path(run_dir).name}-recipe")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
