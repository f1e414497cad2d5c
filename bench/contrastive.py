"""SetFit-style training on SST-2 with MiniLM: tune the body contrastively on pairs, then fit a head on its embeddings.

SetFit (Tunstall et al., 2022) first tunes a sentence-embedding model so that rows of the same label embed close
together and rows of different labels far apart (cosine similarity pushed to 1 or 0), then fits a logistic
regression on the tuned, frozen embeddings. This script tries that on the same seeded SST-2 rows as
`auto_recipe.py` and `full_knobs.py`, to see whether it beats plain full fine-tuning on small data:

- `--pairs N`: SetFit's pairs: for every row, N times, one row of its label and one of another label;
- `--pairs 0 --in-batch`: every pair inside each batch of rows (B rows give B x (B - 1) / 2 pairs for B forward
  passes), the same loss;
- `--pairs 0`: no tuning at all: the head on the pretrained embeddings (the frozen baseline).

The head is an L2-regularised logistic regression on the L2-normalised mean-pooled embeddings, fitted with L-BFGS
for several strengths C; each is scored on all 872 dev rows (tune on dev only). Body tuning: AdamW, 10% warm-up
then linear decay.

    python bench/contrastive.py --rows 400 --seeds 42 --pairs 5 --lr 2e-5 --batch 16
    python bench/contrastive.py --rows 400 --seeds 42 --pairs 0 --in-batch --epochs 8 --batch 32 --lr 1e-4
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from full_knobs import minilm_dir, padded, sst2_rows  # noqa: E402  (also sets the offline flags and the repo path)

STRENGTHS = (0.1, 1.0, 10.0, 100.0)


def embed(model: Any, rows: list[list[int]], batch: int = 64) -> Any:
    """Mean-pooled token vectors of tokenized rows (with gradients when the model is training)."""
    import torch

    out = []
    for i in range(0, len(rows), batch):
        ids, mask = padded(rows[i : i + batch])
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        out.append((hidden * weights).sum(1) / weights.sum(1))
    return torch.cat(out)


def logistic_regression_accuracy(x: Any, y: Any, x_dev: Any, y_dev: Any, strength: float) -> float:
    """Dev accuracy of an L2-regularised logistic regression (inverse strength C, as scikit-learn's) on normalised rows."""
    import torch

    x, x_dev = torch.nn.functional.normalize(x, dim=-1), torch.nn.functional.normalize(x_dev, dim=-1)
    classes = int(y.max()) + 1
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> Any:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + (w**2).sum() / (2 * strength * len(y))
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((x_dev @ w + b).argmax(-1) == y_dev).float().mean())


def pair_batches(labels: list[int], repeats: int, batch: int, rng: random.Random) -> list[list[tuple[int, int, float]]]:
    """SetFit's pairs in batches: per row and repeat, one same-label partner (target 1) and one other-label one (0)."""
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    pairs = []
    for _ in range(repeats):
        for i, y in enumerate(labels):
            pairs.append((i, rng.choice(by_label[y]), 1.0))
            other = rng.choice([k for k in by_label if k != y])
            pairs.append((i, rng.choice(by_label[other]), 0.0))
    rng.shuffle(pairs)
    return [pairs[i : i + batch] for i in range(0, len(pairs), batch)]


def tune_and_score(model_dir: Path, train: list, dev: list, seed: int, opts: argparse.Namespace) -> dict[str, Any]:
    """Tune the body as asked, then the head's dev accuracy for each regularisation strength."""
    import torch
    from transformers import AutoModel, AutoTokenizer, set_seed

    set_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir)
    x_train = [tokenizer(t, truncation=True, max_length=128)["input_ids"] for _, t in train]
    x_dev = [tokenizer(t, truncation=True, max_length=128)["input_ids"] for _, t in dev]
    y_train = torch.tensor([y for y, _ in train])
    y_dev = torch.tensor([y for y, _ in dev])
    labels = y_train.tolist()
    if opts.pairs:
        batches = [b for _ in range(opts.epochs) for b in pair_batches(labels, opts.pairs, opts.batch, rng)]
    elif opts.in_batch:
        batches = []
        for _ in range(opts.epochs):
            order = torch.randperm(len(train)).tolist()
            batches += [order[i : i + opts.batch] for i in range(0, len(order), opts.batch)]
    else:
        batches = []
    started = time.perf_counter()
    if batches:
        optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.0)
        warm = math.ceil(0.1 * len(batches))
        model.train()
        for step, chunk in enumerate(batches):
            scale = step / max(1, warm) if step < warm else max(0.0, (len(batches) - step) / max(1, len(batches) - warm))
            for group in optimizer.param_groups:
                group["lr"] = opts.lr * scale
            if opts.pairs:
                a = embed(model, [x_train[i] for i, _, _ in chunk], opts.batch)
                b = embed(model, [x_train[j] for _, j, _ in chunk], opts.batch)
                cosine = torch.nn.functional.cosine_similarity(a, b)
                loss = torch.nn.functional.mse_loss(cosine, torch.tensor([t for _, _, t in chunk]))
            else:
                e = torch.nn.functional.normalize(embed(model, [x_train[i] for i in chunk], opts.batch), dim=-1)
                y = y_train[chunk]
                same = (y[:, None] == y[None, :]).float()
                off_diagonal = ~torch.eye(len(chunk), dtype=torch.bool)
                loss = ((e @ e.T - same)[off_diagonal] ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        e_train, e_dev = embed(model, x_train), embed(model, x_dev)
    accuracy = {str(c): round(logistic_regression_accuracy(e_train, y_train, e_dev, y_dev, c), 4) for c in STRENGTHS}
    return {"steps": len(batches), "dev_accuracy_by_C": accuracy, "seconds": round(time.perf_counter() - started)}


def main() -> None:
    """One JSON line per seed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--pairs", type=int, default=5, help="SetFit pairs per row and label kind; 0: none")
    parser.add_argument("--in-batch", action="store_true", help="with --pairs 0: every pair within each batch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    opts = parser.parse_args()
    model_dir = minilm_dir()
    train, dev = sst2_rows(opts.rows)
    for seed in opts.seeds:
        result = tune_and_score(model_dir, train, dev, seed, opts)
        print(json.dumps({"rows": opts.rows, "seed": seed, "pairs": opts.pairs, "in_batch": opts.in_batch,
                          "epochs": opts.epochs, "batch": opts.batch, "lr": opts.lr, **result}), flush=True)


if __name__ == "__main__":
    main()
