"""Backups of finished runs to a private Hub dataset repo (issue 11, item 6), against a local fake Hub: what is
sent (one commit, private, no checkpoints, the token only in the Authorization header), the list after a restart,
and a restore that reproduces the run folder byte for byte; a run the job manager finishes is backed up by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ft_app.backup import INDEX_FILE, RunBackups
from ft_app.config import RunConfig
from ft_app.hosting import HostSettings
from ft_app.ownership import Visitor, record_owner
from ft_app.runs import STATUS_LOCK_FILE, RunStore
from ft_app.training.jobs import JobManager
from tests.engine_checks import make_config
from tests.fixtures.fake_hub import FakeHub

TOKEN = "hf_BackupWriteToken1234567890"
USER = "host"
REPO = f"{USER}/studio-runs"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """The fake Hub with HF_ENDPOINT pointed at it, offline mode off in this process, and the backup token set."""
    import huggingface_hub.constants

    with FakeHub(tokens={TOKEN: USER}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setenv("FT_APP_BACKUP_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
        yield server


def finished_run(store: RunStore) -> Path:
    """A completed LoRA run as the runner leaves it, with a checkpoint that must not be backed up."""
    config = RunConfig.from_dict({"task": "classification", "model": "tiny-bert", "method": "lora",
                                  "data": {"train": "uploads/abc-reviews.csv"}, "name": "reviews"})
    run_dir = store.create(config)
    store.write_status(run_dir, status="completed", step=4, total_steps=4, finished="2025-01-02T03:04:05+00:00",
                       best_metric={"eval_accuracy": 0.75}, message="Finished 4 steps.")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"kind": "train", "step": s, "loss": 1.0 / s}) + "\n"
                                                   for s in range(1, 5)), encoding="utf-8")
    (run_dir / "eval.json").write_text(json.dumps({"before": {"accuracy": 0.5}, "after": {"accuracy": 0.75}}))
    (run_dir / "log.txt").write_text("trained\n", encoding="utf-8")
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text('{"r": 8}', encoding="utf-8")
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 64)
    (run_dir / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-4" / "optimizer.pt").write_bytes(b"\0" * 1024)
    record_owner(run_dir, Visitor(user="ann", key="browser-key-of-ann"))
    return run_dir


def files_of(folder: Path) -> dict[str, bytes]:
    """A run folder's files and their bytes (its status lock is bookkeeping, not part of the run)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != STATUS_LOCK_FILE}


def test_a_finished_run_is_pushed_in_one_private_commit_and_restored_byte_for_byte(hub: FakeHub, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home" / "runs")
    run_dir = finished_run(store)
    before = {name: data for name, data in files_of(run_dir).items() if not name.startswith("checkpoints/")}
    backups = RunBackups(REPO)

    backups.after_run(run_dir, store)

    repo = hub.repo(REPO, "dataset")
    assert repo.private and len(repo.commits) == 1
    assert repo.commits[0].message == f"Back up run {run_dir.name} (completed)"
    sent = {name.removeprefix(f"runs/{run_dir.name}/"): data for name, data in repo.files.items() if name != INDEX_FILE}
    assert sent == before  # config, status, metrics, eval, log, owner and the adapter; no checkpoint
    index = json.loads(repo.files[INDEX_FILE])["runs"]
    assert index[run_dir.name]["status"] == "completed" and index[run_dir.name]["owner"]["user"] == "ann"
    assert "browser-key-of-ann" not in json.dumps(index)  # the owner key only as its hash
    status = store.read_status(run_dir)
    assert status["backup"]["repo"] == REPO and "commit" in status["backup"]
    for request in hub.requests:
        assert TOKEN.encode() not in request.body and TOKEN not in request.path
        assert all(TOKEN not in v for k, v in request.headers.items() if k != "authorization")

    # A restart on an empty disk: the list shows the run, and restoring it gives back the same folder.
    fresh = RunStore(tmp_path / "new-home" / "runs")
    listed = backups.list()
    assert [(e.run_id, e.status, e.model) for e in listed] == [(run_dir.name, "completed", "tiny-bert")]
    restored = backups.restore(run_dir.name, fresh)
    assert restored == fresh.path(run_dir.name)
    assert files_of(restored) == before
    summary = fresh.summary(run_dir.name)
    assert summary.status == "completed" and summary.result_dir == restored / "adapter"
    assert [p.name for p in fresh.root.iterdir()] == [run_dir.name]  # no staging folder left behind
    with pytest.raises(ValueError, match="already here"):
        backups.restore(run_dir.name, fresh)
    with pytest.raises(ValueError, match="not in the backup repo"):
        backups.restore("no-such-run", RunStore(tmp_path / "third" / "runs"))


def test_an_unfinished_run_is_not_pushed_and_a_failed_push_is_noted(hub: FakeHub, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "runs")
    run_dir = finished_run(store)
    store.write_status(run_dir, status="failed")
    RunBackups(REPO).after_run(run_dir, store)
    assert hub.requests == []
    store.write_status(run_dir, status="completed")
    monkeypatch.setenv("FT_APP_BACKUP_TOKEN", "hf_NotAKnownToken123456789")
    RunBackups(REPO).after_run(run_dir, store)
    note = store.read_status(run_dir)["backup"]
    assert "refused the token" in note["error"] and "NotAKnown" not in note["error"]


def test_the_job_manager_backs_up_a_run_when_it_ends(hub: FakeHub, tiny_bert_dir: Path, sentiment_csv: Path,
                                                     tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, host=HostSettings(backup_repo=REPO))
    run_id = jobs.start(make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": 2}))
    snap = jobs.wait(180)
    assert snap is not None and snap.status == "completed", snap.message
    repo = hub.repo(REPO, "dataset")
    assert [c.message for c in repo.commits] == [f"Back up run {run_id} (completed)"]
    assert repo.files[f"runs/{run_id}/model/model.safetensors"] == (store.path(run_id) / "model" / "model.safetensors").read_bytes()
    assert not any("checkpoint" in name for name in repo.files)
    assert store.read_status(store.path(run_id))["backup"]["repo"] == REPO
