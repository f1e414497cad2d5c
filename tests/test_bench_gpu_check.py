"""bench/gpu_check.py without training: case selection, the figures from step records, the table and the JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("bench_gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_select_cases_keeps_the_table_order_and_refuses_unknown_names(gc):
    assert [c.key for c in gc.select_cases(None)] == list(gc.CASE_KEYS)
    assert [c.key for c in gc.select_cases(["smollm2-full", "minilm-full"])] == ["minilm-full", "smollm2-full"]
    with pytest.raises(ValueError, match="'smollm2-qlora4'.*smollm2-qlora"):
        gc.select_cases(["smollm2-qlora4"])
    quantized = {c.key for c in gc.CASES if c.gpu_only}
    assert quantized == {"smollm2-qlora", "smollm2-lora8bit"}
    assert [c.key for c in gc.CASES if c.plain] == ["plain-lora"]


def test_unknown_case_is_a_usage_error_before_anything_loads(gc, capsys):
    with pytest.raises(SystemExit) as exc:
        gc.main(["--cpu", "--cases", "nope"])
    assert exc.value.code == 2
    assert "Unknown case 'nope'" in capsys.readouterr().err


def test_steps_default_per_mode_and_flag(gc):
    minilm, smollm2 = gc.select_cases(["minilm-full", "smollm2-lora"])
    assert gc.steps_for(smollm2, cpu=False, steps=None) == gc.GPU_STEPS
    assert gc.steps_for(minilm, cpu=True, steps=None) == gc.CPU_STEPS["minilm"]
    assert gc.steps_for(smollm2, cpu=True, steps=None) == gc.CPU_STEPS["smollm2"]
    assert gc.steps_for(minilm, cpu=True, steps=7) == 7


def test_summarize_steps_times_after_warmup_and_reads_the_loss(gc):
    # 20 steps: the first three slow (warm-up), then 0.5 s a step with one 2 s outlier; 100 tokens a step.
    times, t = [], 0.0
    for step in range(1, 21):
        t += 3.0 if step <= 3 else (2.0 if step == 10 else 0.5)
        times.append(t)
    records = [{"kind": "train", "step": s, "time": times[s - 1], "loss": 2.0 - 0.05 * s, "tokens_seen": 100 * s}
               for s in range(1, 21)]
    records.append({"kind": "summary", "step": 20, "train_runtime": 99.0})  # not a step
    out = gc.summarize_steps(records, batch_size=8, steps=20)
    assert out["steps_done"] == 20 and len(out["losses"]) == 20
    assert out["s_per_step"] == pytest.approx(0.5)  # the median ignores the outlier; warm-up left out
    span = times[19] - times[2]  # from step 3 to step 20
    assert out["samples_per_s"] == pytest.approx(8 * 17 / span)
    assert out["tokens_per_s"] == pytest.approx(100 * 17 / span)
    assert out["loss_first"] == pytest.approx(2.0 - 0.05 * 3)  # mean of steps 1-5
    assert out["loss_last"] == pytest.approx(2.0 - 0.05 * 18)  # mean of steps 16-20
    assert out["loss_falling"] is True


def test_summarize_steps_says_when_the_loss_does_not_fall(gc):
    records = [{"step": s, "time": float(s), "loss": 1.0 + 0.01 * s} for s in range(1, 11)]
    out = gc.summarize_steps(records, batch_size=4, steps=10)
    assert out["loss_falling"] is False
    assert "tokens_per_s" not in out  # classification records carry no token counts
    row = gc.table_row({"case": "x", "method": "full", "precision": "fp32", "status": "completed", **out})
    assert "DOES NOT FALL" in row


def test_table_has_one_row_per_case_with_the_plain_ratio_and_skips(gc):
    done = {"case": "smollm2-lora", "method": "lora", "precision": "bf16", "status": "completed", "steps_done": 60,
            "s_per_step": 0.12, "tokens_per_s": 5400.0, "loss_first": 2.5, "loss_last": 0.4, "loss_falling": True,
            "memory": {"kind": "cuda", "peak_gb": 1.5, "peak_allocated_gb": 0.9}, "estimate": {"total_gpu_gb": 2.0},
            "memory_ratio": 0.75, "compare": {"base": "This review is | positive", "finetuned": "negative"}}
    plain = {**done, "case": "plain-lora", "s_per_step": 0.1, "compare": {"base": "b", "finetuned": "f"}}
    skipped = {"case": "smollm2-qlora", "method": "qlora", "precision": "fp32", "status": "skipped",
               "message": "needs an NVIDIA GPU (engine: method 'qlora' needs an NVIDIA GPU with CUDA)"}
    failed = {"case": "smollm2-full", "method": "full", "precision": "bf16", "status": "failed",
              "message": "RuntimeError: CUDA out of memory"}
    results = [done, plain, skipped, failed]
    gc.add_ratios(results)
    assert done["vs_plain"] == pytest.approx(1.2)
    lines = gc.format_table(results).splitlines()
    assert len(lines) == 2 + len(results)
    columns = lines[0].count("|")
    assert all(line.count("|") == columns for line in lines)  # a pipe inside an answer does not break the table
    assert "0.120 (1.20x plain)" in lines[2] and "5,400 tok/s" in lines[2] and "1.50 (alloc 0.90)" in lines[2]
    assert "2.500 -> 0.400 falls" in lines[2] and "'negative'" in lines[2]
    assert "skipped: needs an NVIDIA GPU" in lines[4] and "failed: RuntimeError: CUDA out of memory" in lines[5]


def test_data_files_and_json(gc, tmp_path):
    sst2 = tmp_path / "sst2"
    sst2.mkdir()
    train = ["label\tsentence"] + [f"{i % 2}\tthis film is number {i} of many in a row ." for i in range(50)]
    train.append("1\ttoo short .")
    (sst2 / "train.tsv").write_text("\n".join(train) + "\n", encoding="utf-8")
    dev = ["label\tsentence", "1\tshort but sweet .", "0\t" + " ".join(["dull"] * 14) + " ."]
    (sst2 / "dev.tsv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    data = gc.write_data(sst2, tmp_path / "data", {"minilm": 20, "smollm2": 10})
    tsv = data["minilm"].read_text(encoding="utf-8").splitlines()
    assert tsv[0] == "label\tsentence" and len(tsv) == 21
    assert {line.split("\t")[0] for line in tsv[1:]} == {"negative", "positive"}
    rows = [json.loads(line) for line in data["smollm2"].read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 10 and all(r["response"] in ("negative", "positive") for r in rows)
    assert rows[0]["prompt"].startswith("Is this movie review positive or negative?")
    assert not any("too short" in r["prompt"] for r in rows)
    assert data["compare"]["reference"] == "negative" and data["compare"]["minilm"].startswith("dull dull")
    path = gc.write_json(tmp_path / "out" / "check.json", {"results": [{"case": "x"}]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"results": [{"case": "x"}]}


def test_shapes_build_seeded_random_weights_of_the_real_shape(gc, tiny_llama_dir, tiny_bert_dir, tmp_path):
    """--shapes: a folder of configs and tokenizers only (what can travel to a machine the weights cannot) becomes
    loadable models of exactly that shape, the same weights for the same seed, with the tokenizer beside them."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    shapes = tmp_path / "shapes"
    for name, src in (("smollm2", tiny_llama_dir), ("minilm", tiny_bert_dir)):
        (shapes / name).mkdir(parents=True)
        for item in src.iterdir():
            if item.is_file() and item.suffix != ".safetensors":
                (shapes / name / item.name).write_bytes(item.read_bytes())
    cases = gc.select_cases(["minilm-full", "smollm2-lora"])
    paths, missing, seconds = gc.model_paths(cases, shapes, tmp_path / "built")
    assert missing == {} and set(paths) == {"minilm", "smollm2"} and "smollm2_random_weights_s" in seconds

    llama = AutoModelForCausalLM.from_pretrained(paths["smollm2"])
    real = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    assert {n: p.shape for n, p in llama.named_parameters()} == {n: p.shape for n, p in real.named_parameters()}
    assert AutoTokenizer.from_pretrained(paths["smollm2"]).vocab_size == AutoTokenizer.from_pretrained(tiny_llama_dir).vocab_size
    again = AutoModelForCausalLM.from_pretrained(gc.random_weights_model(shapes / "smollm2", tmp_path / "again"))
    assert all(torch.equal(a, b) for a, b in zip(llama.state_dict().values(), again.state_dict().values()))
    bert = AutoModel.from_pretrained(paths["minilm"])
    assert sum(p.numel() for p in bert.parameters()) == sum(p.numel() for p in AutoModel.from_pretrained(tiny_bert_dir).parameters())

    (shapes / "minilm" / "config.json").unlink()
    _, missing, _ = gc.model_paths(cases, shapes, tmp_path / "built2")
    assert "minilm" in missing
