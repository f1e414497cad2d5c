"""Click Export on a finished run in the real app (headless Chromium): the zip download arrives and holds the
result; the card, the merge and the recipe show; the runs folder itself is never served; publishing with the token
typed in the Model tab reaches a local fake Hub (the app runs with HF_ENDPOINT pointed at it).

Needs Debian's `chromium`; skipped only when it is absent. Screenshots go to $FT_APP_SCREENSHOTS (default tmp_path).
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_checks import make_config, train_with_manager
from tests.fixtures.fake_hub import FakeHub
from tests.ui.conftest import AppServer, start_app, stop_app
from tests.ui.test_app_browser import errors_shown, fill, open_tab, page, screenshots, shot  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install -y chromium)"),
]
HAS_TEXT_JS = "([sel, text]) => ((document.querySelector(sel) || {}).innerText || '').includes(text)"
TOKEN = "hf_BrowserFakeHubToken123456"


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    """A local fake Hub for this module's app."""
    with FakeHub(tokens={TOKEN: "carol"}) as hub:
        yield hub


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory, fake_hub: FakeHub) -> Iterator[AppServer]:
    """The real app, with the Hub it talks to being the fake one (offline mode off for it alone)."""
    home = tmp_path_factory.mktemp("ft_app_home")
    server = start_app(home, home / "app.log", extra_env={"HF_ENDPOINT": fake_hub.url, "HF_HUB_OFFLINE": "0",
                                                         "TRANSFORMERS_OFFLINE": "0", "HF_TOKEN": ""})
    yield server
    stop_app(server)


@pytest.fixture
def finished_lora_run(app_server: AppServer, tiny_bert_dir: Path, sentiment_csv: Path) -> Path:
    """A LoRA run trained by the engine into the app's own runs folder, as a finished run the app finds on disk."""
    config = make_config("classification", tiny_bert_dir, "lora", sentiment_csv,
                         evaluation={"golden_prompts": ["A wonderful film."], "golden_from_heldout": 1})
    snap = train_with_manager(config, app_server.runs_dir)
    assert snap.status == "completed", snap.message
    return snap.run_dir


def test_export_a_finished_run_and_the_download_arrives(
    page: object, app_server: AppServer, finished_lora_run: Path, screenshots: Path, tmp_path: Path,  # noqa: F811
    fake_hub: FakeHub,
) -> None:
    run_id = finished_lora_run.name
    page.goto(app_server.url)
    page.get_by_text("What should the model learn?").wait_for()
    open_tab(page, "6 · Export")
    page.wait_for_function(HAS_TEXT_JS, arg=["#export-info", run_id], timeout=180_000)  # slow when the machine is busy

    # Download: make the zip, then the button hands it over through Gradio's cache.
    page.locator("#export-zip-btn").click()
    button = page.locator("#export-zip-download")
    button.wait_for(state="visible", timeout=120_000)
    with page.expect_download(timeout=60_000) as download:
        button.click()
    assert download.value.suggested_filename == f"{run_id}.zip"
    assert "/gradio_api/file=" in download.value.url and str(app_server.runs_dir) not in download.value.url
    saved = tmp_path / "downloaded.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as zf:
        names = set(zf.namelist())
        assert f"{run_id}/adapter/adapter_model.safetensors" in names and f"{run_id}/README.md" in names
        assert zf.read(f"{run_id}/adapter/adapter_model.safetensors") == (
            finished_lora_run / "adapter" / "adapter_model.safetensors").read_bytes()
    shot(page, screenshots, "6-export-zip")

    # Model card: metadata, curve and the before -> after table.
    page.get_by_text("Model card", exact=True).click()
    page.locator("#export-card-btn").click()
    page.wait_for_function(HAS_TEXT_JS, arg=["#export-card", "Results: before -> after"], timeout=60_000)
    page.locator("#export-card-download").wait_for(state="visible")

    # Merge: the LoRA adapter into the base, with a plain note about what it made.
    page.get_by_text("Merge the LoRA adapter into the base model").click()
    page.locator("#export-merge-btn").click()
    page.wait_for_function(HAS_TEXT_JS, arg=["#export-merge-note", "standalone float32 model"], timeout=120_000)
    assert (finished_lora_run / "merged" / "model.safetensors").is_file()
    page.locator("#export-with-merged").wait_for(state="visible")
    # The recipe at scale: the commands for one machine, DDP, FSDP and several machines.
    page.get_by_text("Run it again, at scale").click()
    page.wait_for_function(HAS_TEXT_JS, arg=["#export-recipe", "accelerate launch --config_file accelerate_fsdp.yaml"],
                           timeout=30_000)
    assert not errors_shown(page)
    shot(page, screenshots, "6-export-card-merge-recipe")

    # Publish with the token typed in the Model tab: private by default, and the link comes back.
    open_tab(page, "1 · Model")
    page.get_by_text("Private or gated model? Your Hugging Face token").click()
    fill(page, "hf-token", TOKEN)
    open_tab(page, "6 · Export")
    page.get_by_text("Publish to the Hugging Face Hub").click()
    fill(page, "export-repo", "browser-model")
    page.locator("#export-publish-btn").click()
    page.wait_for_function(HAS_TEXT_JS, arg=["#export-publish-note", "carol/browser-model"], timeout=120_000)
    repo = fake_hub.repo("carol/browser-model")
    assert repo.private and len(repo.commits) == 1
    assert repo.files["adapter_model.safetensors"] == (finished_lora_run / "adapter" / "adapter_model.safetensors").read_bytes()
    publishing = [r for r in fake_hub.requests if r.path == "/api/whoami-v2" or r.method == "POST"]
    assert {r.path for r in publishing} >= {"/api/whoami-v2", "/api/repos/create", "/api/models/carol/browser-model/commit/main"}
    for r in fake_hub.requests:  # the token travels in the Authorization header and nowhere else
        assert TOKEN not in r.path and TOKEN.encode() not in r.body
        assert all(TOKEN not in v for k, v in r.headers.items() if k != "authorization")
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in publishing if r.path != "/api/validate-yaml")
    for path in app_server.home.rglob("*"):  # nor on disk: not in a run folder, not in the app's log
        assert not path.is_file() or TOKEN.encode() not in path.read_bytes(), path
    assert not errors_shown(page)
    shot(page, screenshots, "6-export-published")

    # The runs folder is never served, even by a direct file URL.
    target = finished_lora_run / "adapter" / "adapter_model.safetensors"
    url = f"{app_server.url}gradio_api/file={urllib.parse.quote(str(target))}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code in (403, 404)
