"""The server's first use of transformers and datasets from two threads at once (ft_app/libraries.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.engine_checks import REPO_ROOT

RACE = """
import json, sys, threading
from ft_app import data
from ft_app.config import ModelConfig
from ft_app.modeling import load_model_config

errors, barrier = [], threading.Barrier(2)

def plan_line():  # the Train tab's plan reads the model's config: the server's first import of transformers
    barrier.wait()
    try:
        load_model_config(ModelConfig(sys.argv[2]))
    except Exception as exc:
        errors.append(repr(exc))

def preview():  # meanwhile an upload is read and hashed by datasets, whose pickler looks into transformers
    barrier.wait()
    try:
        data.load_table(sys.argv[1]).map(lambda row: row)
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=f) for f in (plan_line, preview)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(errors))
"""


def test_a_data_preview_beside_the_first_model_check_reads_the_file(
    sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    """Before the fix the preview failed every time: "module 'transformers' has no attribute 'PreTrainedTokenizerBase'"."""
    proc = subprocess.run([sys.executable, "-c", RACE, str(sentiment_csv), str(tiny_bert_dir)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
