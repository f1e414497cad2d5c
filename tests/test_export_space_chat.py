"""The demo Space of a chat run offers the Compare tab's chat (issue 19 item 2): its own app.py (no ft_app), driven
through gradio_client, streams both answers and gives, turn by turn, the answers of the studio's chat engine - the
same conversation prompts with each side's own history, the same oldest turns left out when it no longer fits - and
Start over forgets the conversation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ft_app.chat import stream_turn
from ft_app.compare import Comparer
from ft_app.export.space import write_demo_space
from ft_app.tasks import GenerationSettings
from tests.engine_checks import make_config, train_in_process
from tests.export_runs import train_case
from tests.fixtures.data_files import write_preference_jsonl
from tests.test_export_space import _launch

TOKENS = 8
# The third message is long enough that the tiny Llama (128 tokens) cannot read the whole conversation any more.
MESSAGES = ["What color is the grass?", "And the sky?",
            "Tell me the colors of the grass, the sky, the sun, the sea, the snow, the night, the fire, the leaves, "
            "the roses, the clouds and the coal, one by one, please?"]


def _text(content: str | list[dict]) -> str:
    """A message's text: Gradio 6 hands it over as a list of typed parts."""
    return content if isinstance(content, str) else "".join(p["text"] for p in content if p.get("type") == "text")


def _answers(chat: list[dict]) -> list[str]:
    return [_text(m["content"]) for m in chat if m["role"] == "assistant"]


def test_the_demo_space_chats_like_the_studio(request: pytest.FixtureRequest,
                                              tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from gradio_client import Client

    run_dir = train_case("causal_lm-lora", request, tmp_path_factory)
    folder = write_demo_space(run_dir, tmp_path / "space")
    assert json.loads((folder / "demo.json").read_text())["chat"] is True
    process, url = _launch(folder, tmp_path / "app.log")
    try:
        client = Client(url, verbose=False)
        comparer, settings = Comparer(), GenerationSettings(max_new_tokens=TOKENS)
        studio = None
        dropped_seen = 0
        for n, message in enumerate(MESSAGES, start=1):
            job = client.submit(message, TOKENS, 0, 1, 42, api_name="/chat")
            steps = list(job)
            base_chat, tuned_chat, box, note = job.result()
            *_, last = stream_turn(run_dir, studio, message, settings, comparer)
            studio = last.conversation
            assert _answers(base_chat) == [t.base for t in studio.turns]
            assert _answers(tuned_chat) == [t.finetuned for t in studio.turns]
            assert box == ""
            dropped = max(p.dropped for p in last.prompts.values())
            assert (f"its oldest {dropped} turns were left out" in note) if dropped else note == "", (n, note)
            dropped_seen = max(dropped_seen, dropped)
            # Streaming: the base answer is seen growing over several steps before the turn ends.
            grown = {_answers(s[0])[n - 1] for s in steps if isinstance(s[0], list) and len(_answers(s[0])) == n}
            assert len(grown) >= 2 or len(studio.turns[-1].base) <= 1, grown
        assert dropped_seen > 0  # the third turn did not fit whole: both left the same oldest turns out

        client.predict(api_name="/start_over")
        base_chat, tuned_chat, _, _ = client.predict(MESSAGES[1], TOKENS, 0, 1, 42, api_name="/chat")
        *_, fresh = stream_turn(run_dir, None, MESSAGES[1], settings, comparer)
        assert len(base_chat) == 2 and _answers(base_chat) == [fresh.conversation.turns[0].base]
        assert _answers(tuned_chat) == [fresh.conversation.turns[0].finetuned]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_preference_run_s_space_loads_and_chats_like_the_studio(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A preference run's model is a causal LM that continues its prompt: its Space loads it (demo.json names the
    model class, not a task app.py must know) and offers the chat."""
    from gradio_client import Client

    config = make_config("preference", tiny_llama_dir, "lora", write_preference_jsonl(tmp_path / "pairs.jsonl"),
                         data={"max_length": 64}, training={"max_steps": 2, "eval_strategy": "no"})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    folder = write_demo_space(snap.run_dir, tmp_path / "space")
    demo = json.loads((folder / "demo.json").read_text())
    assert (demo["chat"], demo["model_class"]) == (True, "AutoModelForCausalLM")
    process, url = _launch(folder, tmp_path / "app.log")
    try:
        client = Client(url, verbose=False)
        comparer, settings, studio = Comparer(), GenerationSettings(max_new_tokens=TOKENS), None
        for message in MESSAGES[:2]:
            base_chat, tuned_chat, _, _ = client.predict(message, TOKENS, 0, 1, 42, api_name="/chat")
            *_, last = stream_turn(snap.run_dir, studio, message, settings, comparer)
            studio = last.conversation
            assert _answers(base_chat) == [t.base for t in studio.turns]
            assert _answers(tuned_chat) == [t.finetuned for t in studio.turns]
    finally:
        process.terminate()
        process.wait(timeout=30)
