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
    assert sorted(p.name for p in run.iterdir()) == [".status.lock", "config.json", "status.json"]
    assert (run / "status.json").stat().st_mode & 0o777 == 0o644


WRITES = 200


def _write_keys(run: str, prefix: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]  # both writers at once
    for i in range(WRITES):
        RunStore.write_status(Path(run), **{f"{prefix}{i}": i})


def test_two_writers_never_lose_each_others_changes(tmp_path: Path) -> None:
    """The training process and the server may write status.json at the same moment: under the run's status lock
    every change of both survives (without it, a read-change-write loses the other's key now and then)."""
    import multiprocessing

    store = RunStore(tmp_path)
    run = store.create(_config())
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    writers = [ctx.Process(target=_write_keys, args=(str(run), prefix, start)) for prefix in ("a", "b")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    status = store.read_status(run)
    assert {f"{p}{i}" for p in "ab" for i in range(WRITES)} <= set(status)


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


def test_the_one_reader_of_progress_reads_what_the_process_wrote(tmp_path: Path) -> None:
    """The page reads a run only through RunStore.read_progress: the clock and the ETA go on from when the status
    was written, a requested stop shows at once, and only the new lines of metrics.jsonl are read each time."""
    import json
    import time

    store = RunStore(tmp_path / "runs")
    run_dir = store.create(RunConfig.from_dict({"task": "classification", "model": "m", "data": {"train": "x.csv"}}))
    store.write_status(run_dir, status="running", phase="training", step=3, total_steps=10, elapsed_s=30.0, eta_s=70.0)
    written = store.read_status(run_dir)["written_at"]
    (run_dir / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 4, "loss": 1.0}) + "\n")
    time.sleep(0.3)
    snap = store.read_progress(run_dir)
    since = time.time() - written
    assert snap.step == 4 and snap.active and snap.status == "running"  # the metrics are ahead of the status
    assert snap.elapsed_s == pytest.approx(30.0 + since, abs=0.2) and snap.eta_s == pytest.approx(70.0 - since, abs=0.2)
    with (run_dir / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "train", "step": 5, "loss": 0.9}) + "\n" + '{"kind": "tr')  # a line half-written
    assert [r["step"] for r in store.read_progress(run_dir).records] == [4, 5]
    store.request_stop(run_dir)
    assert (store.read_progress(run_dir).status, store.read_progress(run_dir).phase) == ("stopping", "stopping after this step")
    (run_dir / "metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 1, "loss": 2.0}) + "\n")  # a resume
    store.write_status(run_dir, status="stopped", step=1, elapsed_s=31.0)
    done = store.read_progress(run_dir)
    assert [r["step"] for r in done.records] == [1] and done.elapsed_s == 31.0 and done.eta_s is None
    assert store.resume_blocker(run_dir) and "no complete checkpoint" in store.resume_blocker(run_dir)
