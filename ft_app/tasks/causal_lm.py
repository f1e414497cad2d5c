"""Causal LM / instruction tuning: templates or chat templates, loss on the answer tokens by default."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ft_app.config import DataConfig, RunConfig
from ft_app.data import ColumnMapping
from ft_app.tasks.base import (
    Encoder,
    GenerationSettings,
    Metric,
    Prediction,
    PromptFormat,
    TaskSpec,
    generation_snippet,
)

IGNORE_INDEX = -100
DEFAULT_PROMPT_TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"
DEFAULT_PROMPT_TEMPLATE_WITH_INPUT = "### Instruction:\n{prompt}\n\n### Input:\n{input}\n\n### Response:\n"
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant", "system": "system"}


@dataclass
class RenderedExample:
    """A training example as the model sees it, and the character spans the loss is computed on."""

    text: str
    trained_spans: list[tuple[int, int]]
    uses_special_tokens_in_text: bool = False


def uses_chat_template(tokenizer: Any, data: DataConfig) -> bool:
    """Whether prompts are formatted with the tokenizer's chat template."""
    if data.template == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "data.template is 'chat' but this model's tokenizer has no chat template. "
                "Leave the template empty to use a plain instruction template, or write one with {prompt}."
            )
        return True
    return data.template in (None, "") and bool(getattr(tokenizer, "chat_template", None))


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """Accept OpenAI-style {role, content} and ShareGPT-style {from, value} messages."""
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"A messages cell must be a non-empty list of {{role, content}} items, got {messages!r:.80}.")
    out = []
    for m in messages:
        if not isinstance(m, dict):
            raise ValueError(f"Each message must be an object with role and content, got {m!r:.80}.")
        role = str(m.get("role", m.get("from", ""))).strip().lower()
        role = ROLE_ALIASES.get(role, role)
        content = m.get("content", m.get("value", ""))
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"Unknown message role {role!r}: use system, user or assistant.")
        out.append({"role": role, "content": "" if content is None else str(content)})
    return out


def _fill_template(template: str, prompt: str, extra: str | None) -> str:
    if extra and "{input}" not in template and template == DEFAULT_PROMPT_TEMPLATE:
        template = DEFAULT_PROMPT_TEMPLATE_WITH_INPUT
    return template.replace("{prompt}", prompt).replace("{input}", extra or "")


