"""Helpers shared by the engine tests: small run configs, a spy on model loading, run-folder checks.

Nothing here decides an outcome on its own: every helper asserts on real files and real tensors.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ft_app.config import RunConfig
from ft_app.runs import RunStore

# What a saved tokenizer leaves in a result folder (transformers 5 writes the fast tokenizer file).
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")


def make_config(
    task: str,
    model_dir: Path | str,
    method: str,
    train: Path | str,
    *,
    data: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    **top: Any,
) -> RunConfig:
    """A run config as a person would write it, sized for a few CPU steps on the tiny models."""
    raw: dict[str, Any] = {
        "task": task,
        "model": str(model_dir),
        "method": method,
        "data": {"train": str(train), **(data or {})},
        "training": {
            "max_steps": 4,
            "batch_size": 4,
            "eval_strategy": "steps",
            "eval_steps": 2,
            "save_strategy": "no",
            "logging_steps": 1,
            **(training or {}),
        },
    }
    raw.update(top)
    return RunConfig.from_dict(raw)


@dataclass
class ModelSpy:
    """Records the model the runner loads, with a copy of its weights before any training step."""

    model: Any = None
    initial: dict[str, torch.Tensor] = field(default_factory=dict)
    trainable: dict[str, bool] = field(default_factory=dict)
    calls: int = 0

    def install(self, monkeypatch: Any) -> ModelSpy:
        """Wrap `ft_app.modeling.load_model` (the runner imports it at call time)."""
        import ft_app.modeling as modeling

        original = modeling.load_model

        def spy(*args: Any, **kwargs: Any) -> Any:
            loaded = original(*args, **kwargs)
            self.calls += 1
            self.model = loaded.model
            self.initial = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
            self.trainable = {n: p.requires_grad for n, p in loaded.model.named_parameters()}
            return loaded

        monkeypatch.setattr(modeling, "load_model", spy)
        return self

    def changed(self) -> dict[str, bool]:
        """Whether each parameter differs from its value right after loading."""
        return {n: not torch.equal(p.detach(), self.initial[n]) for n, p in self.model.named_parameters()}

    def assert_trained_only_trainable(self) -> None:
        """Every trainable tensor moved; every frozen tensor is bit-identical."""
        changed = self.changed()
        assert any(self.trainable.values()), "no parameter was trainable"
        stuck = [n for n, trains in self.trainable.items() if trains and not changed[n]]
        moved = [n for n, trains in self.trainable.items() if not trains and changed[n]]
        assert not stuck, f"trainable weights did not change: {stuck}"
        assert not moved, f"frozen weights changed: {moved}"


def train_with_manager(config: RunConfig, runs_root: Path, timeout: float = 300) -> Any:
    """Start a run through the JobManager, wait for it, and return the final snapshot."""
    from ft_app.training.jobs import JobManager

    manager = JobManager(RunStore(runs_root))
    manager.start(config)
    snapshot = manager.wait(timeout)
    assert snapshot is not None
    assert not manager.busy, f"run still active after {timeout}s"
    return snapshot


def train_in_process(config: RunConfig, runs_root: Path) -> Any:
    """Create a run folder and train it in this process, as its training process would; return the final snapshot.

    For engine tests that look at the model in memory (ModelSpy) or patch the engine: the app's JobManager trains
    in a separate process, which a monkeypatch here cannot reach.
    """
    from ft_app.training.child import train_run_folder

    store = RunStore(runs_root)
    run_dir = store.create(config)
    _, progress = train_run_folder(run_dir, store)
    return progress.snapshot()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of metrics.jsonl (NaN allowed, as the engine writes it)."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]


def assert_run_folder_complete(
    run_dir: Path, config: RunConfig, *, status: str = "completed", expect_eval: bool = True
) -> Path:
    """The run folder holds everything needed to reload it; returns the model/ or adapter/ folder."""
    run_dir = Path(run_dir)
    assert RunStore.read_config(run_dir) == config, "config.json does not reload as the same RunConfig"
    state = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert state["status"] == status, state
    assert state.get("finished"), state

    records = read_metrics(run_dir)
    train = [r for r in records if r["kind"] == "train"]
    assert train, "no training record in metrics.jsonl"
    assert all(math.isfinite(r["loss"]) for r in train if "loss" in r), train
    assert any("loss" in r for r in train)
    assert all(r["step"] >= 1 for r in train)
    if expect_eval:
        evals = [r for r in records if r["kind"] == "eval"]
        assert evals and all(math.isfinite(r["eval_loss"]) for r in evals), records

    log_text = (run_dir / "log.txt").read_text(encoding="utf-8")
    assert "Training" in log_text, log_text[-2000:]

    info = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
    assert info["train_rows"] > 0 and info["mapping"]
    if expect_eval:
        examples = [json.loads(line) for line in (run_dir / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
        assert examples and all({"input", "reference"} <= set(e) for e in examples)

    result = run_dir / ("adapter" if config.uses_adapter else "model")
    assert result.is_dir(), sorted(p.name for p in run_dir.iterdir())
    other = run_dir / ("model" if config.uses_adapter else "adapter")
    assert not other.exists()
    if config.uses_adapter:
        assert (result / "adapter_config.json").is_file()
        assert (result / "adapter_model.safetensors").is_file()
    else:
        assert (result / "config.json").is_file()
        assert (result / "model.safetensors").is_file()
    for name in TOKENIZER_FILES:
        assert (result / name).is_file(), f"{name} missing from {result}"
    assert state.get("result") == result.name
    return result


def resolved_config(run_dir: Path) -> RunConfig:
    """The run's config with the columns and max length the run detected (from data.json), for predict()."""
    import dataclasses

    config = RunStore.read_config(run_dir)
    info = json.loads((Path(run_dir) / "data.json").read_text(encoding="utf-8"))
    mapping = info["mapping"]
    data = dataclasses.replace(
        config.data,
        text_column=mapping.get("text"),
        label_column=mapping.get("label"),
        prompt_column=mapping.get("prompt"),
        input_column=mapping.get("input"),
        response_column=mapping.get("response"),
        messages_column=mapping.get("messages"),
        target_column=mapping.get("target"),
        max_length=info["max_length"],
    )
    return dataclasses.replace(config, data=data)


def write_remote_code_model(folder: Path) -> Path:
    """A model folder whose config needs custom Python code (auto_map + a model_type transformers lacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "ft-app-test-custom-arch",
                "architectures": ["CustomModelForSequenceClassification"],
                "auto_map": {
                    "AutoConfig": "configuration_custom.CustomConfig",
                    "AutoModel": "modeling_custom.CustomModel",
                    "AutoModelForSequenceClassification": "modeling_custom.CustomModelForSequenceClassification",
                },
                "hidden_size": 8,
            }
        ),
        encoding="utf-8",
    )
    (folder / "configuration_custom.py").write_text(
        "raise RuntimeError('custom code must not run without trust_remote_code')\n", encoding="utf-8"
    )
    return folder


REPO_ROOT = Path(__file__).resolve().parents[1]


def cli_env() -> dict[str, str]:
    """The environment for a CLI subprocess: offline, quiet, ft_app importable from the repo."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.pop("FT_APP_HOME", None)
    return env


def run_cli(args: list[str], *, launcher: list[str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m ft_app ARGS` (or under a launcher such as accelerate) and capture its output."""
    command = [*(launcher or [sys.executable]), "-m", "ft_app", *args]
    return subprocess.run(command, capture_output=True, text=True, env=cli_env(), cwd=REPO_ROOT, timeout=timeout)
