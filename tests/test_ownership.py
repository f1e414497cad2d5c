"""Runs on a public server (issue 11): a run belongs to who started it (items 2), runs are bounded (item 3), and
an interrupted run shows the last step it logged (item 7). Engine level: the job manager enforces all of it, so
API clients and the page get the same answers."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ft_app.hosting import HostSettings
from ft_app.ownership import OWNER_FILE, Visitor
from ft_app.runs import RunStore
from ft_app.training.jobs import JobBusyError, JobManager, time_left_words
from ft_app.training.progress import JobSnapshot
from tests.engine_checks import make_config

LONG = {"max_steps": 5000, "eval_strategy": "no", "logging_steps": 1}
ANN = Visitor(key="a" * 43)
BOB = Visitor(key="b" * 43)
ROOT = Visitor(user="root")


def public_host(*paths: Path, **settings: object) -> HostSettings:
    """A public server whose local root holds the test's model and data (a public server opens no other path)."""
    return HostSettings(public=True, local_root=Path(os.path.commonpath([str(p) for p in paths])), **settings)


def _wait_for_step(jobs: JobManager, step: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = jobs.current()
        assert snap is not None
        assert snap.status not in ("completed", "stopped", "failed"), snap.message
        if snap.step >= step:
            return
        time.sleep(0.05)
    pytest.fail(f"run did not reach step {step} in {timeout}s")


def test_only_the_owner_or_an_admin_stops_resumes_or_deletes_a_run(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, host=public_host(tiny_bert_dir, sentiment_csv, admin_users=frozenset({"root"})))
    config = make_config("classification", tiny_bert_dir, "head", sentiment_csv, training=LONG)
    run_id = jobs.start(config, visitor=ANN)
    _wait_for_step(jobs, 2)

    with pytest.raises(ValueError, match="started by another visitor: only they"):
        jobs.stop(BOB)
    with pytest.raises(ValueError, match="started by another visitor"):
        jobs.delete(run_id, BOB)
    with pytest.raises(JobBusyError) as busy:
        jobs.start(config, visitor=BOB)
    assert run_id in str(busy.value) and "stop it first" not in str(busy.value)
    assert jobs.current(BOB).status == "running"  # everyone still sees it
    assert not jobs.may_manage(run_id, BOB) and jobs.may_manage(run_id, ANN) and jobs.may_manage(run_id, ROOT)

    assert jobs.stop(ANN) == run_id
    assert jobs.wait(120).status == "stopped"
    with pytest.raises(ValueError, match="started by another visitor"):
        jobs.resume(run_id, visitor=BOB)
    with pytest.raises(ValueError, match="started by another visitor"):
        jobs.delete(run_id, BOB)
    # The owner key is kept only as its hash, and never in the config.
    run_dir = store.path(run_id)
    owner = json.loads((run_dir / OWNER_FILE).read_text())
    assert owner == {"user": None, "key_sha256": ANN.key_hash}
    assert ANN.key not in (run_dir / "config.json").read_text() and ANN.key not in (run_dir / "status.json").read_text()

    # FT_APP_PRIVATE_RUNS=1: the other visitor does not even see it; an admin does.
    private = JobManager(store, host=HostSettings(public=True, private_runs=True, admin_users=frozenset({"root"})))
    assert [s.run_id for s in private.runs(ANN)] == [run_id] and private.runs(BOB) == []
    assert [s.run_id for s in private.runs(ROOT)] == [run_id]
    with pytest.raises(ValueError, match="does not exist"):
        private.snapshot(run_id, BOB)
    with pytest.raises(ValueError, match="does not exist"):
        private.delete(run_id, BOB)

    jobs.delete(run_id, ROOT)  # an admin may
    assert not run_dir.exists()


def test_on_a_public_server_only_the_owner_publishes_and_never_with_the_hosts_token(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, host=HostSettings(public=True, admin_users=frozenset({"root"})))
    run_dir = store.create(make_config("classification", "m", "full", "x.csv"))
    (run_dir / OWNER_FILE).write_text(json.dumps({"user": None, "key_sha256": ANN.key_hash}))
    with pytest.raises(ValueError, match="started by another visitor: only they .* can publish it"):
        jobs.access.check_publish(run_dir, BOB, token_given=True)
    with pytest.raises(ValueError, match="your own Hugging Face token, not the server's"):
        jobs.access.check_publish(run_dir, ANN, token_given=False)  # HF_TOKEN is the host's, not a visitor's
    jobs.access.check_publish(run_dir, ANN, token_given=True)
    jobs.access.check_publish(run_dir, ROOT, token_given=False)  # an admin may use the server's token
    JobManager(store).access.check_publish(run_dir, BOB, token_given=False)  # a local app: as before


def test_a_local_app_keeps_everyone_in_charge(tmp_path: Path) -> None:
    """Not public: ownership is off, whoever asks (today's behaviour for a single user)."""
    store = RunStore(tmp_path / "runs")
    run_dir = store.create(make_config("classification", "m", "full", "x.csv"))
    store.write_status(run_dir, status="completed")
    jobs = JobManager(store)
    assert jobs.may_manage(run_dir.name, BOB)
    jobs.delete(run_dir.name, BOB)
    assert not run_dir.exists()


def test_the_host_limits_steps_and_rows(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, host=public_host(tiny_bert_dir, sentiment_csv, max_steps=3, max_train_rows=20))
    with pytest.raises(ValueError, match=r"'Max steps' is 5, more than this server allows per run \(3\)"):
        jobs.start(make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": 5}))
    with pytest.raises(ValueError, match=r"'Use at most this many rows' is 50, more than this server allows per run"):
        jobs.start(make_config("classification", tiny_bert_dir, "head", sentiment_csv, data={"max_rows": 50},
                               training={"max_steps": 2}))
    assert store.list_runs() == []
    # No steps or rows given: the run takes at most 3 steps, on at most 20 rows.
    config = make_config("classification", tiny_bert_dir, "head", sentiment_csv, training={"max_steps": None, "epochs": 5})
    run_id = jobs.start(config)
    snap = jobs.wait(180)
    assert snap.status == "completed", snap.message
    status = store.read_status(store.path(run_id))
    assert status["total_steps"] == 3 and status["step"] == 3
    assert "at most 3 steps per run on this server" in status["recipe"]
    assert status["train_rows"] == 20 and store.read_config(store.path(run_id)).data.max_rows == 20
    assert status["limits"] == {"max_run_minutes": 60, "max_train_rows": 20, "max_steps": 3}


def test_a_run_stops_and_saves_at_the_hosts_time_limit(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    jobs = JobManager(store, host=HostSettings(max_run_minutes=0.2))  # 12 seconds
    run_id = jobs.start(make_config("classification", tiny_bert_dir, "head", sentiment_csv, training=LONG))
    snap = jobs.wait(180)
    assert snap.status == "stopped", snap.message
    assert snap.message.startswith("This server stops a run after 12 seconds.") and "Stopped at step" in snap.message
    status = store.read_status(store.path(run_id))
    assert status["stopped_by"] == "limit" and status["message"] == snap.message
    assert 0 < status["step"] < 5000 and (store.path(run_id) / "model" / "model.safetensors").is_file()


def test_the_busy_message_never_shows_an_absurd_time(tmp_path: Path) -> None:
    def snap(eta: float | None, elapsed: float = 60.0) -> JobSnapshot:
        return JobSnapshot(run_id="r", run_dir=tmp_path, status="running", phase="training", step=5,
                           total_steps=10**12, epoch=0.0, elapsed_s=elapsed, eta_s=eta, records=())

    assert time_left_words(snap(41382768749 * 60.0)) == ", more than a day left"
    assert time_left_words(snap(41382768749 * 60.0), limit_minutes=60) == ", about 59 min left"
    assert time_left_words(snap(300.0)) == ", about 5 min left"
    assert time_left_words(snap(None)) == ""


def test_an_interrupted_run_shows_the_last_step_it_logged(tmp_path: Path) -> None:
    """status.json said step 42 when the process was killed; metrics.jsonl had reached 65."""
    store = RunStore(tmp_path / "runs")
    run_dir = store.create(make_config("classification", "m", "full", "x.csv"))
    store.write_status(run_dir, status="running", step=42, total_steps=100, pid=999_999_999, host="nowhere")
    with (run_dir / "metrics.jsonl").open("w", encoding="utf-8") as fh:
        for step in range(1, 66):
            fh.write(json.dumps({"kind": "train", "step": step, "loss": 1.0}) + "\n")
        fh.write(json.dumps({"kind": "eval", "step": 70, "eval_loss": 1.0}) + "\n")  # not a training step
    assert store.read_progress(run_dir).step == 65
    assert store.mark_interrupted() == [run_dir.name]
    assert store.read_status(run_dir)["step"] == 65
    assert store.read_progress(run_dir).step == 65
