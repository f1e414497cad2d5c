"""Every bad input gets a plain ValueError naming the bad value, before any model weights are loaded.

Two stages: the config itself (`RunConfig.from_dict` / `from_json`), or the checks that need the model's
config.json and the local data (`preflight`, which `JobManager.start` runs before creating a run).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ft_app.config import RunConfig, field_label
from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager
from ft_app.training.runner import preflight
from tests.engine_checks import run_cli, write_remote_code_model


@dataclass
class Env:
    tmp: Path
    bert: Path
    csv: Path

    def raw(self, **changes: Any) -> dict[str, Any]:
        """A good classification config as a dict, with sections updated by `changes`."""
        raw: dict[str, Any] = {
            "task": "classification",
            "model": str(self.bert),
            "method": "full",
            "data": {"train": str(self.csv)},
            "training": {"max_steps": 2, "batch_size": 2},
        }
        for key, value in changes.items():
            raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
        return raw

    def file(self, name: str, content: bytes | str) -> str:
        path = self.tmp / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return str(path)


@dataclass
class Case:
    id: str
    make: Callable[[Env], dict[str, Any] | str]
    stage: str  # "config" or "preflight"
    match: str  # regex the message must match (it names the bad value)


def _no_config_folder(env: Env) -> dict[str, Any]:
    folder = env.tmp / "not-a-model"
    folder.mkdir()
    (folder / "README.md").write_text("weights went elsewhere")
    return env.raw(model=str(folder))


def _pickled_only_model(env: Env) -> dict[str, Any]:
    import shutil

    folder = env.tmp / "pickled-model"
    shutil.copytree(env.bert, folder)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    (folder / "pytorch_model.bin").write_bytes(b"a pickle that must never be opened")
    return env.raw(model=str(folder))


NON_POSITIVE = [
    ("training", "epochs", 0),
    ("training", "epochs", -1),
    ("training", "learning_rate", 0),
    ("training", "learning_rate", -1e-5),
    ("training", "batch_size", 0),
    ("training", "eval_batch_size", -2),
    ("training", "max_steps", -3),
    ("training", "gradient_accumulation_steps", 0),
    ("training", "eval_steps", 0),
    ("training", "save_steps", 0),
    ("training", "logging_steps", 0),
    ("training", "save_total_limit", 0),
    ("training", "early_stopping_patience", 0),
    ("data", "max_length", 0),
    ("data", "max_target_length", -5),
    ("data", "max_rows", 0),
    ("data", "max_eval_rows", 0),
    ("lora", "r", 0),
    ("lora", "alpha", -16),
]

CASES = [
    Case(
        "unknown-model-id",
        lambda e: e.raw(model="ft-app-test-nobody/no-such-model-xyz"),
        "preflight",
        r"'ft-app-test-nobody/no-such-model-xyz'.*(not found|cannot be reached|unreachable)",
    ),
    Case("unknown-model-folder", lambda e: e.raw(model="./ft-app-no-such-folder"), "preflight", r"'./ft-app-no-such-folder' does not exist"),
    Case("folder-without-config", _no_config_folder, "preflight", r"not-a-model' has no config.json"),
    Case(
        "remote-code-model",
        lambda e: e.raw(model=str(write_remote_code_model(e.tmp / "custom-model"))),
        "preflight",
        r"custom-model'.*trust_remote_code.*off by default",
    ),
    Case("missing-data-file", lambda e: e.raw(data={"train": str(e.tmp / "gone.csv")}), "preflight", r"gone.csv' does not exist"),
    Case("empty-file", lambda e: e.raw(data={"train": e.file("empty.csv", b"")}), "preflight", r"'empty.csv' is empty"),
    Case("header-only-file", lambda e: e.raw(data={"train": e.file("header.csv", "text,label\n")}), "preflight", r"header.csv' has no rows"),
    Case("empty-jsonl", lambda e: e.raw(data={"train": e.file("empty.jsonl", b"")}), "preflight", r"'empty.jsonl' is empty"),
    Case(
        "not-utf8",
        lambda e: e.raw(data={"train": e.file("latin1.csv", "text,label\nun café très bon,pos\nmauvais,neg\n".encode("latin-1"))}),
        "preflight",
        r"'latin1.csv' is not UTF-8.*position 17",
    ),
    Case("unknown-file-type", lambda e: e.raw(data={"train": e.file("reviews.txt", "good\nbad\n")}), "preflight", r"'reviews.txt' is of an unknown type \(.txt\)"),
    Case("spreadsheet", lambda e: e.raw(data={"train": e.file("reviews.xlsx", b"PK\x03\x04")}), "preflight", r"'reviews.xlsx'.*unknown type.*CSV"),
    Case(
        "missing-mapped-column",
        lambda e: e.raw(data={"train": str(e.csv), "label_column": "sentiment"}),
        "preflight",
        r"'sentiment'.*not in the data.*The columns are: text, label",
    ),
    Case(
        "missing-text-column",
        lambda e: e.raw(data={"train": str(e.csv), "text_column": "review"}),
        "preflight",
        r"'review'.*columns are: text, label",
    ),
    Case(
        "single-class",
        lambda e: e.raw(data={"train": e.file("one.csv", "text,label\n" + "".join(f"nice {i},positive\n" for i in range(20)))}),
        "preflight",
        r"'label' has a single class \(positive\)",
    ),
    Case("pickled-weights-only", _pickled_only_model, "preflight",
         r"'.*pickled-model' has only pickled PyTorch weights \(pytorch_model.bin\).*safe_serialization=True"),
    Case("unreachable-hub-dataset", lambda e: e.raw(data={"train": "ft-app-test-nobody/no-such-dataset"}), "preflight",
         r"'ft-app-test-nobody/no-such-dataset'.*cannot be reached"),
    Case("endless-epochs", lambda e: e.raw(training={"epochs": 1e12}), "config",
         r"Epochs 1e\+12 is more than any run could reach on any machine \(at most 1,000,000\)"),
    Case("endless-steps", lambda e: e.raw(training={"max_steps": 10**10}), "config",
         r"Max steps 10000000000 is more than any run could reach.*1,000,000,000"),
    Case("max-length-leaves-no-room", lambda e: e.raw(data={"train": str(e.csv), "max_length": 1}), "config",
         r"Max length \(tokens\) 1 leaves no room for text.*at least 8"),
    Case("max-length-above-limit", lambda e: e.raw(data={"train": str(e.csv), "max_length": 129}), "preflight", r"Max length \(tokens\) 129 is above.*\(128 tokens\)"),
    Case(
        "qlora-without-cuda",
        lambda e: e.raw(task="causal_lm", method="qlora"),
        "preflight",
        r"'qlora'.*needs an NVIDIA GPU with CUDA.*Choose 'lora' instead",
    ),
    Case(
        "8bit-without-cuda",
        lambda e: e.raw(task="causal_lm", method="lora8bit"),
        "preflight",
        r"'lora8bit'.*needs an NVIDIA GPU with CUDA.*Choose 'lora' instead",
    ),
    Case("fp16-on-cpu", lambda e: e.raw(training={"precision": "fp16"}), "preflight", r"Precision 'fp16' needs an NVIDIA GPU"),
    Case("8bit-optimizer-on-cpu", lambda e: e.raw(training={"optimizer": "adamw_8bit"}), "preflight", r"'adamw_8bit' needs an NVIDIA GPU.*adamw_torch"),
    Case("unknown-top-key", lambda e: {**e.raw(), "epochs": 3}, "config", r"Unknown key 'epochs'.*Known keys: .*training"),
    Case("unknown-section-key", lambda e: e.raw(training={"lr": 1e-4}), "config", r"Unknown key 'lr' in 'training'.*learning_rate"),
    Case("unknown-data-key", lambda e: e.raw(data={"train": "x.csv", "file": "y"}), "config", r"Unknown key 'file' in 'data'"),
    Case("invalid-json", lambda e: json.dumps(e.raw())[:-1] + ",}", "config", r"not valid JSON.*line 1, column \d+"),
    Case("not-an-object", lambda e: "[1, 2]", "config", r"must be a JSON object.*list"),
    Case("text-for-a-number", lambda e: e.raw(training={"epochs": "three"}), "config", r"Epochs must be a number, not 'three'"),
    Case("unknown-method", lambda e: e.raw(method="dora"), "config", r"Training method 'dora' is not one of"),
] + [
    Case(
        f"non-positive-{section}.{key}={value}",
        lambda e, s=section, k=key, v=value: e.raw(**{s: {k: v}}),
        "config",
        rf"{re.escape(field_label(key))} must be more than 0, not {re.escape(format(value, 'g'))}",
    )
    for section, key, value in NON_POSITIVE
] + [
    Case("negative-weight-decay", lambda e: e.raw(training={"weight_decay": -0.1}), "config", r"Weight decay must be 0 or more, not -0.1"),
    Case("unknown-label-weights", lambda e: e.raw(training={"label_weights": "equal"}), "config",
         r"Label weights 'equal' is not one of: auto, balanced, none"),
]


@pytest.fixture
def env(tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path) -> Env:
    return Env(tmp_path, tiny_bert_dir, sentiment_csv)


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading model weights now fails the test (AssertionError is not a ValueError, so pytest.raises lets it through)."""
    from transformers import PreTrainedModel

    def refuse(cls: type, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"model weights were loaded: {args[:1]}")

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(refuse))


