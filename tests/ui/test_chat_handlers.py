"""The chat's page handlers (ft_app/ui/chat_box.py) called directly: shown for a chat run only, answers streamed into
both columns with the conversation kept only once the turn ends, a line when the oldest turns no longer fit, and
refusals in the chat's own notice."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from ft_app.chat import Conversation
from ft_app.ui import chat_box, words
from tests.engine_checks import make_config, train_in_process
from tests.fixtures import data_files
from tests.ui.conftest import build_studio

LONG = ("Tell me the colors of the grass, the sky, the sun, the sea, the snow, the night, the fire, the leaves, the "
        "roses, the clouds and the coal, one by one, please?")


@pytest.fixture(scope="module")
def studio(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    """The page's context on a runs folder holding one finished LoRA chat run of the tiny Llama; and its id."""
    folder = tmp_path_factory.mktemp("chat-handlers")
    config = make_config("causal_lm", tiny_llama_dir, "lora", data_files.write_chat_jsonl(folder / "train.jsonl"),
                         data={"max_length": 64}, training={"max_steps": 2, "eval_strategy": "no"})
    snap = train_in_process(config, folder / "runs")
    assert snap.status == "completed", snap.message
    ctx, _ = build_studio(folder / "runs")
    return ctx, snap.run_dir.name


def _turn(ctx: object, run_id: str, message: str, conversation: object, tokens: int = 8) -> list[list[object]]:
    return list(chat_box.chat_send(ctx, run_id, message, conversation, tokens, 0, 1, 42))


def test_the_chat_is_shown_for_a_chat_run_only(studio: tuple[object, str]) -> None:
    ctx, run_id = studio
    assert chat_box.chat_visible(ctx, run_id)["visible"] is True
    assert chat_box.chat_visible(ctx, None)["visible"] is False
    assert chat_box.chat_visible(ctx, "no-such-run")["visible"] is False


def test_answers_stream_and_the_conversation_is_kept_when_the_turn_ends(studio: tuple[object, str]) -> None:
    ctx, run_id = studio
    conversation = None
    for n, message in enumerate(["What color is the grass?", "And the sky?", LONG], start=1):
        yields = _turn(ctx, run_id, message, conversation)
        *streaming, last = yields
        base, tuned, conversation, box, note, base_prompt, tuned_prompt = last
        assert isinstance(conversation, Conversation) and len(conversation.turns) == n and box == ""
        assert [m["content"] for m in base if m["role"] == "user"][-1] == message
        assert len(base) == len(tuned) == 2 * n
        # While it streams the state and the box are left alone (a turn cut short is not kept).
        assert all(isinstance(y[2], type(gr.skip())) and isinstance(y[3], type(gr.skip())) for y in streaming)
        assert any(len(y[0]) == 2 * n for y in streaming) and any(len(y[1]) == 2 * n - 1 for y in streaming)
        assert message in base_prompt and message in tuned_prompt
    # The third message is too long to keep the whole conversation in the tiny Llama's 128 tokens.
    head, tail = words.CHAT_DROPPED.split("{dropped}")
    assert note.startswith(head.format(limit=128, tokens=8)) and note.endswith(tail), note
    assert "What color is the grass?" not in base_prompt


def test_refusals_go_to_the_chat_notice_and_start_over_clears(studio: tuple[object, str]) -> None:
    ctx, run_id = studio
    with pytest.raises(ValueError, match="The message is empty"):
        _turn(ctx, run_id, "  ", None)
    with pytest.raises(ValueError, match=words.PICK_RUN_TO_COMPARE):
        _turn(ctx, None, "Hi", None)
    outputs = [object() for _ in range(7)]
    notice = object()
    handler = chat_box.streamed_into_notice(chat_box.chat_send, outputs, notice)
    # A max new tokens the model has no room for: refused in words, the columns left as they were.
    (refused,) = list(handler(ctx, run_id, "Hi", None, 200, 0, 1, 42))
    assert set(refused) == {notice} and "Max new tokens 200" in refused[notice]
    assert chat_box.start_over() == [[], [], None, "", "", "", ""]
