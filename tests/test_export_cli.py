"""`python -m ft_app export RUN_DIR ...`: each step makes its thing and prints its path (or URL) last; exit codes as
train's: 0 done, 1 failed (Hub unreachable), 2 bad input (with a plain sentence, no traceback)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ft_app.__main__ import main
from tests.engine_checks import run_cli
from tests.export_runs import train_case
from tests.fixtures.fake_hub import FakeHub

TOKEN = "hf_CliFakeHubToken1234567890"


@pytest.fixture
def lora_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_case("classification-lora", request, tmp_path_factory)


def _last_line(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    out, err = capsys.readouterr()
    return out.strip().splitlines()[-1], err


def test_zip_from_the_command_line(lora_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "dl" / "result.zip"
    proc = run_cli(["export", str(lora_run), "--zip", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    with zipfile.ZipFile(out) as zf:
        assert f"{lora_run.name}/adapter/adapter_model.safetensors" in zf.namelist()
    assert "Traceback" not in proc.stderr


def test_merge_card_space_and_recipe(lora_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(lora_run), "--merge"]) == 0
    made, err = _last_line(capsys)
    assert made == str(lora_run / "merged") and (lora_run / "merged" / "model.safetensors").is_file()
    assert "standalone" in err

    assert main(["export", str(lora_run), "--card"]) == 0
    made, _ = _last_line(capsys)
    assert made == str(lora_run / "card" / "README.md") and Path(made).read_text().startswith("---\n")

    assert main(["export", str(lora_run), "--demo-space", str(tmp_path / "space")]) == 0
    made, _ = _last_line(capsys)
    assert made == str(tmp_path / "space") and (tmp_path / "space" / "app.py").is_file()

    assert main(["export", str(lora_run), "--recipe", str(tmp_path / "recipe")]) == 0
    made, err = _last_line(capsys)
    assert made == str(tmp_path / "recipe") and "accelerate launch --config_file accelerate_fsdp.yaml" in err


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    import huggingface_hub.constants

    with FakeHub(tokens={TOKEN: "bob"}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield server


def test_push_private_by_default_and_public_on_request(
    hub: FakeHub, lora_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(lora_run), "--push", "cli-model"]) == 0
    url, err = _last_line(capsys)
    assert url == f"{hub.url}/bob/cli-model" and hub.repo("bob/cli-model").private
    assert "private model repo bob/cli-model" in err and TOKEN not in err

    assert main(["export", str(lora_run), "--push", "cli-public", "--public"]) == 0
    url, _ = _last_line(capsys)
    assert url == f"{hub.url}/bob/cli-public" and not hub.repo("bob/cli-public").private

    assert main(["export", str(lora_run), "--push", "--space"]) == 0
    url, _ = _last_line(capsys)
    space = next(r for (kind, _), r in hub.repos.items() if kind == "space")
    assert url == f"{hub.url}/spaces/{space.repo_id}" and space.private
    assert yaml.safe_load(space.files["README.md"].decode().split("---")[1])["sdk"] == "gradio"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--merge"], 2, "is not a run folder"),
        (["--zip", "x.zip", "--space"], 2, "go with --push"),
    ],
)
def test_bad_input_exits_two(args: list[str], code: int, message: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "no-such-run"), *args]) == code
    out, err = capsys.readouterr()
    assert err.startswith("Error: ") and message in err and out == ""


def test_full_run_cannot_merge_and_no_step_is_an_error(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = train_case("classification-full", request, tmp_path_factory)
    assert main(["export", str(run_dir), "--merge"]) == 2
    assert "no adapter to merge" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(run_dir)])
    assert exit_info.value.code == 2


def test_push_failures(lora_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["export", str(lora_run), "--push"]) == 2
    assert "needs a Hugging Face token" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert main(["export", str(lora_run), "--push"]) == 1  # the tests run with HF_HUB_OFFLINE=1
    assert "Nothing was uploaded" in capsys.readouterr().err
    monkeypatch.setenv("FT_APP_DEMO", "1")
    assert main(["export", str(lora_run), "--push"]) == 2
    assert "demo server" in capsys.readouterr().err


# ---- issue 20, findings 6 and 9 -----------------------------------------------------------------------------------


def _repo_folder(repo: object, folder: Path) -> Path:
    """The files of a fake Hub repo written out as a folder, as `from_pretrained` of the repo would see them."""
    for name, data in repo.files.items():  # type: ignore[attr-defined]
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_merged_after_result_never_mixes_and_the_real_visibility_is_said(
    hub: FakeHub, lora_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    assert main(["export", str(lora_run), "--push"]) == 0  # the adapter, to the default name
    adapter_url, _ = _last_line(capsys)
    adapter_repo = adapter_url.removeprefix(f"{hub.url}/")
    assert main(["export", str(lora_run), "--merge"]) == 0
    assert main(["export", str(lora_run), "--push", "--merged", "--public"]) == 0
    merged_url, err = _last_line(capsys)
    assert merged_url == f"{hub.url}/{adapter_repo}-merged"  # a repo of its own by default
    assert "adapter_config.json" in hub.repo(adapter_repo).files  # the adapter's repo is as it was
    assert "public model repo" in err

    # Merged into the adapter's own repo by name: the adapter's files go in the same commit, so the repo loads as
    # exactly the merged model (an adapter left beside it would be loaded over it).
    assert main(["export", str(lora_run), "--push", adapter_repo.split("/")[1], "--merged"]) == 0
    repo = hub.repo(adapter_repo)
    assert not {"adapter_config.json", "adapter_model.safetensors"} & set(repo.files)
    assert repo.files["model.safetensors"] == (lora_run / "merged" / "model.safetensors").read_bytes()
    folder = _repo_folder(repo, tmp_path / "from-hub")
    tokenizer = AutoTokenizer.from_pretrained(lora_run / "merged")
    inputs = tokenizer(["a fine film", "dull and long"], return_tensors="pt", padding=True)
    with torch.no_grad():
        published = AutoModelForSequenceClassification.from_pretrained(folder)(**inputs).logits
        merged = AutoModelForSequenceClassification.from_pretrained(lora_run / "merged")(**inputs).logits
    assert torch.allclose(published, merged, atol=1e-6)

    # The adapter's repo was private; "public" was asked for the merged model pushed into it: it says what it is.
    _, err = _last_line(capsys)
    assert "private model repo" in err
    assert main(["export", str(lora_run), "--push", adapter_repo.split("/")[1], "--merged", "--public"]) == 0
    _, err = _last_line(capsys)
    assert "to the private model repo" in err and "already existed as a private repo" in err and "still private" in err


def test_exports_never_overwrite_files_they_did_not_make(
    lora_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "my-space"
    space.mkdir()
    (space / "app.py").write_text("my own app\n")
    (space / "README.md").write_text("my notes\n")
    assert main(["export", str(lora_run), "--demo-space", str(space)]) == 2
    err = capsys.readouterr().err
    assert "already has 'README.md' (and 1 more), which Fine-Tune Studio did not make" in err
    assert (space / "app.py").read_text() == "my own app\n" and (space / "README.md").read_text() == "my notes\n"
    assert sorted(p.name for p in space.iterdir()) == ["README.md", "app.py"]  # nothing written beside them

    # Into a new folder it writes; a second export there replaces only its own files.
    fresh = tmp_path / "demo"
    assert main(["export", str(lora_run), "--demo-space", str(fresh)]) == 0
    assert main(["export", str(lora_run), "--demo-space", str(fresh)]) == 0

    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "config.json").write_text("{}")
    assert main(["export", str(lora_run), "--recipe", str(recipe)]) == 2
    assert (recipe / "config.json").read_text() == "{}"

    mine = tmp_path / "holiday.zip"
    mine.write_bytes(b"not a zip of ours")
    assert main(["export", str(lora_run), "--zip", str(mine)]) == 2
    assert mine.read_bytes() == b"not a zip of ours"
    ours = tmp_path / "result.zip"
    assert main(["export", str(lora_run), "--zip", str(ours)]) == 0
    assert main(["export", str(lora_run), "--zip", str(ours)]) == 0  # its own zip, made again
