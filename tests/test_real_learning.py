"""Real learning on real pretrained models: the engine must make a model measurably better.

Both tests run the whole engine (`JobManager` -> background thread -> Trainer -> saved result) and then
judge the result with plain `transformers` / `peft` code, against the same base model measured the
same way before training:

- all-MiniLM-L6-v2 fine-tuned (full) on a slice of SST-2: dev accuracy must rise well above the
  accuracy of the base model with its fresh, seeded classification head.
- SmolLM2-135M-Instruct with LoRA on de-duplicated chatterbot Q/A pairs: the loss on held-out answers
  (questions never seen in training) must fall clearly below the base model's.

They are sized for CI on 2 CPU cores (about a minute each on an idle machine); `--durations=0` shows it.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from ft_app.config import RunConfig
from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager

pytestmark = pytest.mark.slow

SEED = 42
# SST-2: a seeded sample of the training file, the first rows of the dev file.
SST2_TRAIN_ROWS = 1500
SST2_DEV_ROWS = 872  # the whole GLUE dev set
SST2_MAX_LENGTH = 64
# Chatterbot: questions are unique (the fixture de-duplicates them), so a split of the pairs is a split of questions.
QA_HELD_OUT = 60
QA_TRAIN = 300
QA_MAX_LENGTH = 128
RUN_TIMEOUT_S = 900


def _run_engine(tmp_path: Path, raw: dict[str, Any]) -> tuple[RunConfig, Path]:
    """Run one config through the job manager to the end; return the config and the run folder."""
    config = RunConfig.from_dict(raw)
    manager = JobManager(RunStore(tmp_path / "runs"))
    run_id = manager.start(config)
    snap = manager.wait(timeout=RUN_TIMEOUT_S)
    assert snap is not None and snap.run_id == run_id
    assert snap.status == "completed", f"run ended {snap.status}: {snap.message}\n{RunStore.read_log_tail(snap.run_dir)}"
    return config, snap.run_dir


def _write_sst2_slices(sst2_dir: Path, dest: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """A seeded sample of train.tsv and the first dev rows as TSV files; returns paths and dev (label, sentence)."""
    header, *rows = (sst2_dir / "train.tsv").read_text(encoding="utf-8").splitlines()
    assert header == "label\tsentence"
    random.Random(0).shuffle(rows)
    train = dest / "sst2_train.tsv"
    train.write_text("\n".join([header, *rows[:SST2_TRAIN_ROWS]]) + "\n", encoding="utf-8")
    dev_header, *dev_rows = (sst2_dir / "dev.tsv").read_text(encoding="utf-8").splitlines()
    dev_rows = dev_rows[:SST2_DEV_ROWS]
    dev = dest / "sst2_dev.tsv"
    dev.write_text("\n".join([dev_header, *dev_rows]) + "\n", encoding="utf-8")
    pairs = [tuple(line.split("\t", 1)) for line in dev_rows]
    return train, dev, pairs  # type: ignore[return-value]


def _accuracy(model: Any, tokenizer: Any, pairs: list[tuple[str, str]]) -> float:
    """Dev accuracy with plain transformers: the predicted id's label name against the dev label."""
    model.eval()
    id2label = {int(k): str(v) for k, v in model.config.id2label.items()}
    correct = 0
    with torch.no_grad():
        for i in range(0, len(pairs), 64):
            chunk = pairs[i : i + 64]
            enc = tokenizer(
                [s for _, s in chunk], truncation=True, max_length=SST2_MAX_LENGTH, padding=True, return_tensors="pt"
            )
            predicted = model(**enc).logits.argmax(-1).tolist()
            correct += sum(id2label[p] == label for p, (label, _) in zip(predicted, chunk))
    return correct / len(pairs)


