"""The GGUF export read by llama.cpp itself (through llama-cpp-python), next to transformers on the same prompts.

    python bench/gguf_llamacpp.py [--model DIR] [--out DIR] [--tokens 24] [--quants f16 q8_0 q4_0]

llama-cpp-python is not a project requirement: `pip install llama-cpp-python` (it compiles llama.cpp), or point at a
local build with LLAMA_CPP_LIB_PATH=<cmake build>/bin and PYTHONPATH=<llama-cpp-python source>.

What it does, for SmolLM2-135M-Instruct (tests/fixtures/real_assets.py turns the installed GGUF into a plain folder;
--model takes any Llama/Mistral/Qwen2 folder instead) and for the tests' tiny Llama (a SentencePiece-style vocabulary,
the other tokenizer kind the export writes):
- writes one .gguf per quantization with ft_app.export.gguf.write_gguf and prints its size;
- tokenizes the chat-formatted prompts and a few texts with llama.cpp and with transformers and says whether the ids
  agree;
- at f16, the largest logit difference between llama.cpp and transformers over every prompt position;
- the greedy answer (llama.cpp's sampler with top_k=1, no penalties) from the same prompt ids next to transformers'
  greedy answer, and whether the token ids agree.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["What is the capital of France?", "Name a color of the sky.", "What is 2 + 2?",
           "Write one sentence about cats.", "Who wrote Romeo and Juliet?"]
TEXTS = ["Hello world, the sky is blue.", "  two  spaces, 12345 digits!", "Ünïcödé ☃\nnew line",
         "def f(x):\n    return x * 2"]


def load_line() -> str:
    return f"(load {os.getloadavg()[0]:.1f})"


def hf_greedy(model: Any, ids: list[int], n: int, eos: set[int]) -> list[int]:
    """transformers' greedy answer, cut at the first end-of-sequence token as llama.cpp's loop below is."""
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=n, do_sample=False, temperature=None, top_p=None, top_k=None,
                             pad_token_id=next(iter(eos)))[0, len(ids):].tolist()
    return _cut(out, eos)


def cpp_greedy(llm: Any, ids: list[int], n: int, eos: set[int]) -> list[int]:
    """llama.cpp's greedy answer: its sampler with top_k=1 and every penalty off."""
    out: list[int] = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True):
        if token in eos or len(out) >= n:
            break
        out.append(token)
    return out


def _cut(tokens: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(tokens):
        if t in eos:
            return tokens[:i]
    return tokens


def check(folder: Path, out: Path, label: str, quants: list[str], n_tokens: int, chat: bool) -> None:
    """Write, load and compare one model at each quantization (`chat`: written for chat-template prompts, as
    export_gguf does for a chat run; it matters for a SentencePiece-style vocabulary's leading '▁')."""
    import numpy as np
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ft_app.export.gguf import write_gguf
    from ft_app.export.source import human_size

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    eos = {tokenizer.eos_token_id}
    if chat and tokenizer.chat_template:
        prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                 add_generation_prompt=True) for p in PROMPTS]
        prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    else:
        prompts = PROMPTS
        prompt_ids = [tokenizer(p)["input_ids"] for p in prompts]
    start = time.perf_counter()
    reference = [hf_greedy(model, ids, n_tokens, eos) for ids in prompt_ids]
    print(f"\n== {label}: transformers greedy answers in {time.perf_counter() - start:.1f} s {load_line()}")
    for quant in quants:
        path = out / f"{label}-{quant}.gguf"
        start = time.perf_counter()
        write_gguf(folder, path, quant=quant, name=label, chat=chat)
        print(f"\n-- {path.name}: {human_size(path.stat().st_size)} ({path.stat().st_size:,} bytes), written in "
              f"{time.perf_counter() - start:.1f} s {load_line()}")
        llm = Llama(model_path=str(path), n_ctx=512, n_threads=2, logits_all=quant == "f16", verbose=False, seed=0)
        for kind, texts in (("chat-formatted prompts", prompts), ("plain texts", TEXTS)):
            same = [llm.tokenize(t.encode(), add_bos=False, special=True)
                    == tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
            print(f"tokenization, {kind}: {sum(same)}/{len(texts)} give the same ids in llama.cpp and transformers"
                  + "".join(f"\n    differs: {t!r}" for t, ok in zip(texts, same) if not ok))
        if quant == "f16":
            worst = 0.0
            for ids in prompt_ids:
                llm.reset()
                llm.eval(ids)
                with torch.no_grad():
                    want = model(torch.tensor([ids])).logits[0].numpy()
                worst = max(worst, float(np.abs(llm.scores[: len(ids)] - want).max()))
            print(f"logits: largest |llama.cpp - transformers| over all prompt positions = {worst:.4f} "
                  f"(logits span about {float(np.abs(want).max()):.1f})")
        agree = 0
        for prompt, ids, ref in zip(PROMPTS, prompt_ids, reference):
            got = cpp_greedy(llm, ids, n_tokens, eos)
            agree += got == ref
            print(f"  {prompt!r}\n    transformers: {tokenizer.decode(ref)!r}\n    llama.cpp:    "
                  f"{tokenizer.decode(got)!r}   {'same ids' if got == ref else 'DIFFERENT ids'}")
        print(f"greedy answers with the same token ids: {agree}/{len(PROMPTS)}")
        del llm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="a saved causal LM folder (default: SmolLM2)")
    parser.add_argument("--out", type=Path, default=None, help="where the .gguf files go (default: a temp folder)")
    parser.add_argument("--tokens", type=int, default=24, help="greedy answer length")
    parser.add_argument("--quants", nargs="+", default=["f16", "q8_0", "q4_0"])
    parser.add_argument("--skip-tiny", action="store_true", help="leave out the tiny SentencePiece-style Llama")
    parser.add_argument("--only-tiny", action="store_true", help="only the tiny Llama (a few seconds)")
    args = parser.parse_args()

    import llama_cpp

    from tests.fixtures import real_assets
    from tests.fixtures.tiny_models import build_tiny_llama

    print(f"llama-cpp-python {llama_cpp.__version__} {load_line()}")
    out = args.out or Path(tempfile.mkdtemp(prefix="gguf_llamacpp_"))
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_tiny:
        tiny = build_tiny_llama(out / "tiny-llama-src")
        check(tiny, out, "tiny-llama", ["f16", "q8_0"], 8, chat=True)
        check(tiny, out, "tiny-llama-plain", ["f16"], 8, chat=False)
    if not args.only_tiny:
        model = args.model or real_assets.convert_smollm2(real_assets.smollm2_gguf_path())
        check(model, out, model.name, args.quants, args.tokens, chat=True)
    print(f"\nfiles in {out}")


if __name__ == "__main__":
    main()
