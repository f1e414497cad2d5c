"""Preference tuning: pairs of a good (chosen) and a bad (rejected) answer to the same prompt, trained with TRL's
DPOTrainer (or its ORPO trainer), on a causal LM.

The data is TRL's usual shape: `prompt`, `chosen`, `rejected` columns, each a text or a list of chat messages
(conversational form), or `chosen` and `rejected` conversations that share their prompt turns (no prompt column).
A person who writes "this answer, not that one" has exactly this data.

The held-out measure is the preference accuracy: the share of held-out pairs where the model gives the chosen answer a
higher log-probability than the rejected one, given the prompt, computed with plain transformers code (the same for
the base and the fine-tuned model), with the mean log-probability margin beside it.
"""

from __future__ import annotations

import logging
from typing import Any

from ft_app.config import DataConfig, RunConfig
from ft_app.data import ColumnMapping
from ft_app.tasks.base import Encoder, Metric
from ft_app.tasks.causal_lm import DEFAULT_PROMPT_TEMPLATE, CausalLMTask, normalize_messages, uses_chat_template

log = logging.getLogger(__name__)

# Pairs scored at once when measuring the preference accuracy.
SCORE_BATCH = 8


def _as_messages(value: Any, role: str) -> list[dict[str, str]]:
    """A cell as chat messages: a list of messages as it is, a text as one message of `role`."""
    if isinstance(value, list):
        return normalize_messages(value)
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict):
        return normalize_messages([value])
    else:
        text = "" if value is None else str(value)
    return [{"role": role, "content": text}]


def split_pair(row: dict[str, Any], mapping: ColumnMapping, data: DataConfig) -> tuple[list, list, list]:
    """A row as (prompt messages, chosen answer messages, rejected answer messages).

    Without a prompt column, `chosen` and `rejected` are whole conversations: their shared first turns are the prompt.
    """
    chosen = _as_messages(row[mapping.chosen], "assistant")
    rejected = _as_messages(row[mapping.rejected], "assistant")
    if mapping.prompt:
        prompt = _as_messages(row[mapping.prompt], "user")
    else:
        shared = 0
        while (shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]):
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    if data.system_prompt and (not prompt or prompt[0]["role"] != "system"):
        prompt = [{"role": "system", "content": data.system_prompt}] + prompt
    return prompt, chosen, rejected


def _text_of(messages: list[dict[str, str]]) -> str:
    return "\n\n".join(m["content"] for m in messages)