def test_minilm_full_fine_tuning_on_sst2_beats_the_base_model(
    minilm_dir: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    """One epoch of full fine-tuning lifts SST-2 dev accuracy from chance to well above 0.70."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ft_app.modeling import load_base_model

    train, dev, pairs = _write_sst2_slices(sst2_dir, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    raw = {
        "task": "classification",
        "model": str(minilm_dir),
        "method": "full",
        "data": {"train": str(train), "validation": str(dev), "max_length": SST2_MAX_LENGTH},
        "training": {
            "epochs": 1,
            "batch_size": 32,
            "learning_rate": 2e-4,
            "seed": SEED,
            "eval_strategy": "no",  # the test judges the result itself, after training
        },
    }
    # The base model as the engine measures "before": the pretrained model with its seeded new 2-label head, without
    # what a method adds before training (the mean-pooling layer of full runs), so that "before" is the same number
    # whatever the method.
    base = load_base_model(RunConfig.from_dict(raw), tokenizer, ["0", "1"], method_changes=False)
    before = _accuracy(base, tokenizer, pairs)
    del base

    _, run_dir = _run_engine(tmp_path, raw)
    model_dir = run_dir / "model"
    finetuned = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert finetuned.config.id2label == {0: "0", 1: "1"}
    after = _accuracy(finetuned, AutoTokenizer.from_pretrained(model_dir), pairs)
    print(f"\nMiniLM on SST-2 dev ({len(pairs)} rows): before {before:.3f}, after {after:.3f}")

    assert after >= 0.70, f"dev accuracy after fine-tuning is only {after:.3f} (before: {before:.3f})"
    assert after >= before + 0.15, f"fine-tuning barely helped: {before:.3f} -> {after:.3f}"
    # The engine's own before/after report measures the same thing on the same rows.
    report = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    assert report["before"]["accuracy"] == pytest.approx(before, abs=2 / len(pairs))
    assert report["after"]["accuracy"] == pytest.approx(after, abs=2 / len(pairs))


def _split_qa(pairs: list[dict[str, str]]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A seeded split of unique questions into training and held-out pairs."""
    shuffled = list(pairs)
    random.Random(0).shuffle(shuffled)
    held_out, train = shuffled[:QA_HELD_OUT], shuffled[QA_HELD_OUT : QA_HELD_OUT + QA_TRAIN]
    return train, held_out


def _write_jsonl(path: Path, pairs: list[dict[str, str]]) -> Path:
    path.write_text(
        "".join(json.dumps({"prompt": p["question"], "response": p["answer"]}) + "\n" for p in pairs), encoding="utf-8"
    )
    return path


def _answer_loss(model: Any, encoded: dict[str, list[Any]], collator: Any) -> tuple[float, int]:
    """Mean loss per answer token (the labels the engine's encoder leaves unmasked) and the token count."""
    total, count = 0.0, 0
    rows = [
        {"input_ids": ids, "attention_mask": mask, "labels": labels}
        for ids, mask, labels in zip(encoded["input_ids"], encoded["attention_mask"], encoded["labels"])
    ]
    rows.sort(key=lambda r: len(r["input_ids"]))  # batches of similar length: little padding, same sum
    with torch.no_grad():
        for i in range(0, len(rows), 8):
            batch = collator(rows[i : i + 8])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logits, labels = logits[:, :-1].float(), batch["labels"][:, 1:]
            total += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="sum"
            ).item()
            count += int((labels != -100).sum())
    return total / count, count


def test_smollm2_lora_lowers_held_out_answer_loss_on_chatterbot(
    smollm2_dir: Path, chatterbot_qa: list[dict[str, str]], tmp_path: Path
) -> None:
    """A LoRA adapter trained for 20 steps lowers the loss on answers to questions it never saw."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    from ft_app.data import ColumnMapping
    from ft_app.tasks import get_task

    train_pairs, held_pairs = _split_qa(chatterbot_qa)
    seen = {p["question"].strip().lower() for p in train_pairs}
    assert not seen & {p["question"].strip().lower() for p in held_pairs}, "a held-out question leaked into training"
    train = _write_jsonl(tmp_path / "qa_train.jsonl", train_pairs)
    held = _write_jsonl(tmp_path / "qa_held_out.jsonl", held_pairs)

    started = time.perf_counter()
    config, run_dir = _run_engine(
        tmp_path,
        {
            "task": "causal_lm",
            "model": str(smollm2_dir),
            "method": "lora",
            "data": {"train": str(train), "validation": str(held), "max_length": QA_MAX_LENGTH},
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
            "training": {
                "max_steps": 20,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "seed": SEED,
                "eval_strategy": "no",
            },
        },
    )
    engine_s = time.perf_counter() - started
    adapter_dir = run_dir / "adapter"
    assert (adapter_dir / "adapter_config.json").is_file()

    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    task = get_task("causal_lm")
    # The engine's own encoder: the chat template and the answer-only label mask exactly as in training.
    encode = task.encoder(config, tokenizer, ColumnMapping(prompt="prompt", response="response"), None)
    encoded = encode({"prompt": [p["question"] for p in held_pairs], "response": [p["answer"] for p in held_pairs]})
    collator = task.collator(tokenizer, None, None)

    started = time.perf_counter()
    model = AutoPeftModelForCausalLM.from_pretrained(adapter_dir, dtype=torch.float32)
    model.eval()
    loaded = time.perf_counter()
    with model.disable_adapter():
        base_loss, tokens = _answer_loss(model, encoded, collator)
    tuned_loss, _ = _answer_loss(model, encoded, collator)
    drop = 1 - tuned_loss / base_loss
    print(
        f"\nSmolLM2 + LoRA, held-out answer loss on {len(held_pairs)} unseen questions ({tokens} answer tokens): "
        f"base {base_loss:.3f}, adapter {tuned_loss:.3f} ({drop:.1%} lower); engine run {engine_s:.0f} s, "
        f"reload {loaded - started:.0f} s, both losses {time.perf_counter() - loaded:.0f} s"
    )

    assert 0 < tokens < sum(len(ids) for ids in encoded["input_ids"]), "the loss must cover the answers only"
    assert tuned_loss <= 0.9 * base_loss, f"the adapter barely helped: {base_loss:.3f} -> {tuned_loss:.3f}"
    report = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    assert report["before"]["loss"] == pytest.approx(base_loss, rel=0.01)
    assert report["after"]["loss"] == pytest.approx(tuned_loss, rel=0.01)
