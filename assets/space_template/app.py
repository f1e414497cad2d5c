"""Before/after demo exported by Fine-Tune Studio: the base model and the fine-tuned one answer side by side (and, for
a model that continues its prompt, hold a conversation, each in its own column).

Standalone: plain transformers, peft and gradio. What the run used (base model, prompt format, labels, decoding)
is in demo.json beside this file, so the answers equal the ones the studio's Compare tab gives.
Locally: `pip install gradio -r requirements.txt && python app.py`.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    set_seed,
)
from transformers.generation.streamers import BaseStreamer

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, Any] = json.loads((HERE / "demo.json").read_text(encoding="utf-8"))
TASK: str = SETTINGS["task"]
# demo.json names the run's model class (its task's), so a task this file does not list (e.g. preference) loads too.
MODEL_CLASSES = {cls.__name__: cls for cls in (AutoModelForSequenceClassification, AutoModelForCausalLM,
                                               AutoModelForSeq2SeqLM)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
LOCK = threading.Lock()  # one comparison at a time: an adapter model is switched off and on for the base side
CHAT: bool = bool(SETTINGS.get("chat"))  # a model that continues its prompt: the page offers a conversation too


def source(ref: str) -> str:
    """A folder relative to this app, else the reference as given (a Hub id or an absolute folder)."""
    local = HERE / ref
    return str(local.resolve()) if not Path(ref).is_absolute() and local.exists() else ref


def device() -> str:
    """Where the models run."""
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def load_dtype() -> torch.dtype:
    """The run's weight precision: its own choice, else fp32, or bf16 for an adapter on a GPU that has it."""
    if SETTINGS["dtype"] in DTYPES:
        return DTYPES[SETTINGS["dtype"]]
    if torch.cuda.is_available() and SETTINGS["is_adapter"]:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.float32


def load_models() -> tuple[Any, Any, Any]:
    """The tokenizer, the base model and the fine-tuned model (for an adapter the base is the adapter switched off)."""
    model_class = MODEL_CLASSES[SETTINGS["model_class"]]
    tuned_ref = source(SETTINGS["finetuned"])
    tokenizer = AutoTokenizer.from_pretrained(tuned_ref)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    kwargs: dict[str, Any] = {"dtype": load_dtype(), "revision": SETTINGS.get("revision")}
    if TASK == "classification":
        names = SETTINGS["label_names"]
        kwargs.update(num_labels=len(names), id2label=dict(enumerate(names)),
                      label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)
    set_seed(SETTINGS["seed"])  # the base classifier's new head starts from the run's seed, as it did in training
    base = model_class.from_pretrained(source(SETTINGS["base_model"]), **kwargs)
    if base.config.pad_token_id is None and tokenizer.pad_token_id is not None:
        base.config.pad_token_id = tokenizer.pad_token_id
    base.to(device()).eval()
    if SETTINGS["is_adapter"]:
        from peft import PeftModel

        return tokenizer, None, PeftModel.from_pretrained(base, tuned_ref).eval()
    return tokenizer, base, model_class.from_pretrained(tuned_ref).to(device()).eval()


TOKENIZER, BASE, TUNED = load_models()


def render_prompt(text: str) -> tuple[str, bool]:
    """The prompt an input becomes, as in training; and whether it already holds the special tokens."""
    fmt = SETTINGS["prompt"]
    if fmt["mode"] == "chat":
        messages = ([{"role": "system", "content": fmt["system_prompt"]}] if fmt.get("system_prompt") else []) + [
            {"role": "user", "content": text}
        ]
        return TOKENIZER.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True
    if fmt["mode"] == "template":
        return fmt["template"].replace("{prompt}", text).replace("{input}", ""), False
    return text, False


def fit_context(inputs: Any, max_new_tokens: int) -> Any:
    """Keep prompt and answer inside what the model can read: a longer prompt loses its start, as in the studio."""
    limit = SETTINGS.get("context_limit")
    if not limit:
        return inputs
    room = limit - max_new_tokens
    if room < 1:
        raise gr.Error(f"Max new tokens {max_new_tokens} leaves no room for the prompt: this model reads at most "
                       f"{limit} tokens, prompt and answer together.")
    if inputs["input_ids"].shape[1] <= room:
        return inputs
    return {key: value[:, -room:] for key, value in inputs.items()}


