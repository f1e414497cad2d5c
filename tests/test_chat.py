"""Chat side by side (issue 19 item 2), the engine: the conversation prompt in the run's format, each side's own
history, dropping the oldest turns that no longer fit, and answers that stream (text grows before it ends)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from ft_app.chat import (
    ChatTurn,
    Conversation,
    chat_offered,
    conversation_prompt,
    fit_conversation,
    stream_turn,
)
from ft_app.compare import Comparer
from ft_app.tasks import GenerationSettings, get_task
from ft_app.tasks.base import PromptFormat
from tests.engine_checks import make_config, train_in_process
from tests.fixtures import data_files

SYSTEM = "You answer questions about colors."
TURNS = ["What color is the grass?", "And the sky?", "Which came first?"]


@pytest.fixture(scope="module")
def chat_run(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished LoRA run on the tiny Llama (chat template) trained with a system prompt."""
    folder = tmp_path_factory.mktemp("chat-run")
    config = make_config("causal_lm", tiny_llama_dir, "lora", data_files.write_chat_jsonl(folder / "train.jsonl"),
                         data={"max_length": 64, "system_prompt": SYSTEM},
                         training={"max_steps": 30, "learning_rate": 5e-3, "eval_strategy": "no"})
    snap = train_in_process(config, folder / "runs")
    assert snap.status == "completed", snap.message
    return snap.run_dir


def _tokenizer(path: Path) -> object:
    return AutoTokenizer.from_pretrained(str(path))


def _model(limit: int) -> SimpleNamespace:
    """What fit_conversation reads of a model: its config's position limit."""
    return SimpleNamespace(config=SimpleNamespace(max_position_embeddings=limit, model_type="llama"))


def test_chat_is_offered_for_tasks_that_continue_their_prompt() -> None:
    assert chat_offered("causal_lm") and chat_offered("preference")
    assert not chat_offered("classification") and not chat_offered("seq2seq")
    assert not chat_offered("an-old-task-this-app-forgot")


def test_each_side_keeps_its_own_answers() -> None:
    conv = Conversation("r", [ChatTurn("hi", base="base one", finetuned="tuned one"), ChatTurn("again", base="b2")])
    assert conv.messages("base") == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "base one"},
        {"role": "user", "content": "again"}, {"role": "assistant", "content": "b2"}]
    # The fine-tuned side has not answered the second message yet: its history ends with it.
    assert conv.messages("finetuned") == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "tuned one"},
        {"role": "user", "content": "again"}]


def test_the_conversation_prompt_uses_the_chat_template_and_the_system_prompt(tiny_llama_dir: Path) -> None:
    tok = _tokenizer(tiny_llama_dir)
    fmt = PromptFormat("chat", system_prompt=SYSTEM)
    messages = Conversation("r", [ChatTurn(TURNS[0], "green!", "GREEN"), ChatTurn(TURNS[1], "blue!", "BLUE"),
                                  ChatTurn(TURNS[2])]).messages("finetuned")
    prompt, special = conversation_prompt(fmt, tok, messages)
    assert special
    assert prompt == tok.apply_chat_template([{"role": "system", "content": SYSTEM}, *messages], tokenize=False,
                                             add_generation_prompt=True)
    assert prompt.index(SYSTEM) < prompt.index(TURNS[0]) < prompt.index("GREEN") < prompt.index(TURNS[1])
    assert prompt.index("BLUE") < prompt.index(TURNS[2]) and "green!" not in prompt  # its own answers only
    assert prompt.endswith("<|assistant|>\n")
    # One message: the very prompt a single Compare answers.
    assert conversation_prompt(fmt, tok, messages[:1])[0] == fmt.render(TURNS[0], tok)


def test_template_and_plain_conversations(tiny_gpt2_dir: Path) -> None:
    tok = _tokenizer(tiny_gpt2_dir)
    fmt = PromptFormat("template", template="Q: {prompt}\nA: ")
    messages = [{"role": "user", "content": "one"}, {"role": "assistant", "content": "1"},
                {"role": "user", "content": "two"}]
    # Earlier turns as the run trained on them (template, answer, end of text), then the new message's template.
    assert conversation_prompt(fmt, tok, messages) == (f"Q: one\nA: 1{tok.eos_token}Q: two\nA: ", False)
    assert conversation_prompt(fmt, tok, messages[-1:])[0] == fmt.render("two")
    assert conversation_prompt(PromptFormat("plain"), tok, messages) == ("one\n1\ntwo", False)


def test_a_conversation_too_long_for_the_model_drops_its_oldest_turns(tiny_llama_dir: Path) -> None:
    tok = _tokenizer(tiny_llama_dir)
    fmt = PromptFormat("chat", system_prompt=SYSTEM)
    long_answer = "the sky is blue and the grass is green"
    turns = [ChatTurn(f"Question number {i}?", base=long_answer, finetuned="ok") for i in range(6)]
    messages = Conversation("r", [*turns, ChatTurn("The last question?")]).messages("base")
    model = _model(128)
    full = len(tok(conversation_prompt(fmt, tok, messages)[0], add_special_tokens=False)["input_ids"])
    assert full > 128 - 16  # it really does not fit

    prompt, inputs = fit_conversation(fmt, tok, model, messages, max_new_tokens=16)
    assert prompt.dropped > 0 and prompt.earlier_turns + prompt.dropped == 6 and prompt.note is None
    assert prompt.tokens == inputs["input_ids"].shape[1] <= 128 - 16
    assert prompt.text.startswith(tok.bos_token + "<|system|>\n" + SYSTEM)  # the system prompt stays
    assert "The last question?" in prompt.text and "Question number 5?" in prompt.text
    assert "Question number 0?" not in prompt.text  # the oldest went first
    # One turn fewer left out would not fit: it keeps as many as fit.
    more = conversation_prompt(fmt, tok, messages[2 * (prompt.dropped - 1):])[0]
    assert len(tok(more, add_special_tokens=False)["input_ids"]) > 128 - 16

    # The other side's short answers: fewer turns to leave out.
    tuned, _ = fit_conversation(fmt, tok, model, Conversation("r", [*turns, ChatTurn("The last question?")])
                                .messages("finetuned"), max_new_tokens=16)
    assert tuned.dropped < prompt.dropped


