"""Offline, the page suggests models on this computer, never a Hub id it cannot download."""

from __future__ import annotations

from pathlib import Path

import pytest

from ft_app import catalog
from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager
from ft_app.ui.app import build_app


@pytest.fixture
def offline_with_one_local_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    local = str(tmp_path / "models" / "my-minilm")
    monkeypatch.setattr(catalog, "known_offline", lambda: True)
    monkeypatch.setattr(catalog, "local_model_suggestions", lambda task, *a, **k: [local])
    monkeypatch.setattr(catalog, "local_models_hint", lambda task=None, limit=3: f"Models on this computer: my-minilm ({local}).")
    return local


def _handler(demo: object, name: str) -> object:
    (fn,) = [f.fn for f in demo.fns.values() if f.fn.__name__ == name]
    return fn


def test_a_recipe_offline_fills_in_a_local_model(tmp_path: Path, offline_with_one_local_model: str) -> None:
    demo = build_app(JobManager(RunStore(tmp_path / "runs")))
    form, train = demo.ft_context.form, demo.ft_train
    updates = _handler(demo, "pick_preset")("sentiment-lora", "")
    assert updates[form.by_path[("model", "name_or_path")]]["value"] == offline_with_one_local_model
    note = updates[train.preset_note]
    assert f"Suggested model: `{offline_with_one_local_model}`" in note and "distilbert" not in note
    # A model the visitor already chose is kept.
    updates = _handler(demo, "pick_preset")("sentiment-lora", "/my/own/model")
    assert form.by_path[("model", "name_or_path")] not in updates


def test_train_without_a_model_offline_names_the_local_ones(tmp_path: Path, offline_with_one_local_model: str) -> None:
    message = catalog.no_model_message("classification")
    assert "Hub cannot be reached" in message and offline_with_one_local_model in message
    assert "distilbert" not in message
