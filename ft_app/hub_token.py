"""The Hugging Face token for one run: passed to the loaders, never written anywhere, scrubbed from text."""

from __future__ import annotations

import contextvars
import logging
import os
import re
from typing import Any

# Per run (per thread context), so one visitor's token never serves another visitor's run.
_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar("ft_app_hub_token", default=None)
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{8,}")
MASK = "hf_***"


def set_token(token: str | None) -> contextvars.Token:
    """Use this token for Hub calls in the current context (None: fall back to HF_TOKEN)."""
    return _TOKEN.set(token.strip() if token and token.strip() else None)


def token_kwargs() -> dict[str, Any]:
    """`token=...` for from_pretrained/load_dataset when a run-specific token is set; else nothing."""
    token = _TOKEN.get()
    return {"token": token} if token else {}


def redact(text: str) -> str:
    """Replace any Hugging Face token (the run's, HF_TOKEN, or anything shaped like one) with a mask."""
    if not text:
        return text
    for secret in (_TOKEN.get(), os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")):
        if secret:
            text = text.replace(secret, MASK)
    return TOKEN_PATTERN.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks tokens in every record before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