def generate(model: Any, inputs: Any, gen: dict[str, Any], **extra: Any) -> Any:
    """New tokens for one input with the shared decoding settings (`extra`: a streamer for the chat)."""
    torch.manual_seed(gen["seed"])
    kwargs: dict[str, Any] = {"max_new_tokens": gen["max_new_tokens"], "pad_token_id": TOKENIZER.pad_token_id}
    if gen["temperature"] > 0:
        kwargs.update(do_sample=True, temperature=gen["temperature"], top_p=gen["top_p"])
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        output = model.generate(**inputs, **kwargs, **extra)
    if getattr(model.config, "is_encoder_decoder", False):
        return output[0]
    return output[0, inputs["input_ids"].shape[1]:]


def predict(model: Any, text: str, gen: dict[str, Any]) -> tuple[str, dict[str, float] | None]:
    """One model's answer: the label with its probabilities, or the generated text."""
    if TASK == "classification":
        inputs = TOKENIZER(text, truncation=True, max_length=SETTINGS["max_length"], return_tensors="pt").to(model.device)
        with torch.no_grad():
            logits = model(**inputs).logits[0].float()
        probs = torch.softmax(logits, dim=-1).tolist()
        id2label = model.config.id2label
        names = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(probs))]
        best = max(range(len(probs)), key=probs.__getitem__)
        return f"{names[best]} ({probs[best]:.0%} sure)", dict(zip(names, probs))
    if TASK == "seq2seq":
        inputs = TOKENIZER(text, truncation=True, max_length=SETTINGS["max_length"], return_tensors="pt").to(model.device)
    else:
        prompt, special_in_text = render_prompt(text)
        inputs = TOKENIZER(prompt, return_tensors="pt", add_special_tokens=not special_in_text).to(model.device)
        inputs = fit_context(inputs, gen["max_new_tokens"])
    new_tokens = generate(model, inputs, gen)
    return TOKENIZER.decode(new_tokens, skip_special_tokens=True).strip(), None


def compare(text: str, max_new_tokens: float, temperature: float, top_p: float, seed: float) -> tuple[Any, ...]:
    """The same input through the base model and the fine-tuned model."""
    if not (text or "").strip():
        raise gr.Error("Type a text or a prompt first, or click an example.")
    gen = {"max_new_tokens": int(max_new_tokens), "temperature": float(temperature), "top_p": float(top_p),
           "seed": int(seed or 0)}
    with LOCK:
        if BASE is None:
            with TUNED.disable_adapter():
                base_text, base_probs = predict(TUNED, text, gen)
        else:
            base_text, base_probs = predict(BASE, text, gen)
        tuned_text, tuned_probs = predict(TUNED, text, gen)
    return base_text, tuned_text, base_probs, tuned_probs


def conversation_prompt(messages: list[dict[str, str]]) -> tuple[str, bool]:
    """The prompt of a conversation ending with the visitor's message, as the studio's chat builds it: the chat
    template with the system prompt; else each earlier turn as the run trained on it, then the new message."""
    fmt = SETTINGS["prompt"]
    if fmt["mode"] == "chat":
        system = [{"role": "system", "content": fmt["system_prompt"]}] if fmt.get("system_prompt") else []
        return TOKENIZER.apply_chat_template(system + messages, tokenize=False, add_generation_prompt=True), True
    if fmt["mode"] == "template":
        eos = TOKENIZER.eos_token or ""
        return "".join(fmt["template"].replace("{prompt}", m["content"]).replace("{input}", "") if m["role"] == "user"
                       else m["content"] + eos for m in messages), False
    return "\n".join(m["content"] for m in messages), False


