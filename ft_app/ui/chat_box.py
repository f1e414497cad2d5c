"""The Compare tab's chat: one message, answered by the base and the fine-tuned model in their own columns as they
write (ft_app/chat.py does the work; this module lays it out and turns its steps into widget values)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.hub_token import redact
from ft_app.ui import words
from ft_app.ui.common import bind, notice_html, shorten, visitor
from ft_app.ui.context import AppContext


@dataclass
class ChatBox:
    """The chat's widgets that the Compare tab (and tests) use."""

    section: gr.Column
    base: gr.Chatbot
    tuned: gr.Chatbot
    conversation: gr.State


def _settings(tokens: float, temp: float, p: float, seed_value: float) -> Any:
    """The Compare tab's decoding sliders as the engine's generation settings."""
    from ft_app.tasks import GenerationSettings

    return GenerationSettings(max_new_tokens=tokens, temperature=float(temp), top_p=float(p), seed=int(seed_value or 0))


def _shown(conversation: Any, side: str, done: bool) -> list[dict[str, str]]:
    """One side's conversation as the chat column shows it: an empty answer said in words once the turn is over
    (while it streams, an answer not begun yet is not shown)."""
    messages = conversation.messages(side)
    if not done and messages[-1]["role"] == "assistant" and not messages[-1]["content"]:
        messages = messages[:-1]
    return [m if m["role"] == "user" or m["content"] else {**m, "content": words.CHAT_EMPTY_ANSWER} for m in messages]


def _note(prompts: dict[str, Any], max_new_tokens: int) -> str:
    """The line under the chat: which turns no longer fit the prompt, or that the message itself was cut."""
    cut = next((p.note for p in prompts.values() if p.note), None)
    if cut:
        return cut
    most = max(prompts.values(), key=lambda p: p.dropped, default=None)  # the sides' answers differ in length
    if most is None or not most.dropped:
        return ""
    return words.CHAT_DROPPED.format(limit=most.limit, tokens=max_new_tokens, dropped=most.dropped)


def chat_send(ctx: AppContext, run_id: str | None, message: str, conversation: Any, tokens: float, temp: float,
              p: float, seed_value: float, owner_key: str | None = None, request: gr.Request = None,
              profile: gr.OAuthProfile | None = None) -> Iterator[list[Any]]:
    """Send the visitor's message to both models of the run and stream their answers (the base first), each side
    reading its own earlier answers.

    Args: the run dropdown, the message box, the conversation (per-visitor state), the decoding settings (max new
        tokens, temperature, top-p, seed), the visitor's owner key.
    Yields: the base chat, the fine-tuned chat, the conversation (kept once both have answered), the message box,
        the note under the chat, the base model's prompt, the fine-tuned model's prompt.
    """
    who = visitor(owner_key, request, profile)
    if not run_id:
        raise ValueError(words.PICK_RUN_TO_COMPARE)
    if not (message or "").strip():
        raise ValueError(words.CHAT_NO_MESSAGE)
    from ft_app.chat import stream_turn

    settings = _settings(tokens, temp, p, seed_value)
    for step in stream_turn(ctx.jobs.run_dir(run_id, who), conversation, message, settings):
        prompts = step.prompts
        yield [_shown(step.conversation, "base", step.done), _shown(step.conversation, "finetuned", step.done),
               step.conversation if step.done else gr.skip(), "" if step.done else gr.skip(),
               _note(prompts, settings.max_new_tokens),
               prompts["base"].text if "base" in prompts else "",
               prompts["finetuned"].text if "finetuned" in prompts else ""]


def start_over() -> list[Any]:
    """Forget the conversation (the button, or another run picked: a conversation belongs to one run).

    Returns: the base chat, the fine-tuned chat, the conversation, the message box, the note, the two prompts.
    """
    return [[], [], None, "", "", "", ""]


