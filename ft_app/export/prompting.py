"""How a run turns a typed input into the model's prompt, written down so exported code can do the same."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ft_app.config import DEFAULT_PROMPT_TEMPLATE, RunConfig

PromptMode = Literal["chat", "template", "plain", "text"]


@dataclass
class PromptFormat:
    """chat: the tokenizer's chat template; template: a text template with {prompt}; plain: the input is continued
    as it is; text: classification and seq2seq, where the input goes in unchanged."""

    mode: PromptMode
    template: str | None = None
    system_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for demo.json."""
        return asdict(self)

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages an input becomes (chat mode)."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [{"role": "user", "content": text}]

    def render(self, text: str, tokenizer: Any = None) -> str:
        """The prompt text for an input, exactly as the run's predict() builds it."""
        if self.mode == "chat":
            return tokenizer.apply_chat_template(self.messages(text), tokenize=False, add_generation_prompt=True)
        if self.mode == "template":
            return (self.template or DEFAULT_PROMPT_TEMPLATE).replace("{prompt}", text).replace("{input}", "")
        return text


def is_plain_text(config: RunConfig) -> bool:
    """Whether a causal-LM run trained on plain text (no prompt/response), so inputs are continued as they are."""
    d = config.data
    return bool(d.text_column) and not (d.prompt_column or d.response_column or d.messages_column)


def prompt_format(config: RunConfig, tokenizer: Any) -> PromptFormat:
    """The prompt format a run's predictions use (`config` with the columns the run resolved)."""
    if config.task != "causal_lm":
        return PromptFormat("text")
    from ft_app.tasks.causal_lm import uses_chat_template

    if config.data.messages_column is None and is_plain_text(config):
        return PromptFormat("plain")
    if uses_chat_template(tokenizer, config.data):
        return PromptFormat("chat", system_prompt=config.data.system_prompt or None)
    return PromptFormat("template", template=config.data.template or DEFAULT_PROMPT_TEMPLATE)


def load_result_tokenizer(result_dir: Any) -> Any:
    """The tokenizer saved with the result (the same one the run trained and compared with)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(result_dir))
