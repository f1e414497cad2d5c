"""The headless command: `python -m ft_app train CONFIG.json`, alone and under accelerate / torchrun."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ft_app.__main__ import EXIT_BAD_INPUT, main
from ft_app.config import RunConfig
from tests.engine_checks import assert_run_folder_complete, read_metrics, run_cli


def _write_config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return path


def _raw(model: Path, data: Path, **training) -> dict:
    """The issue's hand-written shape, pointing at local files."""
    return {
        "task": "classification",
        "model": str(model),
        "method": "lora",
        "data": {"train": str(data), "validation": None, "text_column": None, "label_column": None, "max_rows": None},
        "training": {"epochs": 1, "learning_rate": 5e-4, "batch_size": 4, "max_steps": 4, "seed": 42,
                     "save_strategy": "no", **training},
    }


def _only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, f"expected one run folder, found {[p.name for p in folders]}"
    return folders[0]


def test_train_command_exit_zero_and_prints_the_run_folder(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """Exit 0; the last stdout line is the run folder; the folder is complete; progress goes to stderr."""
    raw = _raw(tiny_bert_dir, sentiment_csv)
    proc = run_cli(["train", str(_write_config(tmp_path, raw)), "--runs-dir", str(tmp_path / "runs")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir == _only_run(tmp_path / "runs").resolve()
    assert_run_folder_complete(run_dir, RunConfig.from_dict(raw))
    assert "Finished 4 steps" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task": "classification", "model": "m",', "The run config is not valid JSON"),
        ('{"model": "m", "data": "d.csv", "trainning": {}}', "Unknown key 'trainning'"),
        ('{"model": "m", "data": "d.csv", "training": {"epochs": 0}}', "Epochs must be more than 0, not 0"),
    ],
)
def test_bad_config_exits_non_zero_with_a_plain_message(content: str, message: str, tmp_path: Path) -> None:
    """A bad config: exit 2, 'Error: <sentence>' on stderr, no traceback, nothing on stdout, no run folder."""
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    proc = run_cli(["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert proc.returncode == EXIT_BAD_INPUT == 2
    assert proc.stderr.startswith("Error: ") and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_missing_config_file_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """main() itself: a config path that does not exist returns 2 with the path in the message."""
    assert main(["train", str(tmp_path / "nope.json"), "--runs-dir", str(tmp_path / "runs")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "nope.json" in err and "does not exist" in err


def test_failure_during_training_exits_one(
    tiny_gpt2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that fails after it started (in-process main()): exit 1, the reason on stderr, the run folder last."""
    rows = [{"prompt": "word " * 60, "response": "Yes."} for _ in range(8)]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    raw = {"task": "causal_lm", "model": str(tiny_gpt2_dir), "method": "lora",
           "data": {"train": str(data), "max_length": 16}, "training": {"max_steps": 2}}
    code = main(["train", str(_write_config(tmp_path, raw)), "--runs-dir", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 1, err[-3000:]
    assert "Error: No training row fits in data.max_length=16" in err
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir == _only_run(tmp_path / "runs").resolve()
    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and "max_length" in status["message"]


def test_accelerate_launch_writes_one_run_folder(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """`accelerate launch --cpu --num_processes 2 -m ft_app train ...` (the documented command) exits 0 with one run.

    accelerate 1.15 runs `--cpu` on one machine as a single process (its simple launcher); the real
    two-process path is exercised with torchrun in the next test.
    """
    raw = _raw(tiny_bert_dir, sentiment_csv)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    proc = run_cli(["train", str(_write_config(tmp_path, raw)), "--runs-dir", str(tmp_path / "runs")], launcher=launcher)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = _only_run(tmp_path / "runs")
    assert Path(proc.stdout.strip().splitlines()[-1]) == run_dir.resolve()
    assert_run_folder_complete(run_dir, RunConfig.from_dict(raw))


def test_two_processes_share_one_run_folder(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """Two real processes under `accelerate launch` (its torchrun launcher; gloo on CPU): one run folder, one result.

    `--multi_gpu` only picks accelerate's multi-process launcher; on this CPU machine the processes train on CPU.
    """
    raw = _raw(tiny_bert_dir, sentiment_csv)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    proc = run_cli(["train", str(_write_config(tmp_path, raw)), "--runs-dir", str(tmp_path / "runs")], launcher=launcher)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_dir = _only_run(tmp_path / "runs")
    lines = proc.stdout.strip().splitlines()
    assert Path(lines[-1]) == run_dir.resolve()
    assert sum(line.strip() == str(run_dir.resolve()) for line in lines) == 1  # printed by rank 0 only
    assert_run_folder_complete(run_dir, RunConfig.from_dict(raw))
    train = [r for r in read_metrics(run_dir) if r["kind"] == "train"]
    # Each optimizer step consumed a batch on each of the two processes.
    assert [r["samples_seen"] for r in train] == [r["step"] * 4 * 2 for r in train]
    assert len({r["step"] for r in train}) == len(train) == 4  # one writer, no duplicate records
    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "completed" and status["step"] == 4
    assert status["epoch"] == pytest.approx(4 / 8)  # 57 rows / (4 per batch x 2 processes) = 8 steps an epoch


def test_sigterm_saves_a_checkpoint_ends_stopped_and_the_run_resumes(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path
) -> None:
    """SIGTERM (what SLURM, Kubernetes and Spaces send before a kill): checkpoint, `stopped`, exit 130; then --resume."""
    import os
    import signal
    import subprocess
    import time

    from ft_app.runs import RunStore
    from ft_app.training.child import HOOK_ENV
    from tests.engine_checks import REPO_ROOT, cli_env

    raw = {**_raw(tiny_bert_dir, sentiment_csv, max_steps=30, logging_steps=1, eval_strategy="no"),
           "method": "full", "name": "slow"}  # the test hook makes each step take 0.2 s
    runs = tmp_path / "runs"
    env = {**cli_env(), HOOK_ENV: "tests.fixtures.train_hooks:faults"}
    proc = subprocess.Popen([sys.executable, "-m", "ft_app", "train", str(_write_config(tmp_path, raw)), "--runs-dir",
                             str(runs)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not any(len(read_metrics(p.parent)) >= 3 for p in runs.glob("*/metrics.jsonl")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not reach step 3"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    run_dir = _only_run(runs)
    assert Path(out.strip().splitlines()[-1]) == run_dir.resolve()
    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "stopped" and "Stopped at step" in status["message"], status
    checkpoint = RunStore.last_complete_checkpoint(run_dir)
    assert checkpoint is not None and checkpoint.name == f"checkpoint-{status['step']}"  # saved at the stop step
    assert 3 <= status["step"] < 30

    resumed = run_cli(["train", "--run-dir", str(run_dir), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "completed" and status["resumed_from"] == checkpoint.name
    steps = [r["step"] for r in read_metrics(run_dir) if r["kind"] == "train"]
    assert steps == list(range(1, 31))
    assert_run_folder_complete(run_dir, RunConfig.from_dict(raw), expect_eval=False)


def test_train_needs_a_config_or_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train` with neither, or with both, is a usage error; --run-dir on a folder without config.json is bad input."""
    for argv in (["train"], ["train", "x.json", "--run-dir", str(tmp_path)], ["train", "x.json", "--resume"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    assert main(["train", "--run-dir", str(tmp_path)]) == EXIT_BAD_INPUT
    assert "is not a run folder" in capsys.readouterr().err
