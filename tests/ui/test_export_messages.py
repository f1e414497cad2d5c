"""Messages that stay (issue 17 item 8): a Publish failure is kept in the Export tab's publish box, whole and in
words, instead of a toast that vanished, cut off mid-URL, with "[Errno -2] Name or service not known" in it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ft_app.ui import export_tab, words
from ft_app.ui.common import MESSAGE_LIMIT
from tests.export_runs import train_case
from tests.ui.conftest import build_studio

TOKEN = "hf_" + "x" * 34


def test_a_publish_failure_stays_in_the_publish_box_whole_and_in_words(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # a person who is online as far as the app knows
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    # A long address, as a mirror's can be: the whole of it is in the box (a toast cut it off at 200 characters).
    endpoint = "https://hub-mirror-of-our-department." + ".".join(["fine-tuning-course-of-the-spring-term"] * 4) + ".invalid"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    ctx, _ = build_studio(tmp_path / "runs")
    run = train_case("classification-lora", request, tmp_path_factory)
    shutil.copytree(run, ctx.store.path(run.name))

    note = export_tab.publish_on_page(ctx, run.name, "", True, "result", TOKEN)
    assert note.startswith(words.PUBLISH_FAILED.split("{")[0])
    assert endpoint in note and "could not be looked up" in note and "Nothing was uploaded." in note
    assert "Errno" not in note and "…" not in note and len(note) > MESSAGE_LIMIT
    assert TOKEN not in note

    # An API client still gets a refusal as an error (the endpoint keeps its contract).
    with pytest.raises(ValueError, match="could not be looked up"):
        export_tab.publish(ctx, run.name, "", True, "result", TOKEN)
    # A refusal before any upload (no token on this server) is kept there too.
    monkeypatch.delenv("HF_TOKEN", raising=False)
    note = export_tab.publish_on_page(ctx, run.name, "", True, "result", "")
    assert "Publishing needs a Hugging Face token" in note