def _last_user(messages: list[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else _text_of(messages)


def render_pair(prompt: list, answer: list, tokenizer: Any, data: DataConfig) -> tuple[str, str, bool]:
    """(prompt text, answer text, special tokens written in the text) as the model reads them: the chat template
    where the run uses it (the answer is what the template adds after the generation prompt), else the instruction
    template with the answer and the end-of-text token."""
    if uses_chat_template(tokenizer, data):
        head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(prompt + answer, tokenize=False)
        if not full.startswith(head):
            raise ValueError(
                "This model's chat template writes the prompt differently once an answer follows it, so a good and a bad "
                "answer cannot be compared on the same prompt. Pick a model whose chat template keeps the prompt as it is."
            )
        return head, full[len(head):], True
    system = [m["content"] for m in prompt if m["role"] == "system"]
    body = _text_of([m for m in prompt if m["role"] != "system"])
    head = (data.template or DEFAULT_PROMPT_TEMPLATE).replace("{prompt}", body).replace("{input}", "")
    head = "\n\n".join([*system, head]) if system else head
    return head, _text_of(answer) + (tokenizer.eos_token or ""), False


class PreferenceTask(CausalLMTask):
    """A causal LM taught to prefer the chosen answers over the rejected ones (DPO or ORPO, from TRL)."""

    name = "preference"
    label = "Prefer good answers over bad ones (preference pairs, DPO)"
    short = "preference tuning"
    max_passes = 1  # one pass over the pairs (bench/preference_spike.py); more passes drift far from the base
    min_passes = 1
    groups_by_length = False  # TRL's trainers batch the pairs themselves
    counts_tokens = False
    metrics = (
        Metric("preference_accuracy", "preference accuracy", "accuracy", "Preference accuracy",
               "share of held-out pairs where it finds the good answer more likely than the bad one", "pct", True),
        Metric("margin", "log-probability margin", "margin", "Margin",
               "how much more likely it finds the good answer than the bad one (log-probability, summed over the "
               "answer); higher is better", "num", True),
    )
    best_metric = "eval_loss"  # the preference loss on the held-out pairs
    curve_extras = (("rewards/margins", "reward margin"), ("rewards/accuracies", "preference accuracy"))
    mapping_parts = ("prompt", "chosen", "rejected")
    card_limitation = ("It learned to prefer answers like the chosen ones in its pairs; it can still give wrong or "
                       "made-up answers. Check them before relying on it.")

    # ---- data ----------------------------------------------------------------------------------------------------

    def detect_columns(self, pick: Any, data: Any) -> ColumnMapping:
        """A chosen and a rejected column, with a prompt column unless both are whole conversations."""
        chosen = pick("chosen", data.chosen_column)
        rejected = pick("rejected", data.rejected_column, (chosen,))
        if not (chosen and rejected):
            missing = "a good-answer ('chosen')" if not chosen else "a bad-answer ('rejected')"
            raise ValueError(
                f"Preference data needs {missing} column. The columns are: {pick.listed}. Name them 'prompt', "
                "'chosen' and 'rejected', or map them in the Data tab."
            )
        prompt = pick("prompt", data.prompt_column, (chosen, rejected))
        return ColumnMapping(prompt=prompt, chosen=chosen, rejected=rejected)

    def check_rows(self, train: Any, mapping: Any) -> None:
        """Refuse pairs whose two answers are all the same: there is nothing to prefer."""
        same = sum(1 for c, r in zip(train[mapping.chosen], train[mapping.rejected]) if c == r)
        if same == len(train):
            raise ValueError(
                f"In every row the '{mapping.chosen}' and '{mapping.rejected}' answers are the same, so there is "
                "nothing to prefer. Each row needs a good answer and a different, worse one."
            )
        if same:
            log.warning("%d of %d pairs have the same chosen and rejected answer; they teach nothing.", same, len(train))

    def example_segments(self, row: dict[str, Any], mapping: Any, tokenizer: Any, data: Any,
                         max_length: int) -> list[tuple[str, str | None]] | None:
        """The pair as a person reads it: the prompt, the good answer (what it learns to prefer), the bad one."""
        prompt, chosen, rejected = split_pair(row, mapping, data)
        return [(f"Prompt: {_last_user(prompt)}\n", None), (f"✔ Good answer: {_text_of(chosen)}\n", "trained"),
                (f"✘ Bad answer: {_text_of(rejected)}", "cut")]

    def token_lengths(self, rows: Any, mapping: Any, tokenizer: Any, data: Any,
                      max_length: int) -> tuple[list[int], int, int]:
        """Tokens of the prompt with its longer answer; pairs whose prompt alone fills max length lose both answers."""
        lengths, cut = [], 0
        for row in rows:
            prompt, chosen, rejected = split_pair(row, mapping, data)
            head, good, special = render_pair(prompt, chosen, tokenizer, data)
            _, bad, _ = render_pair(prompt, rejected, tokenizer, data)
            n_head = len(tokenizer(head, add_special_tokens=not special)["input_ids"])
            n_answer = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (good, bad))
            lengths.append(n_head + n_answer)
            cut += n_head >= max_length
        return lengths, cut, 0

    def encoder(self, config: RunConfig, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        """Rows as TRL reads them: conversational prompt/chosen/rejected where the chat template is used, texts
        otherwise; a length column (0 drops a pair whose answers are the same or empty)."""
        chat = uses_chat_template(tokenizer, config.data)

        def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
            rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
            out: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": [], "length": []}
            for row in rows:
                prompt, chosen, rejected = split_pair(row, mapping, config.data)
                if chat:
                    out["prompt"].append(prompt)
                    out["chosen"].append(chosen)
                    out["rejected"].append(rejected)
                else:
                    head, good, _ = render_pair(prompt, chosen, tokenizer, config.data)
                    out["prompt"].append(head)
                    out["chosen"].append(good)
                    out["rejected"].append(render_pair(prompt, rejected, tokenizer, config.data)[1])
                useful = _text_of(chosen).strip() and _text_of(chosen) != _text_of(rejected)
                out["length"].append(1 if useful else 0)
            return out

        return encode

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        return None  # TRL's trainers pad the pairs themselves

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        prompt, chosen, _ = split_pair(row, mapping, DataConfig(train=""))
        return {"input": _last_user(prompt), "reference": _text_of(chosen)}

    # ---- training ----------------------------------------------------------------------------------------------

    def arguments_class(self, config: RunConfig) -> tuple[Any, dict[str, Any]]:
        """TRL's config class for the run's trainer and the preference knobs it takes."""
        if config.training.preference_loss == "orpo":
            from trl.experimental.orpo import ORPOConfig

            cls: Any = ORPOConfig
        else:
            from trl import DPOConfig

            cls = DPOConfig
        return cls, {"beta": config.training.preference_beta, "max_length": config.max_length,
                     # TRL's defaults are made for GPUs; the run's precision and memory savers are already set.
                     "dataloader_num_workers": 0}

    def make_trainer(self, config: RunConfig, kwargs: dict[str, Any]) -> Any:
        """TRL's DPOTrainer (the reference is the model as it started: the adapter switched off, or a copy for full
        fine-tuning) or ORPOTrainer (no reference)."""
        kwargs = {k: v for k, v in kwargs.items() if k not in ("data_collator", "compute_metrics", "compute_loss_func")}
        if config.training.preference_loss == "orpo":
            from trl.experimental.orpo import ORPOTrainer

            return ORPOTrainer(**kwargs)
        from trl import DPOTrainer

        return DPOTrainer(**kwargs)

    def held_out_metrics(self, model: Any, tokenizer: Any, rows: Any, mapping: Any, config: RunConfig
                         ) -> dict[str, Any] | None:
        """Preference accuracy and mean margin on the held-out pairs, the same code for the base and the result."""
        import torch

        pairs = [split_pair(r, mapping, config.data) for r in rows]
        scored = []
        for prompt, chosen, rejected in pairs:
            head, good, special = render_pair(prompt, chosen, tokenizer, config.data)
            _, bad, _ = render_pair(prompt, rejected, tokenizer, config.data)
            scored.append((head, good, bad, special))
        logps: list[tuple[float, float]] = []
        model.eval()
        with torch.no_grad():
            for i in range(0, len(scored), SCORE_BATCH):
                batch = scored[i:i + SCORE_BATCH]
                texts = [(h, a, s) for h, g, b, s in batch for a in (g, b)]
                sums = answer_logprobs(model, tokenizer, texts, config.max_length)
                logps += list(zip(sums[0::2], sums[1::2]))
        if not logps:
            return {}
        wins = sum(1 for c, r in logps if c > r)
        return {"preference_accuracy": wins / len(logps), "margin": sum(c - r for c, r in logps) / len(logps),
                "rows": len(logps)}

    def change_sentence(self, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        if "preference_accuracy" not in before or "preference_accuracy" not in after:
            return None
        b, a = before["preference_accuracy"], after["preference_accuracy"]
        gain = a - b
        verdict = ("better than before training" if gain > 0.005 else
                   "worse than before training" if gain < -0.005 else "about the same as before training")
        return (f"Preference accuracy {b:.1%} -> {a:.1%} ({gain * 100:+.1f} points), margin {before['margin']:.2f} -> "
                f"{after['margin']:.2f} on {after.get('rows', 0)} held-out pairs: {verdict}.")

    def card_purpose(self, label_names: list[str] | None, fmt: Any) -> str:
        return ("It was taught with preference pairs to prefer answers like the chosen ones over the rejected ones "
                "(prompts formatted with " + ("the tokenizer's chat template)." if fmt.mode == "chat"
                                              else "a prompt template)."))


def answer_logprobs(model: Any, tokenizer: Any, texts: list[tuple[str, str, bool]], max_length: int) -> list[float]:
    """For each (prompt, answer, special tokens in text): the answer's log-probability given the prompt, summed over
    its tokens (the prompt's start is cut where the two do not fit in `max_length`)."""
    import torch

    rows, spans = [], []
    for head, answer, special in texts:
        head_ids = tokenizer(head, add_special_tokens=not special)["input_ids"]
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"][:max_length - 1]
        head_ids = head_ids[-(max_length - len(answer_ids)):]
        rows.append(head_ids + answer_ids)
        spans.append((len(head_ids), len(head_ids) + len(answer_ids)))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
    return [float(logprobs[i, start - 1:end - 1].sum()) for i, (start, end) in enumerate(spans)]


TASK = PreferenceTask()
