"""Every task x every CPU method trains a few real steps through the engine (in this process) on the tiny models.

For each run: the trainable weights moved and the frozen ones are bit-identical, the run folder is
complete, and the saved model/ or adapter/ reloads with plain transformers/peft (no ft_app code),
gives the same outputs as the trained model in memory, and predicts through the task's predict().
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from ft_app.runs import LOG_FILE
from ft_app.tasks import GenerationSettings, get_task
from ft_app.training.progress import RunProgress
from ft_app.training.runner import preflight, run_training
from tests.engine_checks import (
    ModelSpy,
    assert_run_folder_complete,
    make_config,
    read_metrics,
    resolved_config,
    train_in_process,
)

GEN = GenerationSettings(max_new_tokens=6)
LABELS = {0: "negative", 1: "positive"}


@dataclass(frozen=True)
class Case:
    task: str
    model: str  # fixture name
    method: str
    data: str  # fixture name
    sample: str

    @property
    def id(self) -> str:
        return f"{self.task}-{self.model.replace('tiny_', '').replace('_dir', '')}-{self.method}-{self.data.split('_')[0]}"


REVIEW = "A wonderful, warm and moving film."
CASES = [
    Case("classification", "tiny_bert_dir", "full", "sentiment_csv", REVIEW),
    Case("classification", "tiny_bert_dir", "head", "sentiment_csv", REVIEW),
    Case("classification", "tiny_bert_dir", "lora", "sentiment_csv", REVIEW),
    # A decoder as a classifier: GPT-2 has no pad token, the engine must give it one.
    Case("classification", "tiny_gpt2_dir", "full", "sentiment_csv", REVIEW),
    Case("causal_lm", "tiny_gpt2_dir", "full", "instruction_jsonl", "What color is the sky?"),
    Case("causal_lm", "tiny_gpt2_dir", "lora", "instruction_jsonl", "What color is the sky?"),
    Case("causal_lm", "tiny_llama_dir", "full", "chat_jsonl", "What color is the grass?"),
    Case("causal_lm", "tiny_llama_dir", "lora", "chat_jsonl", "What color is the grass?"),
    Case("causal_lm", "tiny_llama_dir", "lora", "plain_text_txt_jsonl", "one two three"),
    Case("seq2seq", "tiny_t5_dir", "full", "seq2seq_csv", REVIEW),
    Case("seq2seq", "tiny_t5_dir", "lora", "seq2seq_csv", REVIEW),
]


def _reload(case: Case, result: Path) -> Any:
    """Load the saved result with transformers/peft only, the way a user would."""
    if result.name == "model":
        cls = {
            "classification": AutoModelForSequenceClassification,
            "causal_lm": AutoModelForCausalLM,
            "seq2seq": AutoModelForSeq2SeqLM,
        }[case.task]
        return cls.from_pretrained(result).eval()
    import peft

    if case.task == "classification":
        return peft.AutoPeftModelForSequenceClassification.from_pretrained(result, num_labels=2).eval()
    cls = {"causal_lm": peft.AutoPeftModelForCausalLM, "seq2seq": peft.AutoPeftModelForSeq2SeqLM}[case.task]
    return cls.from_pretrained(result).eval()


def _outputs(model: Any, tokenizer: Any, case: Case) -> torch.Tensor:
    batch = tokenizer([case.sample], return_tensors="pt")
    if case.task == "seq2seq":
        batch["labels"] = tokenizer(text_target=["positive"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_train_save_reload_predict(
    case: Case, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few steps through the real engine; weights, run folder, reload and prediction all check out."""
    model_dir: Path = request.getfixturevalue(case.model)
    train_file: Path = request.getfixturevalue(case.data)
    spy = ModelSpy().install(monkeypatch)
    config = make_config(case.task, model_dir, case.method, train_file, data={"max_length": 64})

    snap = train_in_process(config, tmp_path / "runs")

    assert snap.status == "completed", snap.message
    assert snap.step == 4 and snap.total_steps == 4
    assert snap.trainable_params and snap.total_params and snap.trainable_params <= snap.total_params
    run_dir = snap.run_dir
    result = assert_run_folder_complete(run_dir, config)

    # -- weights: trainable moved, frozen bit-identical
    spy.assert_trained_only_trainable()
    names = list(spy.trainable)
    trained = {n for n, t in spy.trainable.items() if t}
    if case.method == "full":
        assert trained == set(names)
    elif case.method == "head":
        # The new classifier and the pooler that only feeds it (see modeling.head_modules).
        assert trained == {"classifier.weight", "classifier.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
        # The saved body is bit-identical to the pretrained checkpoint on disk.
        base = load_file(model_dir / "model.safetensors")
        saved = load_file(result / "model.safetensors")
        body = [k for k in saved if k.startswith("bert.") and not k.startswith("bert.pooler.")]
        assert len(body) > 20
        for key in body:
            assert torch.equal(saved[key], base[key]), key
        assert not torch.equal(saved["classifier.weight"], spy.initial["classifier.weight"])
    else:  # lora
        lora = {n for n in names if "lora_" in n}
        assert lora and lora <= trained
        extra = trained - lora
        # Classification also trains the new head (peft's modules_to_save); nothing else.
        assert all(".modules_to_save." in n for n in extra), extra
        assert bool(extra) == (case.task == "classification")
        assert any(".base_layer." in n and not spy.trainable[n] for n in names)
        saved = load_file(result / "adapter_model.safetensors")
        assert any("lora_A" in k for k in saved) and any("lora_B" in k for k in saved)
        assert not any("base_layer" in k for k in saved), "the adapter file must not hold the base weights"

    # -- reload with plain transformers / peft and compare with the trained model in memory
    tokenizer = AutoTokenizer.from_pretrained(result)
    assert tokenizer.pad_token is not None
    reloaded = _reload(case, result)
    spy.model.eval()
    expected = _outputs(spy.model, tokenizer, case)
    got = _outputs(reloaded, tokenizer, case)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()

    # -- predict through the task, with the columns the run detected
    config_resolved = resolved_config(run_dir)
    pred = get_task(case.task).predict(reloaded, tokenizer, case.sample, config_resolved, GEN)
    assert isinstance(pred.text, str)
    if case.task == "classification":
        if case.method != "lora":  # a full model/ keeps the label names in its config
            assert reloaded.config.id2label == LABELS
            assert pred.label in LABELS.values()
        assert pred.probabilities is not None and math.isclose(sum(pred.probabilities.values()), 1.0, rel_tol=1e-5)
    if case.data == "plain_text_txt_jsonl":
        # Plain-text runs continue the input as it is (no prompt template around it).
        ids = tokenizer(case.sample, return_tensors="pt")
        with torch.no_grad():
            out = reloaded.generate(**ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert pred.text == tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def test_adapter_folder_keeps_label_names(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """A classification adapter reloads alone with its label names (labels.json next to the adapter)."""
    import peft

    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv, training={"max_steps": 2})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    labels = json.loads((snap.run_dir / "adapter" / "labels.json").read_text(encoding="utf-8"))
    id2label = {int(k): v for k, v in labels["id2label"].items()}
    assert id2label == LABELS
    model = peft.AutoPeftModelForSequenceClassification.from_pretrained(
        snap.run_dir / "adapter", num_labels=len(id2label), id2label=id2label, label2id=labels["label2id"]
    )
    assert model.config.id2label == LABELS


def test_decoder_classifier_pads_batches(tiny_gpt2_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """GPT-2 as a classifier: the saved model knows its pad token, so a padded batch scores like single rows."""
    config = make_config("classification", tiny_gpt2_dir, "full", sentiment_csv, training={"max_steps": 2})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    result = snap.run_dir / "model"
    tokenizer = AutoTokenizer.from_pretrained(result)
    model = AutoModelForSequenceClassification.from_pretrained(result).eval()
    assert tokenizer.pad_token_id is not None and model.config.pad_token_id == tokenizer.pad_token_id
    texts = ["Great.", "A long, dull and tedious plot that never ends at all."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any()  # really padded
    with torch.no_grad():
        together = model(**batch).logits
        alone = torch.cat([model(**tokenizer([t], return_tensors="pt")).logits for t in texts])
    assert torch.allclose(together, alone, atol=1e-5)


def test_loss_falls_on_a_learnable_task(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """Seven epochs of full fine-tuning on separable reviews: the logged training loss clearly goes down."""
    config = make_config(
        "classification",
        tiny_bert_dir,
        "full",
        sentiment_csv,
        training={"max_steps": 48, "batch_size": 8, "learning_rate": 3e-3, "scheduler": "constant", "eval_steps": 48},
    )
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    losses = [r["loss"] for r in read_metrics(snap.run_dir) if r["kind"] == "train"]
    assert len(losses) == 48
    first, last = sum(losses[:6]) / 6, sum(losses[-6:]) / 6
    assert last < first - 0.15, losses



@pytest.mark.parametrize(("label_weights", "low", "high"), [("none", 0.68, 0.82), ("balanced", 0.40, 0.60)])
def test_label_weights_decide_what_a_clueless_model_learns(
    tiny_bert_dir: Path, tmp_path: Path, label_weights: str, low: float, high: float
) -> None:
    """Rows that all read the same, 75% labelled 'positive': plain loss learns to say 'positive' at 75%, balanced label
    weights at 50% (each label counts the same), in the saved model."""
    rows = "\n".join(["text,label"] + ["a film,positive"] * 36 + ["a film,negative"] * 12)
    data = tmp_path / "same_text.csv"
    data.write_text(rows + "\n", encoding="utf-8")
    training = {"max_steps": 60, "batch_size": 8, "learning_rate": 1e-2, "scheduler": "constant", "eval_strategy": "no",
                "label_weights": label_weights}
    config = make_config("classification", tiny_bert_dir, "full", data, data={"validation_size": 0}, training=training)
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    result = snap.run_dir / "model"
    model = AutoModelForSequenceClassification.from_pretrained(result).eval()
    tokenizer = AutoTokenizer.from_pretrained(result)
    with torch.no_grad():
        probs = model(**tokenizer("a film", return_tensors="pt")).logits.softmax(-1)[0]
    positive = float(probs[model.config.label2id["positive"]])
    assert low < positive < high, positive
    weighed = "Labels weighed so that each counts the same" in (snap.run_dir / LOG_FILE).read_text(encoding="utf-8")
    assert weighed == (label_weights == "balanced")


def test_nan_loss_fails_with_learning_rate_advice(
    tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss that turns NaN stops the run as failed, says to lower the learning rate, and keeps the history."""
    spy = ModelSpy().install(monkeypatch)
    import ft_app.modeling as modeling

    spied = modeling.load_model

    def poisoned(*args: Any, **kwargs: Any) -> Any:
        loaded = spied(*args, **kwargs)

        def nan_loss(module: Any, inputs: Any, output: Any) -> Any:
            if module.training and getattr(output, "loss", None) is not None:
                output.loss = output.loss * float("nan")
            return output

        loaded.model.register_forward_hook(nan_loss)
        return loaded

    monkeypatch.setattr(modeling, "load_model", poisoned)
    config = make_config("classification", tiny_bert_dir, "full", sentiment_csv, training={"max_steps": 20})
    snap = train_in_process(config, tmp_path / "runs")

    assert spy.calls == 1
    assert snap.status == "failed"
    assert "learning rate" in snap.message.lower(), snap.message
    status = json.loads((snap.run_dir / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and "learning rate" in status["message"].lower()
    assert snap.step < 20, "the run went on after the loss became NaN"
    records = read_metrics(snap.run_dir)
    assert any(r["kind"] == "train" and not math.isfinite(r.get("loss", 0.0)) for r in records)
    assert not (snap.run_dir / "model").exists(), "a NaN model must not be saved as the result"


def test_run_training_directly_records_failure(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """run_training never raises: a crash mid-run (data file gone) is recorded as failed with the reason."""
    from ft_app.runs import RunStore

    data = tmp_path / "gone.csv"
    data.write_text("text,label\n" + "".join(f"row {i},{'ab'[i % 2]}\n" for i in range(20)), encoding="utf-8")
    config = make_config("classification", tiny_bert_dir, "full", data)
    store = RunStore(tmp_path / "runs")
    run_dir = store.create(config)
    data.unlink()  # preflight runs inside run_training here, and now finds no file
    progress = RunProgress(run_id=run_dir.name, run_dir=run_dir)
    import threading

    status = run_training(config, run_dir, store, progress, threading.Event())
    assert status == "failed"
    saved = store.read_status(run_dir)
    assert saved["status"] == "failed" and "gone.csv" in saved["message"] and "does not exist" in saved["message"]
    assert (run_dir / "log.txt").is_file()


def test_preflight_resolves_max_length_and_loads_local_data(tiny_gpt2_dir: Path, instruction_jsonl: Path) -> None:
    """preflight caps the default max length at the model's 128 positions and checks local data up front."""
    config = make_config("causal_lm", tiny_gpt2_dir, "lora", instruction_jsonl)
    assert config.data.max_length is None and config.max_length == 512
    checked = preflight(config)
    assert checked.config.data.max_length == 128
    assert checked.precision == "fp32" and checked.device.kind == "cpu"
    assert checked.raw is not None and checked.raw.mapping.prompt == "instruction"
    assert len(checked.raw.train) + len(checked.raw.validation) == 48


def test_early_stopping_keeps_best_checkpoint(tiny_bert_dir: Path, sentiment_csv: Path, tmp_path: Path) -> None:
    """Early stopping turns on load_best_model_at_end; the run completes and reports the best eval metrics."""
    config = make_config(
        "classification",
        tiny_bert_dir,
        "head",
        sentiment_csv,
        training={
            "max_steps": 6,
            "early_stopping": True,
            "early_stopping_patience": 1,
            "metric_for_best_model": "eval_loss",
            "save_strategy": "auto",
            "save_total_limit": 1,
        },
    )
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    status = json.loads((snap.run_dir / "status.json").read_text(encoding="utf-8"))
    evals = [r for r in read_metrics(snap.run_dir) if r["kind"] == "eval"]
    best = min(r["eval_loss"] for r in evals)
    assert status["best_metric"]["eval_loss"] == pytest.approx(best)
    assert "eval loss" in status["message"]


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["qlora", "lora8bit"])
def test_quantized_lora_trains_on_gpu(
    method: str, tiny_llama_dir: Path, chat_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QLoRA (4-bit) and 8-bit LoRA on CUDA: quantized base layers, adapters trained, the adapter reloads."""
    pytest.importorskip("bitsandbytes")
    import peft

    spy = ModelSpy().install(monkeypatch)
    config = make_config("causal_lm", tiny_llama_dir, method, chat_jsonl, data={"max_length": 64})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    result = assert_run_folder_complete(snap.run_dir, config)

    kind = "Linear4bit" if method == "qlora" else "Linear8bitLt"
    assert any(type(m).__name__ == kind for m in spy.model.modules()), f"no {kind} layer in the model"
    changed = spy.changed()
    lora = [n for n in spy.trainable if "lora_" in n]
    assert lora and all(spy.trainable[n] and changed[n] for n in lora)
    assert {n for n, t in spy.trainable.items() if t} == set(lora)
    floats = [n for n, p in spy.model.named_parameters() if n not in lora and p.dtype.is_floating_point]
    assert floats and not any(changed[n] for n in floats), "frozen full-precision weights changed"

    tokenizer = AutoTokenizer.from_pretrained(result)
    reloaded = peft.AutoPeftModelForCausalLM.from_pretrained(result).eval()  # full-precision base + adapter
    pred = get_task("causal_lm").predict(reloaded, tokenizer, "What color is the sky?", resolved_config(snap.run_dir), GEN)
    assert isinstance(pred.text, str)


@pytest.mark.parametrize(
    ("task", "model", "method", "data"),
    [
        ("classification", "tiny_bert_dir", "full", "sentiment_csv"),
        ("classification", "tiny_bert_dir", "lora", "sentiment_csv"),
        ("causal_lm", "tiny_gpt2_dir", "lora", "instruction_jsonl"),
    ],
)
def test_base_measured_after_training_scores_exactly_as_before_training(
    task: str, model: str, method: str, data: str, request: pytest.FixtureRequest, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The base is evaluated after training (a fresh seeded base, or the adapter switched off): same numbers, same
    golden answers as the model scored right before its first step, on the same held-out rows."""
    from ft_app.evaluation import answer_prompts
    from ft_app.training import runner

    seen: dict[str, Any] = {}
    real_build = runner.TrainingRun.build_trainer

    def build_then_measure(self: Any, checked: Any, loaded: Any) -> Any:
        trainer = real_build(self, checked, loaded)  # where the base used to be measured: the untrained model
        golden = runner.golden_rows(self.config, loaded.data, loaded.task)
        seen["before"] = runner._held_out_metrics(trainer.model, loaded.tokenizer, loaded.data, loaded.task, self.config)
        seen["golden"] = answer_prompts(trainer.model, loaded.tokenizer, golden, self.config)
        return trainer

    monkeypatch.setattr(runner.TrainingRun, "build_trainer", build_then_measure)
    config = make_config(task, request.getfixturevalue(model), method, request.getfixturevalue(data),
                         data={"max_length": 64}, evaluation={"golden_from_heldout": 3})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message

    report = json.loads((snap.run_dir / "eval.json").read_text(encoding="utf-8"))
    assert seen["before"]["rows"] > 0 and report["before"] == seen["before"]
    assert report["after"] != report["before"]  # training did change the model
    rows = [json.loads(line) for line in (snap.run_dir / "compare.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and [r["base"] for r in rows] == seen["golden"]
