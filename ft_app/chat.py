"""Chat side by side: a conversation typed once and answered by the base and the fine-tuned model of a run.

Each side keeps its own history (the base reads its own earlier answers, the fine-tuned model its own), in the run's
prompt format (chat template and system prompt) with the Compare tab's decoding settings, and answers are streamed
as they are generated: the base first, then the fine-tuned model. The models are the Compare tab's (one loaded run,
shared by every visitor through the comparer); the conversation itself belongs to one visitor (the page keeps it).
A conversation longer than the model reads loses its oldest turns from the prompt, and the step says how many.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.compare import SIDES, Comparer, default_comparer
from ft_app.tasks import GenerationSettings, get_task
from ft_app.tasks.base import PromptFormat


@dataclass
class ChatTurn:
    """One message of the visitor and each side's answer to it (None: that side has not answered yet)."""

    user: str
    base: str | None = None
    finetuned: str | None = None

    def answer(self, side: str) -> str | None:
        """One side's answer."""
        return self.base if side == "base" else self.finetuned


@dataclass
class Conversation:
    """One visitor's conversation with the two models of a run."""

    run_id: str = ""
    turns: list[ChatTurn] = field(default_factory=list)

    def messages(self, side: str) -> list[dict[str, str]]:
        """The conversation as one side saw it: each user message, then that side's own answer where it gave one."""
        out: list[dict[str, str]] = []
        for turn in self.turns:
            out.append({"role": "user", "content": turn.user})
            answer = turn.answer(side)
            if answer is not None:
                out.append({"role": "assistant", "content": answer})
        return out


@dataclass
class SidePrompt:
    """What one side read for its answer."""

    text: str  # the prompt exactly as it was tokenized (after leaving out the turns that did not fit)
    tokens: int  # its length in tokens (after any cut)
    earlier_turns: int  # earlier turns (message and answer) the prompt holds
    dropped: int  # oldest turns left out because the conversation no longer fits the model's context
    limit: int | None  # the most tokens the model reads, prompt and answer together (None: no fixed limit)
    note: str | None = None  # a sentence when even the newest message alone was too long and lost its start


@dataclass
class ChatStep:
    """One moment of a streamed turn: the conversation so far (the answering side's last answer grows)."""

    conversation: Conversation
    side: str  # the side answering now
    prompts: dict[str, SidePrompt]  # what each side that has started read
    done: bool = False  # both sides have finished this turn


def chat_offered(task: str) -> bool:
    """Whether a run of this task can chat: its model continues its prompt (a run of an unknown task: no)."""
    try:
        return get_task(task).continues_prompt
    except ValueError:
        return False


def conversation_prompt(fmt: PromptFormat, tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, bool]:
    """The prompt of a conversation that ends with the visitor's message, in the run's format; and whether the text
    already holds the special tokens (so tokenizing must not add them again).

    One message gives exactly PromptFormat.render's prompt (the one Compare answers). chat: the tokenizer's chat
    template with the run's system prompt; template: each earlier turn as the run trained on it (filled template,
    answer, end-of-text), then the new message's template; plain: the conversation continued as one text.
    """
    if fmt.mode == "chat":
        system = [{"role": "system", "content": fmt.system_prompt}] if fmt.system_prompt else []
        return tokenizer.apply_chat_template(system + messages, tokenize=False, add_generation_prompt=True), True
    if fmt.mode == "template":
        eos = getattr(tokenizer, "eos_token", None) or ""
        return "".join(fmt.render(m["content"]) if m["role"] == "user" else m["content"] + eos
                       for m in messages), False
    return "\n".join(m["content"] for m in messages), False


def fit_conversation(fmt: PromptFormat, tokenizer: Any, model: Any, messages: list[dict[str, str]],
                     max_new_tokens: int) -> tuple[SidePrompt, Any]:
    """The prompt of one side and its tokenized inputs, inside what the model reads with room for the answer: the
    oldest turns go first; the newest message alone, if still too long, loses its start (as in Compare)."""
    from ft_app.limits import position_limit
    from ft_app.tasks.causal_lm import fit_context

    limit = position_limit(model.config)
    earlier = (len(messages) - 1) // 2  # messages alternate user/assistant and end with the new user message
    for dropped in range(earlier + 1):
        text, special_in_text = conversation_prompt(fmt, tokenizer, messages[2 * dropped:])
        inputs = tokenizer(text, return_tensors="pt", add_special_tokens=not special_in_text)
        length = int(inputs["input_ids"].shape[1])
        if limit is None or length <= limit - max_new_tokens:
            return SidePrompt(text, length, earlier - dropped, dropped, limit), inputs
    # Nothing but the newest message is left and it is still too long (or no answer fits: fit_context says so).
    inputs, note = fit_context(inputs, model, max_new_tokens)
    kept = int(inputs["input_ids"].shape[1])
    shown = tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=False)
    return SidePrompt(shown, kept, 0, earlier, limit, note), inputs


