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


def test_limits_ownership_and_backups_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: a public server has limits per run unless the host sets others (0 = none); a local app has none."""
    names = ("FT_APP_PUBLIC", "SPACE_ID", "FT_APP_MAX_RUN_MINUTES", "FT_APP_MAX_TRAIN_ROWS", "FT_APP_MAX_STEPS",
             "FT_APP_ADMIN_USERS", "FT_APP_PRIVATE_RUNS", "FT_APP_BACKUP_REPO", "FT_APP_MAX_UPLOADS_MB")
    for name in names:
        monkeypatch.delenv(name, raising=False)
    local = HostSettings.from_env()
    assert (local.run_minutes_limit, local.train_rows_limit, local.steps_limit) == (None, None, None)
    assert not local.owns_runs and local.run_limits() == {}
    monkeypatch.setenv("FT_APP_PUBLIC", "1")
    public = HostSettings.from_env()
    assert public.owns_runs and public.run_limits() == {"max_run_minutes": 60, "max_train_rows": 50_000,
                                                        "max_steps": 10_000}
    monkeypatch.setenv("FT_APP_MAX_RUN_MINUTES", "0")
    monkeypatch.setenv("FT_APP_MAX_STEPS", "500")
    monkeypatch.setenv("FT_APP_ADMIN_USERS", "ann, bob")
    monkeypatch.setenv("FT_APP_PRIVATE_RUNS", "1")
    monkeypatch.setenv("FT_APP_BACKUP_REPO", "ann/studio-runs")
    monkeypatch.setenv("FT_APP_MAX_UPLOADS_MB", "300")
    host = HostSettings.from_env()
    assert host.run_minutes_limit is None and host.steps_limit == 500 and host.train_rows_limit == 50_000
    assert host.admin_users == {"ann", "bob"} and host.private_runs and host.backup_repo == "ann/studio-runs"
    assert host.max_uploads_mb == 300
    monkeypatch.setenv("FT_APP_MAX_STEPS", "lots")
    with pytest.raises(ValueError, match="FT_APP_MAX_STEPS='lots' must be a number"):
        HostSettings.from_env()
    monkeypatch.setenv("FT_APP_MAX_STEPS", "500")
    monkeypatch.setenv("FT_APP_BACKUP_REPO", "just-a-name")
    with pytest.raises(ValueError, match="FT_APP_BACKUP_REPO='just-a-name' must be a Hub dataset repo id"):
        HostSettings.from_env()


def test_a_run_config_within_the_limits_gets_the_row_limit(tmp_path: Path) -> None:
    host = HostSettings(public=True, max_train_rows=100, max_steps=50)
    config = RunConfig.from_dict({"task": "classification", "model": "m", "data": {"train": "uploads/a.csv"}})
    assert host.apply_limits(config).data.max_rows == 100
    assert host.apply_limits(RunConfig.from_dict({**config.to_dict(), "data": {"train": "uploads/a.csv",
                                                                               "max_rows": 20}})).data.max_rows == 20
    with pytest.raises(ValueError, match=r"'Max steps' is 51, more than this server allows per run \(50\)"):
        host.apply_limits(RunConfig.from_dict({**config.to_dict(), "training": {"max_steps": 51}}))
