"""The download: the zip holds the result, card, curve, numbers, demo Space and recipe, and what it holds runs with
plain transformers/peft in a fresh process (no Fine-Tune Studio code), for every task, LoRA and full."""

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
from tests.export_runs import RUN_CASES, train_case

# Runs every unzipped folder's README snippet in ONE isolated interpreter (-I: no repo on sys.path, no PYTHONPATH).
RUNNER = r"""
import contextlib, io, json, os, sys
results = {}
for key, folder in json.loads(sys.argv[1]).items():
    os.chdir(folder)
    code = open("README.md", encoding="utf-8").read().split("```python\n", 1)[1].split("```", 1)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md snippet", "exec"), {"__name__": "__main__"})
    results[key] = out.getvalue().strip()
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def unzipped(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each kind of run zipped and unzipped into an empty folder: {case: (run folder, unzipped top folder)}."""
    out = {}
    for key in RUN_CASES:
        run_dir = train_case(key, request, tmp_path_factory)
        folder = tmp_path_factory.mktemp(f"unzip-{key}")
        archive = build_zip(run_dir, folder / "download" / f"{key}.zip")
        target = folder / "unzipped"
        target.mkdir()
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
        out[key] = (run_dir, target / run_dir.name)
    return out


@pytest.fixture(scope="module")
def snippet_outputs(unzipped: dict[str, tuple[Path, Path]]) -> dict[str, str]:
    """What each README's usage snippet printed, run from the unzipped folder in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    folders = {key: str(top) for key, (_, top) in unzipped.items()}
    proc = subprocess.run([sys.executable, "-I", "-c", RUNNER, json.dumps(folders)], capture_output=True, text=True,
                          env=env, cwd="/", timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", list(RUN_CASES))
def test_zip_holds_everything_byte_for_byte(key: str, unzipped: dict[str, tuple[Path, Path]]) -> None:
    run_dir, top = unzipped[key]
    case = RUN_CASES[key]
    result = "adapter" if case.method == "lora" else "model"
    names = {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()}
    expected_top = {"README.md", "loss_curve.png", "config.json", "data.json", "metrics.jsonl", "eval.json",
                    "compare.jsonl", "examples.jsonl"} | ({"labels.json"} if case.task == "classification" else set())
    assert expected_top <= names
    assert {n for n in names if n.startswith("space/")} == {f"space/{n}" for n in
                                                           ("app.py", "demo.json", "requirements.txt", "README.md")}
    assert {"recipe/COMMANDS.md", "recipe/accelerate_ddp.yaml", "recipe/accelerate_fsdp.yaml",
            "recipe/accelerate_multi_machine.yaml", "recipe/config.json"} <= names
    shipped = {n.split("/", 1)[1] for n in names if n.startswith(f"{result}/")}
    on_disk = {p.relative_to(run_dir / result).as_posix() for p in (run_dir / result).rglob("*") if p.is_file()}
    assert shipped == on_disk - {"training_args.bin", "README.md"}  # peft's empty template card is replaced
    for name in shipped | {"config.json", "eval.json", "metrics.jsonl"}:
        path = f"{result}/{name}" if name in shipped else name
        assert (top / path).read_bytes() == (run_dir / path).read_bytes(), path
    assert (top / "loss_curve.png").read_bytes().startswith(b"\x89PNG")
    settings = json.loads((top / "space" / "demo.json").read_text())
    assert settings["finetuned"] == f"../{result}"  # the demo app uses the weights beside it: not zipped twice


@pytest.mark.parametrize("key", list(RUN_CASES))
def test_unzipped_snippet_runs_with_plain_transformers_and_answers_like_compare(
    key: str, unzipped: dict[str, tuple[Path, Path]], snippet_outputs: dict[str, str]
) -> None:
    """The README's code, run from the unzipped folder with no ft_app on the path, gives the Compare tab's answer."""
    run_dir, top = unzipped[key]
    readme = (top / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "ft_app" not in code
    golden = [json.loads(line) for line in (run_dir / "compare.jsonl").read_text(encoding="utf-8").splitlines()]
    assert json.dumps(golden[0]["input"])[1:-1] in code  # it runs the run's first test prompt
    answer = Comparer().compare(run_dir, golden[0]["input"]).finetuned
    printed = snippet_outputs[key]
    if RUN_CASES[key].task == "classification":
        assert printed == answer.label
    else:
        assert printed.strip() == answer.text
