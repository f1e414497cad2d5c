"""The before/after demo Space: its own app.py launched from the exported folder (no Hub, no ft_app) answers, through
gradio_client, exactly what the studio's Compare tab answers; the README carries the Space front matter."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ft_app.compare import Comparer
from ft_app.export.space import write_demo_space
from tests.export_runs import train_case
from tests.ui.conftest import free_port

START_TIMEOUT_S = 120


def _launch(folder: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # -I: the app runs isolated from this repo (it must not need ft_app).
    process = subprocess.Popen([sys.executable, "-I", "app.py"], cwd=folder, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S:
        if process.poll() is not None:
            pytest.fail(f"the demo app exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    pytest.fail(f"the demo app did not answer within {START_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


@pytest.mark.parametrize("key", ["classification-full", "causal_lm-lora"])
def test_exported_demo_answers_like_the_compare_tab(
    key: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from gradio_client import Client

    run_dir = train_case(key, request, tmp_path_factory)
    folder = write_demo_space(run_dir, tmp_path / "space")
    result = "adapter" if key.endswith("lora") else "model"
    made = {"app.py", "demo.json", "requirements.txt", "README.md", result}
    assert {p.name for p in folder.iterdir()} == made | {".fine_tune_studio.json"}  # what it made, for a later export
    assert set(json.loads((folder / ".fine_tune_studio.json").read_text())["made"]) == made
    assert "ft_app" not in (folder / "app.py").read_text()
    front = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py"
    assert front["sdk_version"] == importlib.metadata.version("gradio")
    requirements = (folder / "requirements.txt").read_text()
    assert f"transformers=={importlib.metadata.version('transformers')}" in requirements
    assert ("peft==" in requirements) == (result == "adapter")

    process, url = _launch(folder, tmp_path / "app.log")
    try:
        client = Client(url, verbose=False)
        comparer = Comparer()
        prompts = [str(r["input"]) for r in json.loads((folder / "demo.json").read_text())["golden"]]
        differ = []
        texts = [prompts[0], "Something it never saw during training."]
        if key.startswith("causal_lm"):
            texts.append("grass " * 300)  # longer than the model reads: both cut the prompt's start the same way
        for text in texts:
            base_text, tuned_text, base_label, tuned_label = client.predict(text, 64, 0, 1, 42, api_name="/compare")
            expected = comparer.compare(run_dir, text)
            if key.startswith("classification"):
                for got_text, got_label, side in ((base_text, base_label, expected.base),
                                                  (tuned_text, tuned_label, expected.finetuned)):
                    assert got_label["label"] == side.label
                    assert got_text == f"{side.label} ({side.probabilities[side.label]:.0%} sure)"
                    confidences = {c["label"]: c["confidence"] for c in got_label["confidences"]}
                    assert confidences == pytest.approx(side.probabilities, abs=1e-6)
            else:
                assert (base_text, tuned_text) == (expected.base.text, expected.finetuned.text)
            differ.append(base_text != tuned_text)
        assert any(differ)  # the two sides are really two models (for an adapter: switched off, then on)
    finally:
        process.terminate()
        process.wait(timeout=30)