def render_prompt(text: str, tokenizer: Any, data: DataConfig, extra: str | None = None) -> tuple[str, bool]:
    """The prompt an input becomes, exactly as in training; returns (prompt, has special tokens in text)."""
    if uses_chat_template(tokenizer, data):
        messages = ([{"role": "system", "content": data.system_prompt}] if data.system_prompt else []) + [
            {"role": "user", "content": text if not extra else f"{text}\n\n{extra}"}
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True
    return _fill_template(data.template or DEFAULT_PROMPT_TEMPLATE, text, extra), False


def _render_chat(messages: list[dict[str, str]], tokenizer: Any, data: DataConfig) -> RenderedExample:
    """Render a conversation; the assistant turns are what is trained (prefix-consistent templates)."""
    if data.system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": data.system_prompt}] + messages
    if not getattr(tokenizer, "chat_template", None):
        # No chat template: a plain, readable layout the model can learn just as well.
        text, spans = "", []
        for m in messages:
            head = f"### {m['role'].capitalize()}:\n"
            text += head
            start = len(text)
            text += m["content"] + "\n\n"
            if m["role"] == "assistant":
                spans.append((start, len(text)))
        if spans:
            eos = tokenizer.eos_token or ""
            text = text[: spans[-1][1]] + eos
            spans[-1] = (spans[-1][0], len(text))
        return RenderedExample(text, spans)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else ""
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not full.startswith(through) or not through.startswith(before):
            # This template rewrites earlier turns (e.g. strips reasoning): fall back to training on everything.
            return RenderedExample(full, [(0, len(full))], True)
        spans.append((len(before), len(through)))
    return RenderedExample(full, spans, True)


def render_training_text(row: dict[str, Any], mapping: Any, tokenizer: Any, data: DataConfig) -> RenderedExample:
    """A raw row as the model will see it, with the character spans that carry the loss."""
    if mapping.messages:
        rendered = _render_chat(normalize_messages(row[mapping.messages]), tokenizer, data)
    elif mapping.prompt:
        prompt, response = str(row[mapping.prompt]), str(row[mapping.response])
        extra = str(row[mapping.input]) if mapping.input and row.get(mapping.input) else None
        if uses_chat_template(tokenizer, data):
            user = prompt if not extra else f"{prompt}\n\n{extra}"
            msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": response}]
            rendered = _render_chat(msgs, tokenizer, data)
        else:
            head = _fill_template(data.template or DEFAULT_PROMPT_TEMPLATE, prompt, extra)
            text = head + response + (tokenizer.eos_token or "")
            rendered = RenderedExample(text, [(len(head), len(text))])
    else:
        text = str(row[mapping.text]) + (tokenizer.eos_token or "")
        rendered = RenderedExample(text, [(0, len(text))])
    if data.loss_on_prompt:
        rendered.trained_spans = [(0, len(rendered.text))]
    return rendered


class CausalLMTask(TaskSpec):
    """AutoModelForCausalLM trained on answers (or full sequences) with dynamic padding."""

    name = "causal_lm"
    label = "Follow instructions / chat (text generation)"
    short = "text generation"
    default_max_length = 512
    max_passes = 5  # a generative model memorises its answers sooner
    typical_tokens = 256
    lm_logits = "input"
    continues_prompt = True
    lora_task_type = "CAUSAL_LM"
    pipeline_tag = "text-generation"
    hub_pipeline_tags = ("text-generation",)
    metrics = (
        Metric("loss", "answer loss", "loss", "Loss", "how hard it finds the reference answers; lower is better",
               "loss", False),
        Metric("perplexity", "perplexity", "perplexity", "Perplexity",
               "roughly how many words it hesitates between at each step; lower is better", "ppl", False),
    )
    card_example = "Hello! Who are you?"
    mapping_parts = ("messages", "prompt", "input", "response", "text")

    def model_class(self) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def detect_columns(self, pick: Any, data: Any) -> ColumnMapping:
        """Chat messages, or prompt + response (+ an optional extra input), or plain text to continue."""
        messages = pick("messages", data.messages_column)
        if messages and not (data.prompt_column or data.response_column or data.text_column):
            return ColumnMapping(messages=messages)
        response = pick("response", data.response_column)
        prompt = pick("prompt", data.prompt_column, (response,))
        if prompt and response:
            extra = pick("input", data.input_column, (prompt, response))
            return ColumnMapping(prompt=prompt, response=response, input=extra)
        if data.prompt_column or data.response_column:
            missing = "response_column" if prompt else "prompt_column"
            raise ValueError(
                f"Instruction data needs both a prompt and a response column; set data.{missing}. The columns are: "
                f"{pick.listed}."
            )
        text = pick("text", data.text_column)
        if text:
            return ColumnMapping(text=text)
        raise ValueError(
            f"Could not find the training text. The columns are: {pick.listed}. Map a 'messages' column (chat), "
            "a prompt and a response column (instructions), or a text column (plain text)."
        )

    def example_segments(self, row: dict[str, Any], mapping: Any, tokenizer: Any, data: Any,
                         max_length: int) -> list[tuple[str, str | None]] | None:
        """The row exactly as the model sees it: the trained part marked, the part past max length cut."""
        if tokenizer is None:
            return None
        from ft_app.data_report import cut_offset, segments

        ex = render_training_text(row, mapping, tokenizer, data)
        cut_at = cut_offset(ex.text, tokenizer, max_length, not ex.uses_special_tokens_in_text)
        return segments(ex.text, ex.trained_spans, cut_at)

    def token_lengths(self, rows: Any, mapping: Any, tokenizer: Any, data: Any,
                      max_length: int) -> tuple[list[int], int, int]:
        """Lengths of the rendered training texts, and how many lose their whole answer to the cut."""
        lengths: list[int] = []
        answer_cut = 0
        for row in rows:
            ex = render_training_text(row, mapping, tokenizer, data)
            enc = tokenizer(ex.text, add_special_tokens=not ex.uses_special_tokens_in_text, return_offsets_mapping=True)
            offsets = enc["offset_mapping"]
            lengths.append(len(offsets))
            if len(offsets) > max_length:
                kept = offsets[:max_length]
                # Same rule as the training encoder: a kept token is trained when it starts inside a trained span.
                if not any(end > start and any(s <= start < e for s, e in ex.trained_spans) for start, end in kept):
                    answer_cut += 1
        return lengths, answer_cut, 0

    def encoder(self, config: RunConfig, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(
                f"The tokenizer of {config.model.name_or_path!r} is a slow (Python) tokenizer; answer-only training "
                "needs a fast one. Install the 'tokenizers' package or pick a model that ships tokenizer.json."
            )
        max_length = config.max_length

        def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
            out: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
            for row in rows:
                ex = render_training_text(row, mapping, tokenizer, config.data)
                enc = tokenizer(
                    ex.text,
                    truncation=True,
                    max_length=max_length,
                    return_offsets_mapping=True,
                    add_special_tokens=not ex.uses_special_tokens_in_text,
                )
                labels = [
                    tok if end > start and any(s <= start < e for s, e in ex.trained_spans) else IGNORE_INDEX
                    for tok, (start, end) in zip(enc["input_ids"], enc["offset_mapping"])
                ]
                out["input_ids"].append(enc["input_ids"])
                out["attention_mask"].append(enc["attention_mask"])
                out["labels"].append(labels)
                # Length 0 marks a row whose answer was cut off entirely: nothing to learn, dropped later.
                out["length"].append(len(labels) if any(t != IGNORE_INDEX for t in labels) else 0)
            return out

        return encode

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        from transformers import DataCollatorForSeq2Seq

        # Pads input_ids with the pad token and labels with -100, which is what causal LM needs too.
        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=pad_to_multiple_of)

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        if mapping.messages:
            msgs = normalize_messages(row[mapping.messages])
            last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            users = [m["content"] for m in msgs[: last if last is not None else len(msgs)] if m["role"] == "user"]
            return {"input": users[-1] if users else "", "reference": msgs[last]["content"] if last is not None else ""}
        if mapping.prompt:
            extra = row.get(mapping.input) if mapping.input else None
            prompt = str(row[mapping.prompt]) + (f"\n\n{extra}" if extra else "")
            return {"input": prompt, "reference": str(row[mapping.response])}
        text = str(row[mapping.text])
        cut = max(1, len(text) // 2)
        return {"input": text[:cut], "reference": text[cut:]}

    def predict(
        self, model: Any, tokenizer: Any, text: str, config: RunConfig, settings: GenerationSettings
    ) -> Prediction:

        prompt, special_in_text = render_prompt(text, tokenizer, config.data)
        if config.data.messages_column is None and _is_plain_text(config):
            prompt, special_in_text = text, False
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=not special_in_text).to(model.device)
        inputs, note = fit_context(inputs, model, settings.max_new_tokens)
        new_tokens = generate(model, tokenizer, inputs, settings)
        return Prediction(text=tokenizer.decode(new_tokens, skip_special_tokens=True).strip(), note=note)

    def prompt_format(self, config: RunConfig, tokenizer: Any) -> PromptFormat:
        if config.data.messages_column is None and _is_plain_text(config):
            return PromptFormat("plain")
        if uses_chat_template(tokenizer, config.data):
            return PromptFormat("chat", system_prompt=config.data.system_prompt or None)
        return PromptFormat("template", template=config.data.template or DEFAULT_PROMPT_TEMPLATE)

    def card_purpose(self, label_names: list[str] | None, fmt: PromptFormat) -> str:
        if fmt.mode == "plain":
            return "It continues a text in the style of its training texts."
        how = "the tokenizer's chat template" if fmt.mode == "chat" else "a prompt template"
        return f"It answers prompts the way the training answers did (prompts formatted with {how})."

    def usage_snippet(self, ref: str, adapter: bool, example: str, label_names: list[str] | None,
                      fmt: PromptFormat) -> str:
        model = "peft import AutoPeftModelForCausalLM" if adapter else "transformers import AutoModelForCausalLM"
        if fmt.mode == "chat":
            encode = (f"inputs = tokenizer.apply_chat_template({json.dumps(fmt.messages(example))}, "
                      "add_generation_prompt=True, return_tensors=\"pt\", return_dict=True)")
        else:
            encode = f"inputs = tokenizer({json.dumps(fmt.render(example))}, return_tensors=\"pt\")"
        return generation_snippet(f"{model} as Model", ref, encode, cut_prompt=True)


def fit_context(inputs: Any, model: Any, max_new_tokens: int) -> tuple[Any, str | None]:
    """Keep the prompt and the answer inside what the model can read: a longer prompt loses its start (the end
    holds the question being answered); returns the inputs and a sentence saying what was cut, if anything."""
    from ft_app.limits import position_limit

    limit = position_limit(model.config)
    if limit is None:
        return inputs, None
    room = limit - max_new_tokens
    if room < 1:
        raise ValueError(
            f"Max new tokens {max_new_tokens} leaves no room for the prompt: this model reads at most {limit} tokens, "
            f"prompt and answer together. Use fewer than {limit} new tokens."
        )
    length = int(inputs["input_ids"].shape[1])
    if length <= room:
        return inputs, None
    kept = {key: value[:, -room:] for key, value in inputs.items()}
    return kept, (
        f"The prompt has {length} tokens, more than this model can read with a {max_new_tokens}-token answer "
        f"({limit} tokens in all): only its last {room} tokens were used."
    )


def _is_plain_text(config: RunConfig) -> bool:
    """Whether the run trained on plain text (no prompt/response), so inputs are continued as they are."""
    d = config.data
    return bool(d.text_column) and not (d.prompt_column or d.response_column or d.messages_column)


TASK = CausalLMTask()


def generate(model: Any, tokenizer: Any, inputs: Any, settings: GenerationSettings, **extra: Any) -> Any:
    """Generate new tokens for one input with the shared decoding settings; returns only the new ids. `extra`: more
    `generate` arguments that do not change the answer (a streamer, a stop request), so a streamed chat answer is the
    one Compare gives."""
    import torch

    torch.manual_seed(settings.seed)
    kwargs: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
    if settings.temperature > 0:
        kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        output = model.generate(**inputs, **kwargs, **extra)
    if getattr(model.config, "is_encoder_decoder", False):
        return output[0]
    return output[0, inputs["input_ids"].shape[1] :]
