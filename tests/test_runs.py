"""The run store: unique folders, atomic status, torn metrics lines, listing, deleting, restarts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from ft_app.config import RunConfig
from ft_app.runs import (
    RunStore,
    append_jsonl,
    default_runs_root,
    read_jsonl,
    write_json_atomic,
)


def _config(**kw) -> RunConfig:
    return RunConfig.from_dict({"task": "classification", "model": "bert-x", "data": "d.csv", **kw})


def test_create_makes_unique_folders_with_config_and_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each create is a new folder (never reused) with config.json and a queued status."""
    import ft_app.runs

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206 - same signature as datetime.now
            return datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz)

    monkeypatch.setattr(ft_app.runs, "datetime", FrozenClock)  # two creates in the same second
    store = RunStore(tmp_path / "runs")
    config = _config(name="same")
    first, second = store.create(config), store.create(config)
    assert first != second and first.parent == second.parent == (tmp_path / "runs").resolve()
    assert (first.name, second.name) == ("20260102-030405-same", "20260102-030405-same-2")
    assert RunStore.read_config(first) == config
    status = store.read_status(first)
    assert status["status"] == "queued" and status["created"] and status["updated"]
    assert store.create(_config()).name.endswith("-classification-full")


def test_write_status_merges_atomically(tmp_path: Path) -> None:
    """write_status merges into status.json and leaves no temporary files behind."""
    store = RunStore(tmp_path)
    run = store.create(_config())
    store.write_status(run, status="running", step=3)
    store.write_status(run, step=4, message="ok")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "running" and status["step"] == 4 and status["message"] == "ok"
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "status.json"]
    assert (run / "status.json").stat().st_mode & 0o777 == 0o644


def test_write_json_atomic_keeps_old_file_on_failure(tmp_path: Path) -> None:
    """A payload that cannot be written leaves the previous file whole and no temporary file."""
    path = tmp_path / "s.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_jsonl_round_trip_skips_a_torn_line(tmp_path: Path) -> None:
    """Records come back in order; a half-written last line (a crash) is skipped; NaN survives."""
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1, "loss": 1.5})
    append_jsonl(path, {"step": 2, "loss": float("nan")})
    with path.open("a") as fh:
        fh.write('{"step": 3, "lo')
    records = read_jsonl(path)
    assert [r["step"] for r in records] == [1, 2]
    assert records[1]["loss"] != records[1]["loss"]  # NaN
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_list_summary_result_and_log_tail(tmp_path: Path) -> None:
    """Runs are listed newest first with their summary; result_dir finds model/ or adapter/."""
    store = RunStore(tmp_path)
    old = store.create(_config(name="old"))
    store.write_status(old, created="2020-01-01T00:00:00+00:00", status="completed", best_metric={"eval_loss": 0.5})
    new = store.create(_config(name="new", method="lora"))
    (tmp_path / "not-a-run").mkdir()  # folders without config.json are ignored
    runs = store.list_runs()
    assert [r.run_id for r in runs] == [new.name, old.name]
    assert runs[0].method == "lora" and runs[0].model == "bert-x" and runs[0].status == "queued"
    assert runs[1].best_metric == {"eval_loss": 0.5}
    assert runs[1].result_dir is None
    (old / "model").mkdir()
    (old / "model" / "config.json").write_text("{}")
    (new / "adapter").mkdir()
    (new / "adapter" / "adapter_config.json").write_text("{}")
    assert store.result_dir(old) == old / "model" and store.result_dir(new) == new / "adapter"
    (old / "log.txt").write_text("\n".join(f"line {i}" for i in range(100)))
    assert store.read_log_tail(old, 3) == "line 97\nline 98\nline 99"
    assert store.read_log_tail(new) == ""


def test_delete_refuses_active_runs(tmp_path: Path) -> None:
    """A finished run can be deleted; a running one or an unknown one cannot."""
    store = RunStore(tmp_path)
    run = store.create(_config())
    store.write_status(run, status="running")
    with pytest.raises(ValueError, match="still running"):
        store.delete(run.name)
    store.write_status(run, status="completed")
    store.delete(run.name)
    assert not run.exists()
    with pytest.raises(ValueError, match="does not exist"):
        store.delete(run.name)


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "x" * 200])
def test_run_ids_cannot_escape_the_root(bad: str, tmp_path: Path) -> None:
    """Run ids are plain folder names only."""
    with pytest.raises(ValueError, match="not valid"):
        RunStore(tmp_path).path(bad)


def test_mark_interrupted_after_a_restart(tmp_path: Path) -> None:
    """Runs left active by a dead process become interrupted; finished ones are untouched."""
    store = RunStore(tmp_path)
    running, done = store.create(_config(name="a")), store.create(_config(name="b"))
    store.write_status(running, status="running")
    store.write_status(done, status="completed")
    assert store.mark_interrupted() == [running.name]
    assert store.read_status(running)["status"] == "interrupted"
    assert store.read_status(done)["status"] == "completed"
    assert store.mark_interrupted() == []


def test_runs_root_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FT_APP_HOME sets the runs root; without it runs go to ./runs."""
    monkeypatch.setenv("FT_APP_HOME", str(tmp_path / "home"))
    assert default_runs_root() == tmp_path / "home" / "runs"
    assert RunStore().root == (tmp_path / "home" / "runs").resolve()
    monkeypatch.delenv("FT_APP_HOME")
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_runs_root() == tmp_path.resolve() / "runs"