def fit_conversation(messages: list[dict[str, str]], max_new_tokens: int) -> tuple[Any, int]:
    """The conversation's tokenized prompt inside what the model reads, and how many of its oldest turns were left
    out for that (the newest message alone, if still too long, loses its start)."""
    limit = SETTINGS.get("context_limit")
    earlier = (len(messages) - 1) // 2  # user and assistant messages alternate and end with the new message
    for dropped in range(earlier + 1):
        prompt, special_in_text = conversation_prompt(messages[2 * dropped:])
        inputs = TOKENIZER(prompt, return_tensors="pt", add_special_tokens=not special_in_text)
        if not limit or inputs["input_ids"].shape[1] <= limit - max_new_tokens:
            return inputs, dropped
    return fit_context(inputs, max_new_tokens), earlier


class WholeTextStreamer(BaseStreamer):
    """Hands over the whole answer so far after each new token (decoded at once, so the last text is exactly the
    Compare answer's); a step that ends inside a character waits for the rest of it."""

    def __init__(self, out: queue.Queue) -> None:
        self.out, self.ids, self.prompt_seen, self.sent = out, [], False, ""

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() hands over the prompt first
            self.prompt_seen = True
            return
        self.ids.extend(int(i) for i in value.reshape(-1).tolist())
        text = TOKENIZER.decode(self.ids, skip_special_tokens=True)
        if text != self.sent and not text.endswith("\ufffd"):
            self.sent = text
            self.out.put(("text", text))

    def end(self) -> None:
        text = TOKENIZER.decode(self.ids, skip_special_tokens=True)
        if text != self.sent:
            self.out.put(("text", text))


