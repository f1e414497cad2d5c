"""One visitor's downloads are kept under the host's cap, the oldest first (issue 20)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ft_app.export.downloads import MB, keep_under_cap, new_download_folder, remove_old, visitor_folder_name
from ft_app.ownership import Visitor

ANN, BOB = Visitor(key="a" * 43), Visitor(key="b" * 43)


def _made(root: Path, who: Visitor, mb: float, age_s: float = 0.0) -> Path:
    folder = new_download_folder(root, who)
    (folder / "export.zip").write_bytes(b"\0" * int(mb * MB))
    if age_s:
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
    return folder


def test_the_oldest_downloads_of_that_visitor_go_first(tmp_path: Path) -> None:
    first = _made(tmp_path, ANN, 2, age_s=30)
    second = _made(tmp_path, ANN, 2, age_s=20)
    bobs = _made(tmp_path, BOB, 2, age_s=40)
    newest = _made(tmp_path, ANN, 2)
    assert keep_under_cap(newest, 5) == [first.name]
    assert not first.exists() and second.exists() and newest.exists()
    assert bobs.exists()  # another visitor's downloads do not count against Ann's cap
    assert keep_under_cap(newest, None) == []  # no cap on a local app


def test_a_download_bigger_than_the_cap_is_refused_and_removed(tmp_path: Path) -> None:
    big = _made(tmp_path, ANN, 3)
    with pytest.raises(ValueError, match=r"This download is 3 MB, more than this server keeps for one visitor \(2 MB\)"):
        keep_under_cap(big, 2)
    assert not big.exists()


def test_downloads_older_than_an_hour_go_and_folders_name_no_one(tmp_path: Path) -> None:
    old = _made(tmp_path, ANN, 0.1, age_s=7200)
    fresh = _made(tmp_path, ANN, 0.1)
    remove_old(tmp_path)
    assert not old.exists() and fresh.exists()
    assert "a" * 10 not in visitor_folder_name(ANN) and visitor_folder_name(ANN) != visitor_folder_name(BOB)
