"""The LoRA zip's usage snippet loads clean (issue 17 item 8): no `classifier.weight | MISSING` report - the label
count and names are passed, and the head the run saved (modules_to_save) is the one that answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ft_app.compare import Comparer
from ft_app.export.archive import build_zip
from tests.export_runs import train_case

REPORT = re.compile(r"\b(MISSING|UNEXPECTED|MISMATCH)\b|newly initialized|were not used|missing adapter keys", re.I)


def test_the_lora_classifier_snippet_loads_clean_and_answers_like_compare(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    run_dir = train_case("classification-lora", request, tmp_path_factory)
    archive = build_zip(run_dir, tmp_path / "download" / "run.zip")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    top = tmp_path / "unzipped" / run_dir.name
    code = re.search(r"```python\n(.*?)```", (top / "README.md").read_text(encoding="utf-8"), re.S).group(1)
    assert "num_labels" in code and "id2label" in code
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # -I: no repo on sys.path; the snippet runs from the unzipped folder as its README says.
    # The snippet as it is, then the probabilities it gave: the head the run saved answers, not a new random one.
    probe = code + "\nimport json, torch\nprint(json.dumps(torch.softmax(logits.float(), -1)[0].tolist()))\n"
    proc = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, env=env, cwd=top,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = [line for line in (proc.stdout + proc.stderr).splitlines() if REPORT.search(line)]
    assert not report, "\n".join(report)
    text = json.loads(code.split("tokenizer(", 1)[1].split(", return_tensors")[0])
    answer = Comparer().compare(run_dir, text).finetuned
    printed, probabilities = proc.stdout.strip().splitlines()[-2:]
    assert printed == answer.label
    expected = [answer.probabilities[name] for name in json.loads(code.split("labels = ", 1)[1].splitlines()[0])]
    assert json.loads(probabilities) == pytest.approx(expected, abs=1e-4)
