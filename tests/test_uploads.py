"""The uploads folder (issue 11, item 5): uploads are named `uploads/<name>` (resolved in one place, for loading and
for the host's path check), refused in demo mode, and the folder is kept under its cap, oldest files first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ft_app.data import load_table
from ft_app.hosting import HostSettings
from ft_app.uploads import keep_upload, local_path, upload_name


def _file(folder: Path, name: str, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"text,label\n" + b"x" * (size - 11))
    return path


def test_an_upload_name_resolves_in_the_app_home_for_loading_and_for_the_path_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FT_APP_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # not the app home: a plain relative path would not find the file
    kept = keep_upload(home / "uploads", _write_csv(tmp_path / "reviews.csv"), HostSettings())
    name = upload_name(kept)
    assert name == f"uploads/{kept.name}" and str(tmp_path) not in name
    assert local_path(name) == home / "uploads" / kept.name
    assert len(load_table(name)) == 2  # the CLI and the training process read the same file
    public = HostSettings(public=True)
    public.check_local_path("Training data", name, home / "uploads")
    for escape in ("uploads/../runs/r1/config.json", "uploads/sub/../../secret.csv"):
        assert local_path(escape) == Path(escape)  # only a plain file name is an upload
        with pytest.raises(ValueError, match="opens only files uploaded"):
            public.check_local_path("Training data", escape, home / "uploads")


def _write_csv(path: Path) -> Path:
    path.write_text("text,label\ngood,positive\nbad,negative\n", encoding="utf-8")
    return path


def test_the_uploads_folder_keeps_under_its_cap_oldest_first(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    host = HostSettings(max_uploads_mb=1)
    mb = 1024 * 1024
    old = _file(uploads, "old.csv", 400 * 1024)
    middle = _file(uploads, "middle.csv", 400 * 1024)
    os.utime(old, (1_000, 1_000))
    os.utime(middle, (2_000, 2_000))
    new = keep_upload(uploads, _file(tmp_path / "incoming", "new.csv", 400 * 1024), host)
    assert sorted(p.name for p in uploads.iterdir()) == sorted([middle.name, new.name])  # the oldest went
    assert sum(p.stat().st_size for p in uploads.iterdir()) <= mb
    with pytest.raises(ValueError, match=r"larger than this server keeps for uploads \(1 MB in all\)"):
        keep_upload(uploads, _file(tmp_path / "incoming", "huge.csv", 2 * mb), host)
    assert new.is_file() and middle.is_file()


def test_a_demo_server_refuses_uploads(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="demo server: uploading data is switched off"):
        keep_upload(tmp_path / "uploads", _write_csv(tmp_path / "a.csv"), HostSettings(demo=True))
    assert not (tmp_path / "uploads").exists()