def stream_answer(side: str, messages: list[dict[str, str]], gen: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """One side's answer as it grows, with the number of oldest turns its prompt left out. The model generates in a
    thread that holds the lock for its own generation only (a page that stops reading frees it)."""
    out: queue.Queue = queue.Queue()

    def work() -> None:
        try:
            with LOCK:
                base_off = side == "base" and BASE is None
                model = TUNED if side == "finetuned" or base_off else BASE
                inputs, dropped = fit_conversation(messages, gen["max_new_tokens"])
                out.put(("dropped", dropped))
                inputs = {key: value.to(model.device) for key, value in inputs.items()}
                if base_off:
                    with TUNED.disable_adapter():
                        generate(model, inputs, gen, streamer=WholeTextStreamer(out))
                else:
                    generate(model, inputs, gen, streamer=WholeTextStreamer(out))
        except BaseException as exc:  # raised where the page can say it
            out.put(("error", exc))
        finally:
            out.put(("end", None))

    threading.Thread(target=work, daemon=True).start()
    text, dropped = "", 0
    while True:
        kind, value = out.get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        if kind == "dropped":
            dropped = value
        else:
            text = value
        yield text.strip(), dropped


def side_messages(turns: list[dict[str, Any]], side: str) -> list[dict[str, str]]:
    """The conversation as one side saw it: each message, then that side's own answer where it gave one."""
    out = []
    for turn in turns:
        out.append({"role": "user", "content": turn["user"]})
        if turn.get(side) is not None:
            out.append({"role": "assistant", "content": turn[side]})
    return out


def chat(message: str, turns: list[dict[str, Any]] | None, max_new_tokens: float, temperature: float, top_p: float,
         seed: float) -> Iterator[tuple[Any, ...]]:
    """Send a message to both models and stream their answers (the base first), each reading its own history.
    Yields the base chat, the fine-tuned chat, the conversation (kept once both answered), the box, the note."""
    if not (message or "").strip():
        raise gr.Error("The message is empty: type something to say to both models.")
    gen = {"max_new_tokens": int(max_new_tokens), "temperature": float(temperature), "top_p": float(top_p),
           "seed": int(seed or 0)}
    turns = [*(turns or []), {"user": message.strip(), "base": None, "finetuned": None}]
    dropped = 0
    for side in ("base", "finetuned"):
        for text, side_dropped in stream_answer(side, side_messages(turns, side), gen):
            turns[-1][side] = text
            dropped = max(dropped, side_dropped)
            yield side_messages(turns, "base"), side_messages(turns, "finetuned"), gr.skip(), gr.skip(), gr.skip()
    note = (f"This conversation no longer fits what the model reads ({SETTINGS.get('context_limit')} tokens, with "
            f"room for a {gen['max_new_tokens']}-token answer): its oldest {dropped} turns were left out of the last "
            "answer's prompt. Press Start over for a fresh one." if dropped else "")
    yield side_messages(turns, "base"), side_messages(turns, "finetuned"), turns, "", note


def start_over() -> tuple[Any, ...]:
    """Forget the conversation: both chats, the conversation, the box and the note."""
    return [], [], [], "", ""


def build() -> gr.Blocks:
    """The page: a text box, both answers side by side, the run's test prompts."""
    gen = SETTINGS["generation"]
    classify = TASK == "classification"
    with gr.Blocks(title=SETTINGS["title"]) as demo:
        gr.Markdown(f"# {SETTINGS['title']}\n{SETTINGS['intro']}" + (f"\n\n**{SETTINGS['summary']}**" if SETTINGS["summary"] else ""))
        text = gr.Textbox(label="Your text or prompt", lines=3, elem_id="text")
        with gr.Accordion("Decoding settings (the same for both models)", open=False, visible=not classify):
            with gr.Row():
                max_new_tokens = gr.Slider(1, 512, value=gen["max_new_tokens"], step=1, label="Max new tokens")
                temperature = gr.Slider(0, 2, value=gen["temperature"], step=0.05, label="Temperature",
                                        info="0 always picks the likeliest word (repeatable).")
                top_p = gr.Slider(0.05, 1, value=gen["top_p"], step=0.05, label="Top-p")
                seed = gr.Number(value=gen["seed"], precision=0, label="Seed")
        go = gr.Button("Compare", variant="primary")
        with gr.Row():
            with gr.Column():
                gr.Markdown("### Base model (before)")
                base_text = gr.Textbox(label="Base model says", lines=4, interactive=False)
                base_label = gr.Label(label="Base model: label probabilities", visible=classify)
            with gr.Column():
                gr.Markdown("### Fine-tuned (after)")
                tuned_text = gr.Textbox(label="Fine-tuned model says", lines=4, interactive=False)
                tuned_label = gr.Label(label="Fine-tuned model: label probabilities", visible=classify)
        if CHAT:
            gr.Markdown("### Chat with both models\nType once: each model answers in its own column as it writes, "
                        "and remembers its own answers for the next message (same decoding settings).")
            with gr.Row():
                base_chat = gr.Chatbot(label="Base model (before)", height=360, buttons=["copy", "copy_all"],
                                       elem_id="chat-base")
                tuned_chat = gr.Chatbot(label="Fine-tuned (after)", height=360, buttons=["copy", "copy_all"],
                                        elem_id="chat-tuned")
            with gr.Row():
                message = gr.Textbox(label="Your message", scale=4, elem_id="chat-text")
                send = gr.Button("Send", variant="primary", scale=0, min_width=120)
                reset = gr.Button("Start over", scale=0, min_width=120)
            note = gr.Markdown("")
            turns = gr.State([])  # this visitor's conversation
            chat_outputs = [base_chat, tuned_chat, turns, message, note]
            chat_inputs = [message, turns, max_new_tokens, temperature, top_p, seed]
            send.click(chat, chat_inputs, chat_outputs, api_name="chat")
            message.submit(chat, chat_inputs, chat_outputs, api_visibility="private")
            reset.click(start_over, None, chat_outputs, api_name="start_over")
            for column in (base_chat, tuned_chat):  # a column's own clear button starts over too: the sides stay one
                column.clear(start_over, None, chat_outputs, api_visibility="private")
        prompts = [row["input"] for row in SETTINGS["golden"]] + SETTINGS["examples"]
        if prompts:
            gr.Examples([[p] for p in dict.fromkeys(prompts)], inputs=[text], label="Test prompts and held-out examples")
        if SETTINGS["golden"]:
            gr.Markdown("### Answers recorded when the model was trained")
            gr.Dataframe(
                [[r["input"], r["reference"], r["base"], r["finetuned"]] for r in SETTINGS["golden"]],
                headers=["prompt", "expected", "before", "after"], wrap=True, interactive=False,
            )
        inputs = [text, max_new_tokens, temperature, top_p, seed]
        outputs = [base_text, tuned_text, base_label, tuned_label]
        go.click(compare, inputs, outputs, api_name="compare")
        text.submit(compare, inputs, outputs, api_visibility="private")
    return demo


demo = build()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch()
