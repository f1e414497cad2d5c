"""Issue 19: the preference task (prompt, chosen, rejected) trains with TRL through the engine, in the same run folder,
with its held-out preference accuracy before and after and the reward margin on the curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ft_app.config import DataConfig
from ft_app.data import ColumnMapping, ColumnPicker
from ft_app.tasks import get_task
from ft_app.tasks.preference import split_pair
from tests.engine_checks import make_config, read_metrics, train_in_process
from tests.fixtures.data_files import write_preference_jsonl

TASK = get_task("preference")


def test_columns_are_found_by_trl_names_and_a_pair_without_prompt_column_splits_its_shared_turns() -> None:
    mapping = TASK.detect_columns(ColumnPicker(["prompt", "chosen", "rejected"]), DataConfig(train=""))
    assert mapping == ColumnMapping(prompt="prompt", chosen="chosen", rejected="rejected")
    with pytest.raises(ValueError, match="needs a bad-answer \\('rejected'\\) column"):
        TASK.detect_columns(ColumnPicker(["prompt", "chosen"]), DataConfig(train=""))
    user = {"role": "user", "content": "Hi?"}
    row = {"chosen": [user, {"role": "assistant", "content": "Hello!"}],
           "rejected": [user, {"role": "assistant", "content": "Go away."}]}
    prompt, chosen, rejected = split_pair(row, ColumnMapping(chosen="chosen", rejected="rejected"), DataConfig(train=""))
    assert prompt == [user] and chosen[0]["content"] == "Hello!" and rejected[0]["content"] == "Go away."


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_preference_run_trains_with_dpo_and_measures_preference_accuracy(
    method: str, tmp_path: Path, tiny_llama_dir: Path
) -> None:
    data = write_preference_jsonl(tmp_path / "pairs.jsonl")
    config = make_config("preference", tiny_llama_dir, method, data,
                         data={"max_length": 64}, training={"max_steps": 4, "learning_rate": 1e-3},
                         evaluation={"golden_prompts": ["What color is the sky?"], "max_new_tokens": 4})
    snap = train_in_process(config, tmp_path / "runs")
    assert snap.status == "completed", snap.message
    records = read_metrics(snap.run_dir)
    assert any("rewards/margins" in r and "rewards/accuracies" in r for r in records if r["kind"] == "train")
    assert any("eval_rewards/accuracies" in r for r in records if r["kind"] == "eval")
    result = json.loads((snap.run_dir / "eval.json").read_text())
    for side in ("before", "after"):
        assert 0.0 <= result[side]["preference_accuracy"] <= 1.0 and result[side]["rows"] == 5
    assert result["before"] != result["after"]  # trained: the log-probabilities moved
    assert result["summary"].startswith("Preference accuracy ")
    golden = [json.loads(line) for line in (snap.run_dir / "compare.jsonl").read_text().splitlines()]
    assert golden[0]["input"] == "What color is the sky?" and isinstance(golden[0]["finetuned"]["text"], str)
    assert (snap.run_dir / ("adapter" if method == "lora" else "model")).is_dir()