def test_a_single_message_too_long_loses_its_start_and_no_room_is_refused(tiny_llama_dir: Path) -> None:
    tok = _tokenizer(tiny_llama_dir)
    fmt = PromptFormat("chat")
    messages = [{"role": "user", "content": "green " * 300 + "END"}]
    prompt, inputs = fit_conversation(fmt, tok, _model(128), messages, max_new_tokens=16)
    assert inputs["input_ids"].shape[1] == 112 and prompt.note and "112" in prompt.note
    assert prompt.text.rstrip().endswith("<|assistant|>")
    with pytest.raises(ValueError, match="Max new tokens 128 leaves no room"):
        fit_conversation(fmt, tok, _model(128), messages[:1], max_new_tokens=128)


def test_three_turns_stream_and_the_third_prompt_holds_the_first_two(chat_run: Path) -> None:
    comparer = Comparer()
    settings = GenerationSettings(max_new_tokens=8)
    conv: Conversation | None = None
    prompts = None
    for i, message in enumerate(TURNS):
        seen: dict[str, list[str]] = {"base": [], "finetuned": []}
        started = time.monotonic()
        first_token: float | None = None
        for step in stream_turn(chat_run, conv, message, settings, comparer):
            answer = step.conversation.turns[-1].answer(step.side)
            seen[step.side].append(answer)
            if answer and first_token is None:
                first_token = time.monotonic() - started
        assert step.done and len(step.conversation.turns) == i + 1
        conv, prompts = step.conversation, step.prompts
        for side in ("base", "finetuned"):
            texts = [t for t in seen[side] if t]
            assert texts, f"the {side} side said nothing to {message!r}"
            # Streaming: the text grows piece by piece (each step extends the last) before it ends.
            assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))
            assert len(set(texts)) >= 2, f"the {side} answer came in one piece: {texts}"
            assert texts[-1] == conv.turns[-1].answer(side)
        print(f"turn {i + 1}: first words after {first_token:.2f} s")
    assert conv is not None and prompts is not None
    for side in ("base", "finetuned"):
        prompt = prompts[side]
        assert prompt.earlier_turns == 2 and prompt.dropped == 0
        # The third answer read the first two turns with this side's own answers, in the run's format.
        text = prompt.text
        assert text.index(SYSTEM) < text.index(TURNS[0]) < text.index(TURNS[1]) < text.index(TURNS[2])
        for turn in conv.turns[:2]:
            assert f"<|assistant|>\n{turn.answer(side)}" in text
    assert prompts["base"].text != prompts["finetuned"].text or all(
        t.base == t.finetuned for t in conv.turns[:2])


def test_the_first_answer_is_the_one_compare_gives(chat_run: Path) -> None:
    comparer = Comparer()
    settings = GenerationSettings(max_new_tokens=10, temperature=0.8, top_p=0.9, seed=7)
    *_, last = stream_turn(chat_run, None, TURNS[0], settings, comparer)
    same = comparer.compare(chat_run, TURNS[0], settings)
    assert (last.conversation.turns[0].base, last.conversation.turns[0].finetuned) == (same.base.text,
                                                                                       same.finetuned.text)
    assert same.base.text != same.finetuned.text  # two models: the adapter switched off, then on


def test_a_conversation_with_another_run_starts_afresh_and_the_given_one_is_kept(chat_run: Path) -> None:
    old = Conversation("another-run", [ChatTurn("hello", "a", "b")])
    *_, last = stream_turn(chat_run, old, "  Hi!  ", GenerationSettings(max_new_tokens=4), Comparer())
    assert [t.user for t in last.conversation.turns] == ["Hi!"] and last.conversation.run_id == chat_run.name
    assert old.turns == [ChatTurn("hello", "a", "b")]
    with pytest.raises(ValueError, match="The message is empty"):
        next(stream_turn(chat_run, None, "   ", comparer=Comparer()))


def test_a_page_that_stops_reading_frees_the_models(chat_run: Path) -> None:
    comparer = Comparer()
    steps = stream_turn(chat_run, None, TURNS[0], GenerationSettings(max_new_tokens=80), comparer)
    next(steps)  # the prompt is built and the base side generates; then the page reads no more (and never closes)
    got = threading.Event()

    def take() -> None:
        with comparer.side(chat_run, "finetuned"):
            got.set()

    threading.Thread(target=take, daemon=True).start()
    assert got.wait(30), "an abandoned conversation still holds the models"
    steps.close()  # a page that closes asks the generation to stop; nothing is raised


def test_a_run_that_does_not_continue_its_prompt_is_refused(tiny_bert_dir: Path, sentiment_csv: Path,
                                                            tmp_path: Path) -> None:
    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv, training={"max_steps": 1})
    snap = train_in_process(config, tmp_path / "runs")
    assert not get_task("classification").continues_prompt
    with pytest.raises(ValueError, match="does not continue a conversation"):
        list(stream_turn(snap.run_dir, None, "Hello", comparer=Comparer()))
