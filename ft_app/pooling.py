"""Put a new classification head on the pooling a sentence-embedding model was trained with.

`AutoModelForSequenceClassification` on a BERT-family model reads the pooler: a dense layer + tanh on
the first token ([CLS]). A sentence-transformers model (all-MiniLM-L6-v2, all-mpnet, e5, gte...) was
trained through *mean pooling* of all tokens instead: its pooler was never trained (all-MiniLM-L6-v2
ships one with zero bias and weights of std 0.009, whose outputs are ~0.06 in size) and its [CLS]
vector is a worse sentence summary than the mean. A head trained on that pooler barely moves.

For head-only and full fine-tuning (whose result is the whole model) this module appends one fixed,
frozen encoder layer that computes the mean pooling at the first position, so the pooler (trained with
the head) reads the sentence embedding the model was made for. It is an ordinary layer of the same class,
so the result saves with `save_pretrained` and reloads with plain `AutoModelForSequenceClassification`,
giving the same predictions:

- attention: query and key weights are zero, so every score is 0 and the softmax spreads evenly over
  the real (unmasked) tokens; value is the identity, so the first position gets the mean of the token
  vectors, which the output projection scales by `MEAN_SCALE` so that the residual (the [CLS] vector
  itself) is a 1% nudge;
- the attention LayerNorm (weight 1, bias 0) normalises that mean (what the model's own Normalize step
  does up to centring), and the feed-forward block adds zero, so its LayerNorm leaves it unchanged.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MODULES_FILE = "modules.json"  # a sentence-transformers model lists its stages here
POOLING_TYPE = "sentence_transformers.models.Pooling"
# The mean is scaled this much above the residual [CLS] vector; small enough for fp16 (mean values are ~1).
MEAN_SCALE = 100.0
# Marks a model that already carries the pooling layer (a saved head-only run), so it is not added twice.
CONFIG_FLAG = "ft_app_mean_pooling_layer"


def sentence_pooling(source: str, read_file: Any = None) -> str | None:
    """The pooling a sentence-transformers model was trained with ('mean', 'cls', 'max', ...), or None.

    `read_file(name)` returns the text of a file of the model (None when it has none); by default the
    files are read from a local folder only.
    """
    read = read_file or _folder_reader(source)
    modules_text = read(MODULES_FILE)
    if not modules_text:
        return None
    try:
        modules = json.loads(modules_text)
        path = next(m.get("path", "") for m in modules if str(m.get("type", "")).endswith("Pooling"))
    except (ValueError, StopIteration, AttributeError, TypeError):
        log.info("%s has a modules.json without a readable Pooling stage; using the model's own head.", source)
        return None
    pooling_text = read(f"{path}/config.json" if path else "config.json")
    if not pooling_text:
        return None
    try:
        settings = json.loads(pooling_text)
    except ValueError:
        return None
    modes = [k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token") for k, v in settings.items()
             if k.startswith("pooling_mode_") and v is True]
    mode = settings.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    return modes[0] if len(modes) == 1 else None


def can_add_mean_pooling(model: Any) -> bool:
    """Whether the model's encoder is made of BERT-style layers a fixed mean-pooling layer can be built from."""
    body = getattr(model, getattr(model, "base_model_prefix", ""), None)
    layers = getattr(getattr(body, "encoder", None), "layer", None)
    if not layers or getattr(body, "pooler", None) is None:
        return False
    if getattr(model.config, "position_embedding_type", "absolute") != "absolute":
        return False  # relative position scores would make the attention uneven
    last = layers[-1]
    try:
        parts = (
            last.attention.self.query, last.attention.self.key, last.attention.self.value,
            last.attention.output.dense, last.attention.output.LayerNorm,
            last.intermediate.dense, last.output.dense, last.output.LayerNorm,
        )
    except AttributeError:
        return False
    return all(hasattr(p, "weight") for p in parts)


def has_mean_pooling_layer(model: Any) -> bool:
    """Whether this model already ends in the fixed mean-pooling layer."""
    return bool(getattr(model.config, CONFIG_FLAG, False))


def add_mean_pooling_layer(model: Any) -> Any:
    """Append the fixed mean-pooling layer to a BERT-style model's encoder (in place); returns the layer."""
    import torch

    body = getattr(model, model.base_model_prefix)
    layers = body.encoder.layer
    layer = copy.deepcopy(layers[-1])
    hidden = model.config.hidden_size
    with torch.no_grad():
        attn = layer.attention
        for linear in (attn.self.query, attn.self.key, layer.intermediate.dense, layer.output.dense):
            linear.weight.zero_()
            linear.bias.zero_()
        eye = torch.eye(hidden, dtype=attn.self.value.weight.dtype, device=attn.self.value.weight.device)
        attn.self.value.weight.copy_(eye)
        attn.self.value.bias.zero_()
        attn.output.dense.weight.copy_(MEAN_SCALE * eye)
        attn.output.dense.bias.zero_()
        for norm in (attn.output.LayerNorm, layer.output.LayerNorm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
    for module in layer.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # the pooling is fixed: no noise in training either (the config's rate applies after reload)
    for module in layer.modules():
        if hasattr(module, "layer_idx"):
            module.layer_idx = len(layers)
    for p in layer.parameters():
        p.requires_grad = False
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)
    setattr(model.config, CONFIG_FLAG, True)
    return layer


def start_pooler_as_identity(model: Any) -> None:
    """Start the pooler (dense + tanh) as the identity, so the new head first reads the sentence embedding itself.

    The pooler of a sentence-embedding model was never trained (weights of std 0.009: outputs ~0.06, a head on it
    learns slowly). From the identity the pooler passes tanh of the normalised mean on, and a head-only run starts
    as a linear probe on the embedding that the pooler may then bend. Used for head-only runs (bench/README.md).
    """
    import torch

    dense = model.base_model.pooler.dense
    with torch.no_grad():
        dense.weight.copy_(torch.eye(dense.weight.shape[0], dtype=dense.weight.dtype, device=dense.weight.device))
        dense.bias.zero_()


def _folder_reader(source: str) -> Any:
    folder = Path(source).expanduser()

    def read(name: str) -> str | None:
        path = folder / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return read
