"""A trial of a few real steps before Train: the real model, method, batch and max length on the first rows of the real
data, in a process of its own (as a run trains), timed step by step, with the peak memory it took.

The plan before a run is otherwise a model of the hardware, and a busy or unusual machine makes that 3-5x wrong; a
trial costs seconds for a small model and says what a step costs here now, and whether the run fits in memory, on a
GPU as on a CPU. Its result (ft_app/trials.py) is kept beside the runs, where the plan of the same kind of run finds it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ft_app.config import RunConfig
from ft_app.runs import RunStore, now_iso
from ft_app.trials import TrialResult

# One warm-up step (first-call costs, memory allocation), then the timed ones: at least TRIAL_STEPS, and on until
# they have taken TRIAL_MIN_S, up to TRIAL_MAX_STEPS. Where a step takes milliseconds (a small model on a GPU) the
# next few steps still pay first-call costs: on an H100, 4 steps of MiniLM timed 0.128 s a step against the run's
# 0.024. Timing on for seconds, the plan takes the last steps (RunProgress's recent ones), which no longer do.
TRIAL_STEPS = 4
TRIAL_MIN_S = 3.0
TRIAL_MAX_STEPS = 60
WARM_UP_STEPS = 1
# Longer than this and the trial is no longer "seconds": the run's own first steps measure it instead.
TRIAL_TIMEOUT_S = 300
# The trial's process prints its result as the last line of its output, after this mark.
RESULT_MARK = "TRIAL_RESULT "


def trial_config(config: RunConfig) -> RunConfig:
    """The run's config cut to a trial: at most as many steps as the trial times (TrialEndCallback ends it once they
    took TRIAL_MIN_S), on as many rows as they take, with no evaluation, checkpoint or before/after check (they are
    not what a step costs)."""
    t = config.training
    steps = WARM_UP_STEPS + TRIAL_MAX_STEPS  # TrialEndCallback ends it sooner once the steps timed took TRIAL_MIN_S
    rows = steps * t.batch_size * t.gradient_accumulation_steps
    training = dataclasses.replace(
        t, max_steps=steps, eval_strategy="no", save_strategy="no", early_stopping=False,
        load_best_model_at_end=False, report_to="none", num_processes=None,
    )
    data = dataclasses.replace(config.data, max_rows=min(rows, config.data.max_rows or rows))
    evaluation = dataclasses.replace(config.evaluation, before_after=False, golden_prompts=[], golden_from_heldout=0)
    return dataclasses.replace(config, training=training, data=data, evaluation=evaluation)


def run_trial_here(config: RunConfig) -> TrialResult:
    """The trial in this process (the trial process's side): the run's own phases up to training, in a scratch run
    folder; raises ValueError in plain words when the run could not train."""
    import torch

    from ft_app.estimate import speed_key
    from ft_app.modeling import device_info
    from ft_app.training.callbacks import TrialEndCallback
    from ft_app.training.errors import explain_error
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import TrainingRun

    started = time.monotonic()
    device = device_info()
    free_gb = _free_gb(device.kind)
    trial = trial_config(config)
    with tempfile.TemporaryDirectory(prefix="ft_app_trial_") as scratch:
        store = RunStore(Path(scratch))
        run_dir = store.create(trial)
        progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
        run = TrainingRun(trial, run_dir, store, progress, threading.Event(),
                          extra_callbacks=[TrialEndCallback(WARM_UP_STEPS, TRIAL_STEPS, TRIAL_MIN_S)])
        try:
            run.train_phases()
        except Exception as exc:  # told in words to the page, as a failed run's cause is
            raise ValueError(explain_error(exc)) from exc
    snap = progress.snapshot()
    if snap.s_per_step is None or snap.measured_steps < 1:
        raise ValueError(f"The trial took {snap.step} step(s), too few to time: the data has fewer rows than a step "
                         "needs. Add rows or lower the batch size.")
    if device.kind == "cuda":
        peak = torch.cuda.max_memory_reserved() / 2**30
    else:
        peak = _peak_resident_gb()
    return TrialResult(s_per_step=snap.s_per_step, steps=snap.measured_steps, peak_gb=peak, free_gb=free_gb,
                       device=device.kind, took_s=time.monotonic() - started, key=list(speed_key(config)),
                       when=now_iso())


def _free_gb(kind: str) -> float | None:
    """Memory the device has free now: the GPU's, or the machine's for a CPU or an Apple GPU."""
    if kind == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return free / 2**30
    import psutil

    return psutil.virtual_memory().available / 2**30


def _peak_resident_gb() -> float | None:
    """This process's peak resident memory (the model, its gradients and optimizer state, the batch, Python and
    torch themselves), where the OS keeps it."""
    try:
        import resource
    except ImportError:  # Windows: no peak figure
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20  # bytes on macOS, KiB on Linux


def trial_main(config_path: Path) -> int:
    """`python -m ft_app trial CONFIG`: run the trial, print its result (or its failure in words) as the last line."""
    from ft_app import system

    try:
        result = run_trial_here(RunConfig.load(config_path))
    except ValueError as exc:
        print(RESULT_MARK + json.dumps({"error": str(exc)}), flush=True)
        return system.EXIT_BAD_INPUT
    print(RESULT_MARK + json.dumps(result.as_dict()), flush=True)
    return system.EXIT_OK


def run_trial(config: RunConfig, timeout_s: float = TRIAL_TIMEOUT_S, token: str | None = None) -> TrialResult:
    """Time a few real steps of this config in a process of its own (the server never holds the model); raises
    ValueError in plain words when it could not. `token`: a Hugging Face token for a gated or private model, given to
    the trial's process only, never written."""
    from ft_app.training.launch import child_env

    with tempfile.TemporaryDirectory(prefix="ft_app_trial_cfg_") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-m", "ft_app", "trial", str(path)],
                                  env=child_env({"HF_TOKEN": token} if token else None), capture_output=True,
                                  text=True, timeout=timeout_s, cwd=os.getcwd())
        except subprocess.TimeoutExpired as exc:
            raise ValueError(
                f"The trial took over {timeout_s / 60:.0f} minutes, so it was ended: loading this model and taking "
                f"{WARM_UP_STEPS + TRIAL_STEPS} steps is slow here. Press Train: the plan box times the run on its own "
                "first steps instead."
            ) from exc
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith(RESULT_MARK)), None)
    if line is None:
        from ft_app.hub_token import redact
        from ft_app.training.errors import explain_exit

        raise ValueError("The trial could not run: " + explain_exit(done.returncode, redact(done.stderr[-2000:])))
    raw = json.loads(line[len(RESULT_MARK):])
    if "error" in raw:
        raise ValueError(f"The trial could not take a step: {raw['error']}")
    return TrialResult.from_dict(raw)
