"""Before/after demo exported by Fine-Tune Studio: the base model and the fine-tuned one answer side by side.

Standalone: plain transformers, peft and gradio. What the run used (base model, prompt format, labels, decoding)
is in demo.json beside this file, so the answers equal the ones the studio's Compare tab gives.
Locally: `pip install gradio -r requirements.txt && python app.py`.
"""

from __future__ import annotations

import json
import threading
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

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, Any] = json.loads((HERE / "demo.json").read_text(encoding="utf-8"))
TASK: str = SETTINGS["task"]
MODEL_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "causal_lm": AutoModelForCausalLM,
    "seq2seq": AutoModelForSeq2SeqLM,
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
LOCK = threading.Lock()  # one comparison at a time: an adapter model is switched off and on for the base side


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
    model_class = MODEL_CLASSES[TASK]
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


def generate(model: Any, inputs: Any, gen: dict[str, Any]) -> Any:
    """New tokens for one input with the shared decoding settings."""
    torch.manual_seed(gen["seed"])
    kwargs: dict[str, Any] = {"max_new_tokens": gen["max_new_tokens"], "pad_token_id": TOKENIZER.pad_token_id}
    if gen["temperature"] > 0:
        kwargs.update(do_sample=True, temperature=gen["temperature"], top_p=gen["top_p"])
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        output = model.generate(**inputs, **kwargs)
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
