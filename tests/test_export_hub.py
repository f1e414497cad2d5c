"""Publishing to the Hub, against a local fake Hub: what arrives, private by default, one commit, the token only in
the Authorization header and nowhere on disk; offline, bad-token and demo-mode failures change nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from ft_app.export.hub import HubUnreachableError, publish_model, publish_space
from ft_app.export.merge import merge_lora
from ft_app.hosting import HostSettings
from tests.export_runs import train_case
from tests.fixtures.fake_hub import FakeHub

TOKEN = "hf_FakeHubWriteToken1234567890"
USER = "alice"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """The fake Hub on 127.0.0.1 with HF_ENDPOINT pointed at it and offline mode off for this test."""
    import huggingface_hub.constants

    with FakeHub(tokens={TOKEN: USER}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # where a saved token would land
        yield server


@pytest.fixture
def lora_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_case("classification-lora", request, tmp_path_factory)


def _token_only_in_authorization(hub: FakeHub) -> None:
    assert hub.requests
    for r in hub.requests:
        assert TOKEN not in r.path and TOKEN not in json.dumps(r.query)
        assert TOKEN.encode() not in r.body
        assert all(TOKEN not in v for k, v in r.headers.items() if k != "authorization"), r.headers
        assert r.headers.get("authorization") == f"Bearer {TOKEN}"


def _no_file_holds(folder: Path, secret: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the token was written to {path}"


def test_publish_adapter_private_in_one_commit(hub: FakeHub, lora_run: Path, tmp_path: Path) -> None:
    result = publish_model(lora_run, token=TOKEN)
    base = Path(json.loads((lora_run / "config.json").read_text())["model"]["name_or_path"]).name
    assert result.repo_id == f"{USER}/{base}-{lora_run.name}"
    assert result.url == f"{hub.url}/{result.repo_id}" and result.private
    repo = hub.repo(result.repo_id)
    assert repo.private and len(repo.commits) == 1
    assert repo.commits[0].message == f"Upload LoRA adapter of run {lora_run.name} (Fine-Tune Studio)"
    # The adapter, its tokenizer, the card, the curve and the run's own files, byte for byte.
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "labels.json"):
        assert repo.files[name] == (lora_run / "adapter" / name).read_bytes()
    assert repo.files["loss_curve.png"].startswith(b"\x89PNG")
    for name in ("config.json", "eval.json", "metrics.jsonl", "compare.jsonl", "data.json"):
        assert repo.files[f"fine_tune_studio/{name}"] == (lora_run / name).read_bytes()
    assert "training_args.bin" not in repo.files
    card_path = tmp_path / "README.md"
    card_path.write_bytes(repo.files["README.md"])
    card = ModelCard.load(card_path)
    assert card.data.library_name == "peft" and card.data.model_name == result.repo_id.split("/")[1]
    assert f'from_pretrained("{result.repo_id}"' in card.text
    assert set(repo.files) == set(result.files)
    _token_only_in_authorization(hub)
    _no_file_holds(tmp_path, TOKEN)
    _no_file_holds(lora_run, TOKEN)


def test_publish_merged_model_public_under_a_chosen_name(hub: FakeHub, lora_run: Path) -> None:
    merge_lora(lora_run)
    result = publish_model(lora_run, "sentiment-merged", token=TOKEN, private=False, merged=True)
    assert result.repo_id == f"{USER}/sentiment-merged" and not result.private
    repo = hub.repo(result.repo_id)
    assert not repo.private
    assert repo.files["model.safetensors"] == (lora_run / "merged" / "model.safetensors").read_bytes()
    assert "adapter_config.json" not in repo.files
    assert b"library_name: transformers" in repo.files["README.md"]
    assert repo.commits[0].message.startswith("Upload merged model of run")


def test_token_from_hf_token_env(hub: FakeHub, lora_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = publish_model(lora_run, f"{USER}/from-env")
    assert hub.repo(result.repo_id).commits


def test_bad_token_changes_nothing(hub: FakeHub, lora_run: Path) -> None:
    with pytest.raises(ValueError, match=r"refused the token \(401\).*Nothing was uploaded") as err:
        publish_model(lora_run, token="hf_WrongTokenWrongToken123")
    assert "hf_WrongTokenWrongToken123" not in str(err.value)
    assert hub.repos == {} and [r.path for r in hub.requests] == ["/api/whoami-v2"]


def test_no_token_says_where_to_put_one(hub: FakeHub, lora_run: Path) -> None:
    with pytest.raises(ValueError, match="needs a Hugging Face token with write access"):
        publish_model(lora_run)
    assert hub.requests == []


def test_another_namespace_is_refused_plainly(hub: FakeHub, lora_run: Path) -> None:
    with pytest.raises(ValueError, match=r"refused this token access there \(403\).*Nothing was uploaded"):
        publish_model(lora_run, "someone-else/model", token=TOKEN)
    assert hub.repos == {}


def test_bad_repo_name_is_refused_before_anything(hub: FakeHub, lora_run: Path) -> None:
    with pytest.raises(ValueError, match="Repo name 'a b/c' is not valid"):
        publish_model(lora_run, "a b/c", token=TOKEN)
    assert hub.repos == {}


def test_offline_mode_changes_nothing(hub: FakeHub, lora_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE=1.*Nothing was uploaded"):
        publish_model(lora_run, token=TOKEN)
    assert hub.requests == []


def test_unreachable_hub_says_so(lora_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(HubUnreachableError, match=f"127.0.0.1:{port} cannot be reached.*Nothing was uploaded") as err:
        publish_model(lora_run, token=TOKEN)
    assert TOKEN not in str(err.value)


def test_demo_mode_refuses_publishing(hub: FakeHub, lora_run: Path) -> None:
    with pytest.raises(ValueError, match="demo server: publishing to the Hub is switched off"):
        publish_model(lora_run, token=TOKEN, host=HostSettings(demo=True))
    with pytest.raises(ValueError, match="demo server"):
        publish_space(lora_run, token=TOKEN, host=HostSettings(demo=True))
    assert hub.requests == []


def test_publish_demo_space(hub: FakeHub, lora_run: Path) -> None:
    result = publish_space(lora_run, token=TOKEN, model_repo=f"{USER}/published-model")
    assert result.repo_type == "space" and result.repo_id.endswith("-demo") and result.private
    assert result.url == f"{hub.url}/spaces/{result.repo_id}"
    repo = hub.repo(result.repo_id, "space")
    assert repo.sdk == "gradio" and repo.private and len(repo.commits) == 1
    assert set(repo.files) == {"app.py", "demo.json", "requirements.txt", "README.md"}
    settings = json.loads(repo.files["demo.json"])
    assert settings["finetuned"] == f"{USER}/published-model" and settings["is_adapter"]
    readme = repo.files["README.md"].decode()
    assert readme.startswith("---\n") and "sdk: gradio" in readme and "app_file: app.py" in readme
    assert "local folder" in result.note  # the tiny base is a local folder a Space cannot reach
    _token_only_in_authorization(hub)