def _parse(made: dict[str, Any] | str) -> RunConfig:
    return RunConfig.from_json(made) if isinstance(made, str) else RunConfig.from_dict(made)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_gets_a_plain_error_before_weights_load(case: Case, env: Env, no_weights: None, tmp_path: Path) -> None:
    """The message names the bad value; nothing is loaded and no run folder is made."""
    made = case.make(env)
    if case.stage == "config":
        with pytest.raises(ValueError, match=case.match) as info:
            _parse(made)
    else:
        config = _parse(made)  # the config itself is fine
        with pytest.raises(ValueError, match=case.match) as info:
            preflight(config)
        store = RunStore(tmp_path / "runs")
        with pytest.raises(ValueError, match=case.match):
            JobManager(store).start(config)
        assert store.list_runs() == []
    message = str(info.value)
    assert "Traceback" not in message and "\n" not in message and len(message) < 600


def test_good_config_passes_the_same_checks(env: Env, no_weights: None) -> None:
    """Control: the unmodified config passes preflight without loading weights."""
    checked = preflight(_parse(env.raw()))
    assert checked.raw is not None and checked.raw.label_names == ["negative", "positive"]


def test_cli_bad_config_is_one_plain_line(env: Env, tmp_path: Path) -> None:
    """The CLI prints the same plain message on stderr, exits 2, and shows no traceback."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(env.raw(training={"batch_size": 0})))
    proc = run_cli(["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert proc.returncode == 2, proc.stderr
    assert "Batch size must be more than 0, not 0" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_import_is_light() -> None:
    """Parsing a config does not import torch or transformers (fast CLI errors, fast app start)."""
    code = (
        "import sys; from ft_app.config import RunConfig; "
        "RunConfig.from_dict({'model': 'm', 'data': 'd.csv'}); "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"
