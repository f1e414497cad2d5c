"""Every endpoint that takes a local path, on a public server and under a local root (issue 11, item 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.ui.conftest import AppServer, start_app, stop_app
from tests.ui.test_app_api import run_folders

REFUSED_PUBLIC = "opens only files uploaded to it"
REFUSED_ROOT = "outside the folder this server allows"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> dict[str, Path]:
    """Files and a model folder that no visitor may name: another home's run config, a data file, a model."""
    other = tmp_path_factory.mktemp("other_home")
    (other / "runs" / "r1").mkdir(parents=True)
    (other / "runs" / "r1" / "config.json").write_text(json.dumps({"secret": "run settings"}), encoding="utf-8")
    (other / "private.csv").write_text("text,label\nsecret,1\n", encoding="utf-8")
    return {"run_config": other / "runs" / "r1" / "config.json", "csv": other / "private.csv", "model": tiny_bert_dir}


def _servers(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[AppServer]:
    home = tmp_path_factory.mktemp("paths_home")
    server = start_app(home, home / "app.log", extra_env=env)
    yield server
    stop_app(server)


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A public server (FT_APP_PUBLIC=1) with no local root."""
    yield from _servers(tmp_path_factory, {"FT_APP_PUBLIC": "1"})


def _refused(client: Client, api: str, args: tuple, message: str) -> None:
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=api)


def test_a_public_server_without_a_root_opens_only_uploads(
    public_server: AppServer, outside: dict[str, Path], sentiment_csv: Path
) -> None:
    client = Client(public_server.url, verbose=False)
    for path in (outside["run_config"], outside["csv"]):
        _refused(client, "/load_data", (str(path), "", "train", "classification"), REFUSED_PUBLIC)
    _refused(client, "/check_model", (str(outside["model"]), "classification"), REFUSED_PUBLIC)
    _refused(client, "/try_example", ("classification", str(outside["model"])), REFUSED_PUBLIC)
    # The same file uploaded is fine.
    kept = client.predict(handle_file(str(sentiment_csv)), "classification", api_name="/upload_data")[0]
    preview = client.predict(kept, "", "train", "classification", api_name="/load_data")
    assert "64 rows" in json.dumps(preview)
    # Train names every path of the config: model, data, validation and the zero-shot baseline model.
    for bad in ({"model": str(outside["model"])}, {"data": {"train": str(outside["csv"])}},
                {"data": {"train": kept, "validation": str(outside["csv"])}},
                {"evaluation": {"zero_shot_model": str(outside["model"])}}):
        config = {"task": "classification", "model": "distilbert-base-uncased", "data": {"train": kept}, **bad}
        _refused(client, "/train", (json.dumps(config), 0.0), REFUSED_PUBLIC)
    assert run_folders(public_server) == []
    assert "Traceback" not in public_server.log()


def test_a_local_root_allows_its_folder_only(
    tmp_path_factory: pytest.TempPathFactory, outside: dict[str, Path], tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    root = sentiment_csv.parent  # the test's own folder: data inside it may be named, nothing else
    for server in _servers(tmp_path_factory, {"FT_APP_LOCAL_ROOT": str(root)}):
        client = Client(server.url, verbose=False)
        assert "64 rows" in json.dumps(client.predict(str(sentiment_csv), "", "train", "classification",
                                                      api_name="/load_data"))
        for path in (outside["run_config"], outside["csv"]):
            _refused(client, "/load_data", (str(path), "", "train", "classification"), REFUSED_ROOT)
        _refused(client, "/check_model", (str(tiny_bert_dir), "classification"), REFUSED_ROOT)
        config = {"task": "classification", "model": str(tiny_bert_dir), "data": {"train": str(sentiment_csv)}}
        _refused(client, "/train", (json.dumps(config), 0.0), REFUSED_ROOT)
        assert run_folders(server) == []
