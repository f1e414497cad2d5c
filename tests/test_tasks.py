"""Task encoders and collators: answer-only loss checked token by token, dynamic padding, metrics, prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ft_app.config import RunConfig
from ft_app.data import load_splits, prepare_data
from ft_app.modeling import load_tokenizer
from ft_app.tasks import GenerationSettings, get_task
from ft_app.tasks.causal_lm import IGNORE_INDEX, normalize_messages, render_prompt, render_training_text
from ft_app.tasks.classification import classification_metrics
from tests.engine_checks import make_config
from tests.fixtures.data_files import write_jsonl


def _prepared(config: RunConfig):
    tokenizer = load_tokenizer(config)
    raw = load_splits(config)
    return tokenizer, raw, prepare_data(config, tokenizer, raw)


def _config(task: str, model: Path, data: Path, **data_kw) -> RunConfig:
    return make_config(task, model, "lora", data, data={"max_length": 128, "validation_size": 0, **data_kw})


def _runs(labels: list[int]) -> list[tuple[int, int]]:
    """Start/end positions of the stretches of trained (not -100) labels."""
    out, start = [], None
    for i, lab in enumerate([*labels, IGNORE_INDEX]):
        if lab != IGNORE_INDEX and start is None:
            start = i
        elif lab == IGNORE_INDEX and start is not None:
            out.append((start, i))
            start = None
    return out


# ---------------------------------------------------------------- answer-only loss


def test_instruction_labels_mask_exactly_the_prompt(tiny_gpt2_dir: Path, instruction_jsonl: Path) -> None:
    """Template path: labels are -100 on every prompt token and equal input_ids on every response token."""
    config = _config("causal_lm", tiny_gpt2_dir, instruction_jsonl)
    tokenizer, raw, data = _prepared(config)
    assert raw.mapping.prompt == "instruction" and raw.mapping.response == "response"
    assert len(data.train) == 48 and data.dropped_rows == 0
    for i in range(8):
        row, enc = raw.train[i], data.train[i]
        rendered = render_training_text(row, raw.mapping, tokenizer, config.data)
        head = f"### Instruction:\n{row['instruction']}\n\n### Response:\n"
        assert rendered.text == head + row["response"] + tokenizer.eos_token
        prompt_ids = tokenizer(head)["input_ids"]
        n = len(prompt_ids)
        ids, labels = enc["input_ids"], enc["labels"]
        assert ids[:n] == prompt_ids
        assert labels[:n] == [IGNORE_INDEX] * n
        assert labels[n:] == ids[n:]
        assert tokenizer.decode(ids[n:]) == row["response"] + tokenizer.eos_token
        assert enc["length"] == len(ids) == len(enc["attention_mask"])


def test_loss_on_prompt_trains_every_token(tiny_gpt2_dir: Path, instruction_jsonl: Path) -> None:
    """loss_on_prompt=True: nothing is masked."""
    config = _config("causal_lm", tiny_gpt2_dir, instruction_jsonl, loss_on_prompt=True)
    _, _, data = _prepared(config)
    for enc in data.train.select(range(8)):
        assert enc["labels"] == enc["input_ids"]


def test_chat_trains_only_assistant_turns(tiny_llama_dir: Path, chat_jsonl: Path) -> None:
    """Chat template: each assistant turn (content, eos, its newline) is trained; system and user turns never are."""
    config = _config("causal_lm", tiny_llama_dir, chat_jsonl)
    tokenizer, raw, data = _prepared(config)
    assert raw.mapping.messages == "messages"
    assert len(data.train) == 32
    seen_two_rounds = seen_system = False
    for row, enc in zip(raw.train, data.train):
        msgs = normalize_messages(row["messages"])
        full = tokenizer.apply_chat_template(msgs, tokenize=False)
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        assert enc["input_ids"] == full_ids  # bos comes from the template, not added twice
        expected = [IGNORE_INDEX] * len(full_ids)
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            before = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True)
            through = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
            a = len(tokenizer(before, add_special_tokens=False)["input_ids"])
            b = len(tokenizer(through, add_special_tokens=False)["input_ids"])
            assert full_ids[:b] == tokenizer(through, add_special_tokens=False)["input_ids"]
            expected[a:b] = full_ids[a:b]
        assert enc["labels"] == expected
        runs = _runs(enc["labels"])
        answers = [m["content"] for m in msgs if m["role"] == "assistant"]
        assert [tokenizer.decode(full_ids[s:e]) for s, e in runs] == [f"{a}</s>\n" for a in answers]
        seen_two_rounds |= len(answers) == 2
        seen_system |= msgs[0]["role"] == "system"
    assert seen_two_rounds and seen_system


def test_instruction_data_uses_the_chat_template_when_there_is_one(tiny_llama_dir: Path, instruction_jsonl: Path) -> None:
    """Prompt/response columns with a chat-template tokenizer: the user turn is masked, the answer trained."""
    config = _config("causal_lm", tiny_llama_dir, instruction_jsonl)
    tokenizer, raw, data = _prepared(config)
    row, enc = raw.train[0], data.train[0]
    prompt, special = render_prompt(row["instruction"], tokenizer, config.data)
    assert special and prompt.endswith("<|assistant|>\n")
    n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert enc["labels"][:n] == [IGNORE_INDEX] * n
    assert tokenizer.decode(enc["input_ids"][n:]) == row["response"] + "</s>\n"
    assert enc["labels"][n:] == enc["input_ids"][n:]


@pytest.mark.parametrize(
    ("template", "extra_expected"),
    [
        (None, "### Input:\nthe red one\n\n"),  # default template switches to its Alpaca form
        ("Q: {prompt} ({input})\nA: ", None),
    ],
)
def test_template_with_input_column(
    template: str | None, extra_expected: str | None, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    """Alpaca-style instruction/input/output: the input is part of the (masked) prompt."""
    rows = [{"instruction": f"Name the fruit {i}.", "input": "the red one", "output": f"Cherry {i}."} for i in range(8)]
    path = write_jsonl(rows, tmp_path / "alpaca.jsonl")
    config = _config("causal_lm", tiny_gpt2_dir, path, template=template)
    tokenizer, raw, data = _prepared(config)
    assert (raw.mapping.prompt, raw.mapping.input, raw.mapping.response) == ("instruction", "input", "output")
    row, enc = raw.train[0], data.train[0]
    rendered = render_training_text(row, raw.mapping, tokenizer, config.data)
    prompt, _ = render_prompt(row["instruction"], tokenizer, config.data, extra=row["input"])
    assert rendered.text == prompt + row["output"] + tokenizer.eos_token
    if extra_expected:
        assert extra_expected in prompt
    else:
        assert prompt == f"Q: {row['instruction']} (the red one)\nA: "
    trained = [t for t, lab in zip(enc["input_ids"], enc["labels"]) if lab != IGNORE_INDEX]
    assert tokenizer.decode(trained).strip() == row["output"] + tokenizer.eos_token


def test_plain_text_trains_the_whole_text(tiny_gpt2_dir: Path, plain_text_txt_jsonl: Path) -> None:
    """Continuation data (a text column only): every token carries the loss, ending with eos."""
    config = _config("causal_lm", tiny_gpt2_dir, plain_text_txt_jsonl)
    tokenizer, raw, data = _prepared(config)
    assert raw.mapping.text == "text" and raw.mapping.prompt is None
    for row, enc in zip(raw.train.select(range(6)), data.train.select(range(6))):
        assert enc["labels"] == enc["input_ids"]
        assert tokenizer.decode(enc["input_ids"]) == row["text"] + tokenizer.eos_token


def test_row_whose_answer_is_cut_off_is_dropped(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    """With max_length cutting inside the prompt, the row has nothing to learn and is dropped (and counted)."""
    rows = [{"prompt": f"What color is the sky {i}?", "response": "Blue."} for i in range(7)]
    rows.insert(3, {"prompt": "Tell me " + "a very long story about the movie " * 30, "response": "No."})
    path = write_jsonl(rows, tmp_path / "long.jsonl")
    config = _config("causal_lm", tiny_gpt2_dir, path, max_length=48)
    tokenizer, raw, data = _prepared(config)
    assert len(raw.train) == 8
    assert data.dropped_rows == 1 and len(data.train) == 7
    assert all(len(ids) <= 48 for ids in data.train["input_ids"])
    assert all(any(lab != IGNORE_INDEX for lab in labels) for labels in data.train["labels"])
    assert not any("long story" in tokenizer.decode(ids) for ids in data.train["input_ids"])


def test_no_row_fits_is_a_plain_error(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    """If every answer is cut off, the message says to raise max_length."""
    rows = [{"prompt": "word " * 80, "response": "Yes."} for _ in range(4)]
    path = write_jsonl(rows, tmp_path / "long.jsonl")
    config = _config("causal_lm", tiny_gpt2_dir, path, max_length=16)
    with pytest.raises(ValueError, match="max_length=16"):
        _prepared(config)


def test_chat_template_requested_without_one(tiny_gpt2_dir: Path, instruction_jsonl: Path) -> None:
    """template 'chat' on a tokenizer without a chat template is refused with the alternative."""
    config = _config("causal_lm", tiny_gpt2_dir, instruction_jsonl, template="chat")
    with pytest.raises(ValueError, match="no chat template"):
        _prepared(config)


def test_normalize_messages_accepts_sharegpt() -> None:
    """ShareGPT {from, value} becomes {role, content}; unknown roles and bad cells are refused."""
    msgs = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"role": "system", "content": None}]
    assert normalize_messages(msgs) == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": ""},
    ]
    with pytest.raises(ValueError, match="'narrator'"):
        normalize_messages([{"role": "narrator", "content": "x"}])
    with pytest.raises(ValueError, match="non-empty list"):
        normalize_messages([])


# ---------------------------------------------------------------- classification and seq2seq encoding


def test_classification_encodes_string_labels_by_name(tiny_bert_dir: Path, sentiment_csv: Path) -> None:
    """String labels become ids in sorted-name order; the text is tokenized without padding."""
    config = _config("classification", tiny_bert_dir, sentiment_csv)
    tokenizer, raw, data = _prepared(config)
    assert raw.label_names == ["negative", "positive"]
    for row, enc in zip(raw.train.select(range(10)), data.train.select(range(10))):
        assert enc["labels"] == raw.label_names.index(row["label"])
        assert enc["input_ids"] == tokenizer(row["text"])["input_ids"]
        assert enc["length"] == len(enc["input_ids"])
    assert set(data.train.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels", "length"}


def test_small_splits_are_tokenized_in_memory(tiny_bert_dir: Path, sentiment_csv: Path, monkeypatch) -> None:
    """A small split is tokenized in memory, with no cache file and without hashing the tokenizer; a big one is cached."""
    from datasets.utils import _dill

    from ft_app import data as data_module

    config = _config("classification", tiny_bert_dir, sentiment_csv)
    pickled: list[str] = []  # what datasets' fingerprinting pickles: it logs "Tok: ..." for each tokenizer
    real_log = _dill.log
    monkeypatch.setattr(_dill, "log", lambda pickler, msg: pickled.append(msg) or real_log(pickler, msg))
    tokenizer, raw, data = _prepared(config)
    assert data.train.cache_files == [] and len(data.train) == len(raw.train)
    assert not any(msg.startswith("Tok:") for msg in pickled)
    monkeypatch.setattr(data_module, "IN_MEMORY_ROWS", 10)  # the same file now counts as big: it goes to the disk cache
    big = prepare_data(config, tokenizer, raw)
    assert any(msg.startswith("Tok:") for msg in pickled)
    assert big.train.cache_files and big.train["input_ids"][:] == data.train["input_ids"][:]


def test_seq2seq_encodes_targets_as_labels(tiny_t5_dir: Path, seq2seq_csv: Path) -> None:
    """Seq2seq: input_ids from the text column, labels are the target's tokens (with eos)."""
    config = _config("seq2seq", tiny_t5_dir, seq2seq_csv)
    tokenizer, raw, data = _prepared(config)
    assert (raw.mapping.text, raw.mapping.target) == ("text", "target")
    for row, enc in zip(raw.train.select(range(6)), data.train.select(range(6))):
        assert enc["input_ids"] == tokenizer(row["text"])["input_ids"]
        assert enc["labels"] == tokenizer(text_target=row["target"])["input_ids"]
        assert enc["labels"][-1] == tokenizer.eos_token_id


