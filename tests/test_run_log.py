"""The run log as a person reads it: real transformers load reports of tiny models, told in plain lines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

from ft_app.run_log import NEW_HEAD_LINE, REPLACED_HEAD_LINE, readable_log
from ft_app.runs import LOG_FILE, RunStore

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the run's log.txt format


def _logged(load: Callable[[], object], path: Path) -> str:
    """What loading writes to a log file in the run's format (the raw text a run's log.txt holds)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        load()
        logging.getLogger("transformers").warning("after the report")
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path.read_text(encoding="utf-8")


def _classifier(folder: Path, **kwargs: object) -> Callable[[], object]:
    return lambda: AutoModelForSequenceClassification.from_pretrained(str(folder), **kwargs)


def test_new_head_report_of_a_tiny_bert_becomes_one_plain_line(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """BERT + a new head: colour codes gone, 'classifier.weight | MISSING' told as the expected new head."""
    raw = _logged(_classifier(tiny_bert_dir, num_labels=2), tmp_path / "log.txt")
    assert "\x1b[1m" in raw and "classifier.weight" in raw and "| MISSING" in raw  # what transformers 5 really writes
    text = readable_log(raw)
    assert "\x1b" not in text and "MISSING" not in text and "UNEXPECTED" not in text and "Notes:" not in text
    lines = text.splitlines()
    assert lines[0].endswith(f"INFO transformers.modeling_utils: BertForSequenceClassification loaded from {tiny_bert_dir}.")
    assert lines[1].endswith("INFO transformers.modeling_utils: " + NEW_HEAD_LINE)
    assert " INFO " in lines[2] and "7 weights of the checkpoint are not used by this model (cls." in lines[2]
    assert "cls.predictions.bias" in lines[2] and "normal when a model trained for another task gets a new head" in lines[2]
    assert lines[3].endswith("WARNING transformers: after the report") and len(lines) == 4
    assert text.count(NEW_HEAD_LINE) == 1


def test_gpt2_score_head_and_a_resized_head_are_expected(tiny_bert_dir: Path, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    """GPT-2's new score head and a head resized for other labels are both said plainly, without warnings."""
    gpt2 = readable_log(_logged(_classifier(tiny_gpt2_dir, num_labels=2), tmp_path / "gpt2.txt"))
    assert "GPT2ForSequenceClassification loaded from" in gpt2 and NEW_HEAD_LINE in gpt2 and "score.weight" not in gpt2

    three = tmp_path / "three-labels"
    AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=3).save_pretrained(three)
    raw = _logged(_classifier(three, num_labels=2, ignore_mismatched_sizes=True), tmp_path / "resized.txt")
    assert "| MISMATCH" in raw
    text = readable_log(raw)
    assert REPLACED_HEAD_LINE in text and "MISMATCH" not in text and "Warning" not in text


def test_missing_body_weights_stay_visible(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Weights of the body missing from the checkpoint are not explained away: a warning names them."""
    broken = tmp_path / "broken"
    AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=2).save_pretrained(broken)
    weights = load_file(str(broken / "model.safetensors"))
    removed = [k for k in weights if ".layer.0.attention.self.query." in k]
    assert removed
    save_file({k: v for k, v in weights.items() if k not in removed}, str(broken / "model.safetensors"), {"format": "pt"})
    text = readable_log(_logged(_classifier(broken, num_labels=2), tmp_path / "log.txt"))
    warning = next(line for line in text.splitlines() if "Warning:" in line)
    assert " WARNING " in warning and f"{len(removed)} weights of the model are not in the checkpoint" in warning
    assert "bert.encoder.layer.0.attention.self.query.weight" in warning
    assert NEW_HEAD_LINE not in text  # the head itself was in the checkpoint


def test_plain_text_rules() -> None:
    """Colour codes and progress redraws go; a missing pooler counts as the new head; a causal LM's lm_head does not."""
    assert readable_log("\x1b[1mbold\x1b[0m and \x1b[38;5;208morange\x1b[0m") == "bold and orange"
    assert readable_log("Loading:  10%\rLoading: 100%\nnext") == "Loading: 100%\nnext"
    pooler = (
        "\x1b[1mBertForSequenceClassification LOAD REPORT\x1b[0m from: m\nKey | Status | \n--+--+-\n"
        "bert.pooler.dense.weight | MISSING | \nclassifier.weight | MISSING | \n\nNotes:\n- MISSING:\tthose params ...\n"
    )
    assert readable_log(pooler) == f"BertForSequenceClassification loaded from m.\n{NEW_HEAD_LINE}"
    causal = "12:00:00 WARNING t: \x1b[1mLlamaForCausalLM LOAD REPORT\x1b[0m from: m\nKey | Status\n---\nlm_head.weight | MISSING | \n"
    text = readable_log(causal)
    assert NEW_HEAD_LINE not in text
    assert "12:00:00 WARNING t: Warning: 1 weights of the model are not in the checkpoint" in text and "lm_head.weight" in text


@pytest.mark.parametrize("lines", [3, 40])
def test_read_log_tail_shows_the_readable_log(tiny_bert_dir: Path, tmp_path: Path, lines: int) -> None:
    """The run store's log tail is the readable text: what the Train and Runs tabs show."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _logged(_classifier(tiny_bert_dir, num_labels=2), run_dir / LOG_FILE)
    tail = RunStore(tmp_path).read_log_tail(run_dir, lines)
    assert "\x1b" not in tail and "| MISSING" not in tail
    assert tail.splitlines() == readable_log((run_dir / LOG_FILE).read_text(encoding="utf-8")).splitlines()[-lines:]
    assert NEW_HEAD_LINE in tail


def test_a_native_crash_report_keeps_the_error_and_the_crashed_threads_stack() -> None:
    """faulthandler lists every thread's stack and every loaded extension module: the page's log tail keeps the
    error line and the stack of the thread that crashed, so the cause is on screen."""
    from ft_app.run_log import readable_log

    raw = "\n".join([
        "step 3", "Fatal Python error: Aborted", "",
        "Thread 0x00007f1 (most recent call first):", '  File "/x/threading.py", line 320 in wait',
        '  File "/x/child.py", line 99 in watch', "",
        "Current thread 0x00007f2 (most recent call first):", '  File "/x/model.py", line 5 in forward',
        '  File "/x/trainer.py", line 9 in train', "",
        "Extension modules: " + ", ".join(f"mod{i}" for i in range(140)) + " (total: 140)", "after the crash",
    ])
    shown = readable_log(raw)
    assert "Fatal Python error: Aborted" in shown and 'File "/x/model.py", line 5 in forward' in shown
    assert "threading.py" not in shown and "Extension modules" not in shown and "mod139" not in shown
    assert shown.splitlines()[-1] == "after the crash" and shown.startswith("step 3")
