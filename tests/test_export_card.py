"""The model card: Hub metadata that parses, and numbers equal to eval.json, for every task and method."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from ft_app.export.card import CARD_FILE, STUDIO_TAG, write_card
from ft_app.export.curve import LOSS_CURVE_FILE
from ft_app.tasks import get_task
from tests.export_runs import RUN_CASES, train_case


@pytest.mark.parametrize("key", list(RUN_CASES))
def test_card_metadata_parses_and_numbers_equal_eval_json(
    key: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run_dir = train_case(key, request, tmp_path_factory)
    case = RUN_CASES[key]
    path = write_card(run_dir, tmp_path / "card")
    assert path == tmp_path / "card" / CARD_FILE
    assert (tmp_path / "card" / LOSS_CURVE_FILE).read_bytes().startswith(b"\x89PNG")

    card = ModelCard.load(path)
    meta = card.data.to_dict()
    assert meta["library_name"] == ("peft" if case.method == "lora" else "transformers")
    assert meta["pipeline_tag"] == get_task(case.task).pipeline_tag
    assert STUDIO_TAG in meta["tags"] and case.method in meta["tags"]
    assert "base_model" not in meta  # the base is a local folder, not a Hub id

    evaluation = json.loads((run_dir / "eval.json").read_text(encoding="utf-8"))
    after = evaluation["after"]
    # model-index holds the after numbers exactly as eval.json has them.
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    expected_keys = {"classification": {"accuracy", "f1", "loss"}, "causal_lm": {"loss", "perplexity"},
                     "seq2seq": {"loss", "perplexity", "exact_match"}}[case.task]
    assert set(found) == expected_keys
    for name, value in found.items():
        assert value == after[name]
    # The before -> after table shows both sides of every metric, rounded to 4 places.
    text = card.text
    for name in expected_keys:
        before_value, after_value = evaluation["before"][name], after[name]
        row = next(line for line in text.splitlines() if line.startswith("| ") and f"| {before_value:.4f} |" in line)
        assert f"| {after_value:.4f} |" in row and f"{after_value - before_value:+.4f}" in row
    # Golden prompts with both answers, the curve image, a usage snippet and limitations.
    golden = [json.loads(line) for line in (run_dir / "compare.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(golden) == len(case.golden) + 2
    for prompt in case.golden:
        assert prompt.replace("|", "\\|") in text
    assert f"![Train and eval loss by step]({LOSS_CURVE_FILE})" in text
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    compile(code, "snippet", "exec")
    assert "## Limitations" in text
    # The learning rate the run used (the auto recipe's when the config left it empty), and its schedule.
    status = json.loads((run_dir / "status.json").read_text(encoding="utf-8"))
    assert f"| learning_rate (used) | {status['learning_rate']:g} |" in text
    assert f"- Schedule: {status['recipe']}." in text
    assert str(run_dir.parent) not in text.replace(str(run_dir / ("adapter" if case.method == "lora" else "model")), "")


def test_card_license_comes_from_a_local_base_model_card(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A base folder with a card that names its license passes the license on."""
    run_dir = train_case("classification-full", request, tmp_path_factory)
    base = Path(json.loads((run_dir / "config.json").read_text())["model"]["name_or_path"])
    readme = base / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    try:
        card = ModelCard.load(write_card(run_dir, tmp_path))
    finally:
        readme.unlink()
    assert card.data.license == "apache-2.0"