def chat_visible(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> Any:
    """Show the chat for a run whose model continues its prompt (text generation), hide it for the others.

    Args: the run dropdown, the visitor's owner key.
    Returns: the chat section.
    """
    from ft_app.chat import chat_offered

    if not run_id:
        return gr.update(visible=False)
    try:
        ctx.jobs.run_dir(run_id, visitor(owner_key, request, profile))  # a run this visitor may see
        task = ctx.store.summary(run_id).task
    except (ValueError, OSError):
        return gr.update(visible=False)
    return gr.update(visible=chat_offered(task))


def streamed_into_notice(fn: Callable[..., Iterator[list[Any]]], outputs: list[Any],
                         notice: Any) -> Callable[..., Iterator[dict[Any, Any]]]:
    """A streaming page handler: each of `fn`'s yields with a cleared notice; a refusal (before or while answering)
    leaves the outputs as they were and fills `notice` (common.into_notice, for generators)."""

    @functools.wraps(fn)
    def page_handler(*args: Any, **kwargs: Any) -> Iterator[dict[Any, Any]]:
        try:
            for values in fn(*args, **kwargs):
                yield {**dict(zip(outputs, values, strict=True)), notice: ""}
        except (gr.Error, ValueError) as exc:
            message = redact(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
            gr.Warning(shorten(message, 200))
            yield {notice: notice_html(message)}

    return page_handler


def build(ctx: AppContext, run: gr.Dropdown, decoding: list[Any]) -> ChatBox:
    """Lay out the chat (hidden until a text-generation run is picked) and wire it to the run and the decoding
    settings of the Compare tab."""
    with gr.Column(visible=False, elem_id="chat-section") as section:
        gr.Markdown(words.CHAT_TITLE)
        gr.Markdown(words.CHAT_INTRO)
        with gr.Row(elem_classes=["ft-row"]):
            # No share button (a private conversation); copy one answer or the whole column.
            base = gr.Chatbot(label=words.CHAT_BASE, height=360, buttons=["copy", "copy_all"], elem_id="chat-base",
                              elem_classes=["ft-side"])
            tuned = gr.Chatbot(label=words.CHAT_TUNED, height=360, buttons=["copy", "copy_all"], elem_id="chat-tuned",
                               elem_classes=["ft-side"])
        with gr.Row(elem_classes=["ft-row"]):
            message = gr.Textbox(**words.CHAT_MESSAGE, lines=1, scale=4, elem_id="chat-text")
            send = gr.Button(words.CHAT_SEND, variant="primary", scale=0, min_width=120, elem_id="chat-send")
            reset = gr.Button(words.CHAT_RESET, scale=0, min_width=120, elem_id="chat-reset")
        notice = gr.HTML("", elem_id="chat-notice", elem_classes=["ft-note"])
        note = gr.Markdown("", elem_id="chat-note", elem_classes=["ft-note"])
        with gr.Accordion(words.CHAT_PROMPTS, open=False):
            with gr.Row():
                base_prompt = gr.Textbox(label=words.CHAT_BASE_PROMPT, lines=6, max_lines=20, interactive=False,
                                         elem_id="chat-base-prompt")
                tuned_prompt = gr.Textbox(label=words.CHAT_TUNED_PROMPT, lines=6, max_lines=20, interactive=False,
                                          elem_id="chat-tuned-prompt")
    # Each visitor's own conversation; the models behind it are the Compare tab's, shared by everyone.
    conversation = gr.State(None)
    outputs = [base, tuned, conversation, message, note, base_prompt, tuned_prompt]
    handler = streamed_into_notice(bind(chat_send, ctx), outputs, notice)
    inputs = [run, message, conversation, *decoding, ctx.owner]
    for trigger in (send.click, message.submit):
        # One queue slot with Compare: both use the same loaded models, one answer at a time.
        trigger(handler, inputs, [*outputs, notice], api_visibility="private", concurrency_limit=1,
                concurrency_id="compare")
    # A column's own clear (trash) button starts over too: the two sides and the kept conversation stay one.
    for trigger in (reset.click, base.clear, tuned.clear):
        trigger(start_over, None, outputs, api_visibility="private")
    run.change(start_over, None, outputs, api_visibility="private")
    run.change(bind(chat_visible, ctx), [run, ctx.owner], [section], api_visibility="private")
    return ChatBox(section=section, base=base, tuned=tuned, conversation=conversation)