def stream_turn(run_dir: Path, conversation: Conversation | None, message: str,
                settings: GenerationSettings | None = None, comparer: Comparer | None = None) -> Iterator[ChatStep]:
    """Answer the visitor's message with both sides of a run, streaming each answer as it grows (base first).

    The conversation given is not changed: every step holds a new one with this turn added (a turn cut short by an
    error or a closed page is not kept). A conversation with another run starts afresh.
    """
    message = (message or "").strip()
    if not message:
        raise ValueError("The message is empty: type something to say to both models.")
    settings = settings or GenerationSettings()
    comparer = comparer or default_comparer()
    run_dir = Path(run_dir)
    earlier = conversation.turns if conversation is not None and conversation.run_id == run_dir.name else []
    current = Conversation(run_id=run_dir.name, turns=[*earlier, ChatTurn(user=message)])
    prompts: dict[str, SidePrompt] = {}
    for side in SIDES:
        for text, prompt in _stream_side(comparer, run_dir, side, current.messages(side), settings):
            prompts[side] = prompt
            setattr(current.turns[-1], side, text)
            yield ChatStep(current, side, dict(prompts))
    yield ChatStep(current, SIDES[-1], dict(prompts), done=True)


def _stream_side(comparer: Comparer, run_dir: Path, side: str, messages: list[dict[str, str]],
                 settings: GenerationSettings) -> Iterator[tuple[str, SidePrompt]]:
    """One side's answer as it grows: (text so far, what it read). The first item (empty text) comes once the
    prompt is built.

    The model generates in a thread that holds the comparer's lock for its own generation only, never across this
    generator's pauses: a page that stops reading cannot keep the models from other visitors; closing the generator
    asks the thread to stop at its next token.
    """
    out: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        try:
            with comparer.side(run_dir, side) as (model, tokenizer, info):
                task = get_task(info.config.task)
                if not task.continues_prompt:
                    raise ValueError(
                        f"Run {run_dir.name!r} is a {task.short} run: its model does not continue a conversation. "
                        "Chat needs a text-generation run; compare one text at a time above instead.")
                fmt = task.prompt_format(info.config, tokenizer)
                prompt, inputs = fit_conversation(fmt, tokenizer, model, messages, settings.max_new_tokens)
                out.put(("prompt", prompt))
                inputs = {key: value.to(model.device) for key, value in inputs.items()}
                _generate_streamed(model, tokenizer, inputs, settings, out, stop)
        except BaseException as exc:  # handed to the reader, which raises it where the page can say it
            out.put(("error", exc))
        finally:
            out.put(("end", None))

    thread = threading.Thread(target=work, name=f"chat-{side}", daemon=True)
    thread.start()
    text, prompt = "", None
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                break
            if kind == "error":
                raise value
            if kind == "prompt":
                prompt = value
            else:
                text = value
            yield text.strip(), prompt
        thread.join()
    finally:
        stop.set()


def _generate_streamed(model: Any, tokenizer: Any, inputs: Any, settings: GenerationSettings,
                       out: queue.Queue[tuple[str, Any]], stop: threading.Event) -> None:
    """Generate with the shared decoding settings (the same call Compare makes), putting the answer so far into `out`
    after each new token; stops early when `stop` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer

    from ft_app.tasks.causal_lm import generate

    class WholeTextStreamer(BaseStreamer):
        """Decodes all the new tokens at each step (not piece by piece), so the last text is exactly the one Compare
        decodes; a step that ends inside a character (a byte-level piece) waits for the rest of it."""

        def __init__(self) -> None:
            self.ids: list[int] = []
            self.prompt_seen = False
            self.sent = ""

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() hands over the prompt first
                self.prompt_seen = True
                return
            self.ids.extend(int(i) for i in value.reshape(-1).tolist())
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if text != self.sent and not text.endswith("\ufffd"):
                self.sent = text
                out.put(("text", text))

        def end(self) -> None:
            text = tokenizer.decode(self.ids, skip_special_tokens=True)
            if text != self.sent:
                out.put(("text", text))

    class StopRequested(StoppingCriteria):
        """Stops the generation when the reader has gone."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    generate(model, tokenizer, inputs, settings, streamer=WholeTextStreamer(),
             stopping_criteria=StoppingCriteriaList([StopRequested()]))