# ---------------------------------------------------------------- dynamic padding


@pytest.mark.parametrize(
    ("task", "model", "data_file"),
    [
        ("classification", "tiny_bert_dir", "sentiment_csv"),
        ("classification", "tiny_gpt2_dir", "sentiment_csv"),
        ("causal_lm", "tiny_gpt2_dir", "instruction_jsonl"),
        ("causal_lm", "tiny_llama_dir", "chat_jsonl"),
        ("seq2seq", "tiny_t5_dir", "seq2seq_csv"),
    ],
)
def test_collator_pads_to_the_longest_in_the_batch(
    task: str, model: str, data_file: str, request: pytest.FixtureRequest
) -> None:
    """Batches are padded to their longest row, never to max_length; pads are masked and carry no loss."""
    config = _config(task, request.getfixturevalue(model), request.getfixturevalue(data_file))
    tokenizer, _, data = _prepared(config)
    lengths = data.train["length"]
    order = np.argsort(lengths)
    rows = [data.train[int(i)] for i in (order[0], order[len(order) // 2], order[1])]
    features = [{k: v for k, v in r.items() if k != "length"} for r in rows]
    spec = get_task(task)
    batch = spec.collator(tokenizer, None, None)(features)
    longest = max(len(r["input_ids"]) for r in rows)
    assert longest < config.max_length
    assert batch["input_ids"].shape == (3, longest)
    assert batch["attention_mask"].sum().item() == sum(len(r["input_ids"]) for r in rows)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        assert batch["input_ids"][i, :n].tolist() == r["input_ids"]
        assert (batch["input_ids"][i, n:] == tokenizer.pad_token_id).all()
        assert (batch["attention_mask"][i, n:] == 0).all()
    if task == "classification":
        assert batch["labels"].tolist() == [r["labels"] for r in rows]
    else:
        longest_labels = max(len(r["labels"]) for r in rows)
        assert batch["labels"].shape == (3, longest_labels)
        for i, r in enumerate(rows):
            m = len(r["labels"])
            assert batch["labels"][i, :m].tolist() == r["labels"]
            assert (batch["labels"][i, m:] == IGNORE_INDEX).all()
    # With a multiple (fp16/bf16 runs), the width rounds up to it and no further.
    padded = spec.collator(tokenizer, None, 8)(features)
    assert padded["input_ids"].shape[1] == -(-longest // 8) * 8


def test_length_column_and_length_grouped_sampling(tiny_bert_dir: Path, sentiment_csv: Path) -> None:
    """The prepared data carries a length column and the Trainer arguments ask for length-grouped sampling."""
    from ft_app.config import Schedule, to_training_arguments

    config = _config("classification", tiny_bert_dir, sentiment_csv)
    _, _, data = _prepared(config)
    assert data.train["length"] == [len(ids) for ids in data.train["input_ids"]]
    args = to_training_arguments(config, "/tmp/unused", Schedule(10, False, 10), precision="fp32", use_cpu=True)
    assert args.train_sampling_strategy == "group_by_length" and args.length_column_name == "length"
    off = RunConfig.from_dict({**config.to_dict(), "training": {**config.to_dict()["training"], "group_by_length": False}})
    args = to_training_arguments(off, "/tmp/unused", Schedule(10, False, 10), precision="fp32", use_cpu=True)
    assert args.train_sampling_strategy == "random"


# ---------------------------------------------------------------- metrics, examples, settings


def test_classification_metrics_accuracy_and_macro_f1() -> None:
    """Accuracy and macro-F1 on a hand-checked case; classes absent everywhere are left out."""
    preds = np.array([0, 0, 1, 1, 1, 2])
    labels = np.array([0, 1, 1, 1, 2, 2])
    m = classification_metrics(preds, labels, num_labels=4)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # per class F1: 0 -> 2/3, 1 -> 2/3, 2 -> 2/3; class 3 never appears
    assert m["f1"] == pytest.approx(2 / 3)
    compute = get_task("classification").compute_metrics(["a", "b"])

    class EvalPred:
        predictions = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
        label_ids = np.array([0, 1, 1])

    assert compute(EvalPred()) == pytest.approx({"accuracy": 2 / 3, "f1": (2 / 3 + 2 / 3) / 2})



def test_balanced_label_weights_make_every_label_count_the_same() -> None:
    """rows / (labels x rows of the label): 40/60 gives 1.25/0.83; a rare label is capped; an absent one weighs 1."""
    from ft_app.tasks.classification import MAX_LABEL_WEIGHT, balanced_label_weights

    weights = balanced_label_weights([4, 6])
    assert weights == pytest.approx([10 / 8, 10 / 12])
    assert weights[0] * 4 == pytest.approx(weights[1] * 6)  # each label's rows weigh the same in total
    assert balanced_label_weights([999, 1])[1] == MAX_LABEL_WEIGHT
    assert balanced_label_weights([2, 2, 0]) == pytest.approx([2 / 3, 2 / 3, 1.0])


def test_weighted_loss_matches_its_definition_and_splits_over_accumulation_steps() -> None:
    """Sum of weight x cross-entropy over the step's rows; two halves of a step add up to the whole step."""
    from ft_app.tasks.classification import weighted_cross_entropy

    torch.manual_seed(0)
    logits, labels = torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 0, 1, 2, 0])
    weights = [0.5, 1.5, 2.0]
    loss = weighted_cross_entropy(weights)
    by_hand = sum(weights[y] * -torch.log_softmax(logits[i], -1)[y] for i, y in enumerate(labels.tolist())) / 8
    assert float(loss({"logits": logits}, labels, num_items_in_batch=8)) == pytest.approx(float(by_hand), rel=1e-5)
    halves = loss({"logits": logits[:4]}, labels[:4], num_items_in_batch=8) + loss((logits[4:],), labels[4:], 8)
    assert float(halves) == pytest.approx(float(by_hand), rel=1e-5)
    assert float(loss({"logits": logits}, labels)) == pytest.approx(float(by_hand), rel=1e-5)  # evaluation: the mean


def test_label_weights_only_when_asked_and_unbalanced(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Left on auto, the loss weighs unbalanced labels for head-only and not for full fine-tuning; 'balanced' weighs
    them for any method; never for balanced labels, with 'none', or for the generative tasks."""
    from ft_app.tasks.classification import weighted_cross_entropy

    task = get_task("classification")
    unbalanced, names = {"labels": [0, 0, 0, 1]}, ["negative", "positive"]
    weighted = weighted_cross_entropy([1.0]).__qualname__

    def loss_for(method: str, **training):
        config = make_config("classification", tiny_bert_dir, method, tmp_path / "x.csv", training=training)
        return task.loss_function(config, unbalanced, names)

    assert make_config("classification", tiny_bert_dir, "full", tmp_path / "x.csv").training.label_weights == "auto"
    assert loss_for("head").__qualname__ == weighted
    assert loss_for("full") is None and loss_for("lora") is None
    assert loss_for("full", label_weights="balanced").__qualname__ == weighted
    assert loss_for("head", label_weights="none") is None
    config = make_config("classification", tiny_bert_dir, "head", tmp_path / "x.csv")
    assert task.loss_function(config, {"labels": [0, 1, 1, 0]}, names) is None
    for name in ("causal_lm", "seq2seq"):
        assert get_task(name).loss_function(config, unbalanced, None) is None

def test_examples_for_one_click_prompts(tmp_path: Path) -> None:
    """Each task turns a raw row into {input, reference}."""
    from ft_app.data import ColumnMapping

    cls = get_task("classification").example({"t": "Nice.", "l": 1}, ColumnMapping(text="t", label="l"), ["neg", "pos"])
    assert cls == {"input": "Nice.", "reference": "pos"}
    chat = {"m": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                  {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}
    assert get_task("causal_lm").example(chat, ColumnMapping(messages="m"), None) == {"input": "Q2", "reference": "A2"}
    instr = {"p": "Do it", "i": "now", "r": "Done"}
    mapping = ColumnMapping(prompt="p", input="i", response="r")
    assert get_task("causal_lm").example(instr, mapping, None) == {"input": "Do it\n\nnow", "reference": "Done"}
    s2s = get_task("seq2seq").example({"x": "Good.", "y": "positive"}, ColumnMapping(text="x", target="y"), None)
    assert s2s == {"input": "Good.", "reference": "positive"}


def test_generation_settings_and_unknown_task() -> None:
    """Decoding settings are checked; an unknown task name is refused."""
    with pytest.raises(ValueError, match="Max new tokens must be a whole number from 1 to 512, not 0"):
        GenerationSettings(max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationSettings(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        GenerationSettings(top_p=0)
    with pytest.raises(ValueError, match="'translation'"):
        get_task("translation")


def test_causal_predict_uses_the_training_prompt(tiny_llama_dir: Path, chat_jsonl: Path) -> None:
    """predict() on a chat run formats the input with the chat template and returns only new text."""
    from transformers import AutoModelForCausalLM

    config = _config("causal_lm", tiny_llama_dir, chat_jsonl, messages_column="messages")
    tokenizer = load_tokenizer(config)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    settings = GenerationSettings(max_new_tokens=5)
    pred = get_task("causal_lm").predict(model, tokenizer, "What color is the sky?", config, settings)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What color is the sky?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert pred.text == tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    # Sampling with the same seed repeats itself.
    hot = GenerationSettings(max_new_tokens=5, temperature=1.0, seed=3)
    task = get_task("causal_lm")
    assert task.predict(model, tokenizer, "Hi", config, hot).text == task.predict(model, tokenizer, "Hi", config, hot).text



def test_causal_predict_cuts_a_prompt_longer_than_the_context_from_the_left(
    tiny_gpt2_dir: Path, instruction_jsonl: Path
) -> None:
    """A prompt longer than the model reads (128 positions) keeps its end, leaves room for the answer, and says so."""
    from transformers import AutoModelForCausalLM

    config = _config("causal_lm", tiny_gpt2_dir, instruction_jsonl)
    tokenizer = load_tokenizer(config)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).eval()
    long_text = " ".join(f"word{i}" for i in range(400)) + " What color is the sky?"
    settings = GenerationSettings(max_new_tokens=8)
    pred = get_task("causal_lm").predict(model, tokenizer, long_text, config, settings)
    assert pred.note is not None and "only its last 120 tokens were used" in pred.note
    # The same answer as the prompt's last 120 tokens given directly.
    prompt, _ = render_prompt(long_text, tokenizer, config.data)
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, -120:]
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
    assert pred.text == tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    assert get_task("causal_lm").predict(model, tokenizer, "What color is the sky?", config, settings).note is None
    with pytest.raises(ValueError, match="leaves no room for the prompt"):
        get_task("causal_lm").predict(model, tokenizer, "Hi", config, GenerationSettings(max_new_tokens=128))
