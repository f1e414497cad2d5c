"""Chat side by side in the real app (headless Chromium, issue 19 item 2): a three-turn conversation with a LoRA run
of the tiny Llama (chat template, system prompt). Both columns stream (an answer is seen growing before it ends), the
third answer's prompt - as the engine built it, shown under the chat - holds the first two turns with each side's own
answers, and Start over clears both columns.

Needs Debian's `chromium`; skipped only when it is absent. Screenshots go to $FT_APP_SCREENSHOTS (default tmp_path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.engine_checks import make_config, train_with_manager
from tests.fixtures import data_files
from tests.ui.conftest import AppServer
from tests.ui.test_app_browser import errors_shown, open_tab, page, screenshots, shot  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install -y chromium)"),
]
SYSTEM = "Talk about colors."
MESSAGES = ["Hi there", "The sky?", "The grass?"]
NEW_TOKENS = 12  # three turns of the tiny Llama (it reads 128 tokens) fit with room for the answer
# Each column's bot messages, and a recorder of every text the last one shows (a MutationObserver sees each render).
BOT_TEXTS_JS = "(sel) => [...document.querySelectorAll(sel + ' .message.bot')].map(m => m.innerText.trim())"
RECORD_JS = """() => {
  window.chatSeen = {base: [], tuned: []};
  for (const [key, sel] of [['base', '#chat-base'], ['tuned', '#chat-tuned']]) {
    const record = () => {
      const bots = document.querySelectorAll(sel + ' .message.bot');
      const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
      const seen = window.chatSeen[key];
      if (seen[seen.length - 1] !== `${bots.length}:${text}`) seen.push(`${bots.length}:${text}`);
    };
    new MutationObserver(record).observe(document.querySelector(sel), {subtree: true, childList: true,
                                                                       characterData: true});
  }
}"""


@pytest.fixture(scope="module")
def chat_run(app_server: AppServer, tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA run of the tiny Llama on chat data with a system prompt, finished in the app's own runs folder."""
    folder = tmp_path_factory.mktemp("chat-data")
    config = make_config("causal_lm", tiny_llama_dir, "lora", data_files.write_chat_jsonl(folder / "train.jsonl"),
                         data={"max_length": 64, "system_prompt": SYSTEM},
                         training={"max_steps": 30, "learning_rate": 5e-3, "eval_strategy": "no"})
    snap = train_with_manager(config, app_server.runs_dir)
    assert snap.status == "completed", snap.message
    return snap.run_dir


def _answers_done(page: object, n: int) -> None:  # noqa: F811 - the page fixture
    """Wait until both columns hold n answers and the turn has ended (the message box is emptied then)."""
    page.wait_for_function(
        "(n) => ['#chat-base', '#chat-tuned'].every(s => document.querySelectorAll(s + ' .message.bot').length === n)"
        " && document.querySelector('#chat-text textarea').value === ''",
        arg=n, timeout=120_000)
    page.wait_for_timeout(300)


def test_three_turns_stream_side_by_side_and_start_over_clears_both(
    page: object, app_server: AppServer, chat_run: Path, screenshots: Path,  # noqa: F811
) -> None:
    page.goto(app_server.url)
    page.get_by_text("What should the model learn?").wait_for()
    open_tab(page, "4 · Compare")
    page.locator("#chat-section").wait_for(state="visible", timeout=60_000)
    page.get_by_text("Decoding settings (the same for both models)").click()
    tokens = page.get_by_label("number input for Max new tokens")
    tokens.fill(str(NEW_TOKENS))
    tokens.press("Tab")
    page.get_by_text("What each model read for its last answer").click()  # the prompts, shown as the engine built them

    page.evaluate(RECORD_JS)
    box = page.locator("#chat-text textarea")
    for n, message in enumerate(MESSAGES, start=1):
        page.evaluate("() => { window.chatSeen.base.length = 0; window.chatSeen.tuned.length = 0; }")
        box.fill(message)
        page.locator("#chat-send").click()
        _answers_done(page, n)
        seen = page.evaluate("() => window.chatSeen")
        for side in ("base", "tuned"):
            final = page.evaluate(BOT_TEXTS_JS, f"#chat-{side}")[-1]
            # The texts this turn's answer showed on its way: more than one, each growing from the last.
            texts = [t.split(":", 1)[1] for t in seen[side] if t.startswith(f"{n}:")]
            texts = [t for t in texts if t and t != "Loading content"]  # Gradio's placeholder while it renders
            assert texts and texts[-1] == final, (side, texts, final)
            assert len(texts) >= 2, f"turn {n}: the {side} answer appeared in one piece: {texts}"
            assert all(b.startswith(a) for a, b in zip(texts, texts[1:])), texts
        assert box.input_value() == ""  # the box is emptied for the next message
    assert not errors_shown(page)
    shot(page, screenshots, "4-compare-chat")

    # The third answer's prompts, as the engine built them: the run's system prompt and chat template, the first two
    # turns in order with that side's own answers, then the third message.
    answers = {side: page.evaluate(BOT_TEXTS_JS, f"#chat-{side}") for side in ("base", "tuned")}
    for side in ("base", "tuned"):
        prompt = page.locator(f"#chat-{side}-prompt textarea").input_value()
        assert prompt.startswith(f"<s><|system|>\n{SYSTEM}</s>\n<|user|>\n{MESSAGES[0]}</s>\n<|assistant|>\n")
        assert prompt.endswith(f"<|user|>\n{MESSAGES[2]}</s>\n<|assistant|>\n")
        at = [prompt.index(f"<|user|>\n{m}</s>") for m in MESSAGES]
        assert at == sorted(at)
        for answer in answers[side][:2]:
            assert " ".join(answer.split()) in " ".join(prompt.split()), (side, answer, prompt)
    assert page.locator("#chat-note").inner_text().strip() == ""  # nothing was left out

    # Start over: both columns and the prompts are empty; the next message begins a new conversation.
    page.locator("#chat-reset").click()
    page.wait_for_function("() => ['#chat-base', '#chat-tuned'].every(s => "
                           "!document.querySelector(s + ' .message'))")
    assert page.locator("#chat-base-prompt textarea").input_value() == ""
    box.fill(MESSAGES[1])
    page.locator("#chat-send").click()
    _answers_done(page, 1)
    prompt = page.locator("#chat-base-prompt textarea").input_value()
    assert MESSAGES[0] not in prompt and prompt.count("<|user|>") == 1
    assert not errors_shown(page)
