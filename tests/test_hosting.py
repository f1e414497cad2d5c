"""The one check every user-given local path goes through (issue 11): root, uploads, symlinks, '..', public servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from ft_app.config import RunConfig
from ft_app.hosting import HostSettings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An app home with an upload, a run's files, and a folder of data beside it."""
    (tmp_path / "home" / "uploads").mkdir(parents=True)
    (tmp_path / "home" / "uploads" / "abc-reviews.csv").write_text("text,label\nok,1\n", encoding="utf-8")
    (tmp_path / "home" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "home" / "runs" / "r1" / "config.json").write_text("{}", encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\nok,1\n", encoding="utf-8")
    (tmp_path / "secret.json").write_text("{}", encoding="utf-8")
    return tmp_path


def _uploads(home: Path) -> Path:
    return home / "home" / "uploads"


def test_a_local_single_user_app_opens_any_path(home: Path) -> None:
    host = HostSettings()
    assert not host.guards_local_paths
    host.check_local_path("Training data", str(home / "secret.json"), _uploads(home))


@pytest.mark.parametrize("settings", [HostSettings(public=True), HostSettings(demo=True)], ids=["public", "demo"])
def test_a_public_or_demo_server_without_a_root_opens_only_uploads(home: Path, settings: HostSettings) -> None:
    uploads = _uploads(home)
    settings.check_local_path("Training data", str(uploads / "abc-reviews.csv"), uploads)
    for outside in (home / "secret.json", home / "data" / "train.csv", uploads / ".." / "runs" / "r1" / "config.json"):
        with pytest.raises(ValueError, match="opens only files uploaded to it. Upload the file instead"):
            settings.check_local_path("Training data", str(outside), uploads)
    settings.check_local_path("Model", "distilbert-base-uncased", uploads)  # a Hub id is not a path


def test_a_root_allows_its_folder_and_the_uploads_but_not_the_runs_or_anything_else(home: Path) -> None:
    uploads = _uploads(home)
    host = HostSettings(local_root=home.resolve(), public=True)
    host.check_local_path("Training data", str(home / "data" / "train.csv"), uploads)
    host.check_local_path("Training data", str(uploads / "abc-reviews.csv"), uploads)
    with pytest.raises(ValueError, match=r"outside the folder this server allows"):
        host.check_local_path("Training data", str(home / "home" / "runs" / "r1" / "config.json"), uploads)
    narrow = HostSettings(local_root=(home / "data").resolve())
    with pytest.raises(ValueError, match=r"Training data '.*secret.json' is outside the folder this server allows"):
        narrow.check_local_path("Training data", str(home / "data" / ".." / "secret.json"), uploads)


def test_symlinks_and_relative_paths_are_resolved_before_the_check(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads = _uploads(home)
    (uploads / "innocent.json").symlink_to(home / "secret.json")
    host = HostSettings(public=True)
    with pytest.raises(ValueError, match="opens only files uploaded"):
        host.check_local_path("Training data", str(uploads / "innocent.json"), uploads)
    monkeypatch.chdir(home)
    with pytest.raises(ValueError, match="opens only files uploaded"):
        host.check_local_path("Training data", "secret.json", uploads)
    monkeypatch.chdir(uploads)
    host.check_local_path("Training data", "abc-reviews.csv", uploads)


def test_every_path_of_a_run_config_is_checked(home: Path) -> None:
    uploads = _uploads(home)
    host = HostSettings(public=True)
    upload = str(uploads / "abc-reviews.csv")
    base = {"task": "classification", "model": "distilbert-base-uncased", "data": {"train": upload}}
    host.check_run_allowed(RunConfig.from_dict(base), uploads)
    for where, what in ((("model",), "Model"), (("data", "train"), "Training data"),
                        (("data", "validation"), "Validation data"),
                        (("evaluation", "zero_shot_model"), "Zero-shot baseline model")):
        raw = {**base, "data": dict(base["data"]), "evaluation": {}}
        target = raw
        for key in where[:-1]:
            target = target[key]
        target[where[-1]] = str(home / "secret.json") if where != ("model",) else str(home / "data")
        with pytest.raises(ValueError, match=f"^{what} '"):
            host.check_run_allowed(RunConfig.from_dict(raw), uploads)


def test_public_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FT_APP_PUBLIC", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    assert not HostSettings.from_env().public
    monkeypatch.setenv("FT_APP_PUBLIC", "1")
    assert HostSettings.from_env().public
    monkeypatch.delenv("FT_APP_PUBLIC")
    monkeypatch.setenv("SPACE_ID", "ann/studio")
    assert HostSettings.from_env().public
