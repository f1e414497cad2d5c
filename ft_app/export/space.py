"""A before/after demo Space: a small standalone Gradio app, its requirements and a README with Space front matter."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import shutil
from pathlib import Path
from typing import Any

from ft_app.export.card import answer_text, base_license
from ft_app.export.output import check_free, record_made
from ft_app.export.prompting import load_result_tokenizer, prompt_format
from ft_app.export.source import ExportRun, load_export_run, result_files
from ft_app.methods import get_method
from ft_app.tasks import GenerationSettings, get_task

TEMPLATE_APP = Path(__file__).resolve().parents[2] / "assets" / "space_template" / "app.py"
DEMO_SETTINGS_FILE = "demo.json"
SPACE_FILES = ("app.py", "requirements.txt", "README.md", DEMO_SETTINGS_FILE)
N_EXAMPLES = 5


def demo_settings(run: ExportRun, finetuned_ref: str) -> dict[str, Any]:
    """What the exported app needs to answer exactly as the run's Compare tab does."""
    from ft_app.compare import held_out_examples
    from ft_app.evaluation import describe_change

    tokenizer = load_result_tokenizer(run.result_dir)
    results = run.results
    return {
        "title": f"{run.own_name or run.base_name}: before and after fine-tuning",
        "intro": (
            f"The same input goes to the base model `{run.base_name}` and to its fine-tuned version (run "
            f"`{run.run_id}`), with the same settings. Type a text or click an example."
        ),
        "summary": results.summary or describe_change(run.config.task, results.before, results.after),
        "run_id": run.run_id,
        "task": run.config.task,
        "method": run.config.method,
        "base_model": run.base_model,
        "revision": run.config.model.revision,
        "finetuned": finetuned_ref,
        "is_adapter": run.is_adapter,
        "label_names": run.label_names,
        "seed": run.config.training.seed,
        # A quantized run's base is loaded in 16-bit here: bitsandbytes needs a GPU the Space may not have.
        "dtype": "bfloat16" if get_method(run.config.method).quantized else run.config.model.dtype,
        "max_length": run.config.max_length,
        # Causal LM: prompt + answer must fit this many tokens; a longer prompt loses its start, as in Compare.
        "context_limit": _context_limit(run),
        "prompt": prompt_format(run.config, tokenizer).to_dict(),
        # The chat side by side (as in the Compare tab) for a model that continues its prompt.
        "chat": get_task(run.config.task).continues_prompt,
        "model_class": get_task(run.config.task).model_class().__name__,  # AutoModelFor...: what app.py loads
        "generation": dataclasses.asdict(GenerationSettings()),  # the Compare tab's defaults
        "golden": [
            {"input": str(r.get("input", "")), "reference": str(r.get("reference", "")),
             "base": answer_text(r.get("base")), "finetuned": answer_text(r.get("finetuned"))}
            for r in results.golden
        ],
        "examples": [str(r.get("input", "")) for r in held_out_examples(run.run_dir, N_EXAMPLES)],
    }


def _context_limit(run: ExportRun) -> int | None:
    """The most tokens a causal LM reads (prompt and answer together), as the studio's predict() trims to."""
    if not get_task(run.config.task).continues_prompt:
        return None
    from ft_app.modeling import load_model_config, position_limit

    return position_limit(load_model_config(run.config.model))


def space_requirements(run: ExportRun) -> str:
    """requirements.txt: the versions the run used, so the Space answers as the studio did (gradio comes from the SDK)."""
    lines = ["torch>=2.4", f"transformers=={importlib.metadata.version('transformers')}"]
    if run.is_adapter:
        lines.append(f"peft=={importlib.metadata.version('peft')}")
    lines += get_task(run.config.task).space_requirements
    return "\n".join(lines) + "\n"


def space_readme(run: ExportRun, finetuned_ref: str) -> str:
    """README.md with the Space front matter (sdk, sdk_version, app_file, models) and how to run it elsewhere."""
    import yaml

    models = [m for m in (None if run.base_is_local else run.base_model, finetuned_ref) if m and "/" in m and
              not m.startswith((".", "/"))]
    front: dict[str, Any] = {
        "title": f"{run.own_name or run.base_name} before-after"[:60],
        "emoji": "🔁",
        "colorFrom": "indigo",
        "colorTo": "green",
        "sdk": "gradio",
        "sdk_version": importlib.metadata.version("gradio"),
        "app_file": "app.py",
        "pinned": False,
        "short_description": "Base vs fine-tuned model, side by side",
    }
    license_name = base_license(run.base_model)
    if license_name:
        front["license"] = license_name
    if models:
        front["models"] = models
    notes = []
    if run.base_is_local:
        notes.append(
            f"- The base model is the local folder `{run.base_model}`. On a Space, upload it as a model repo and put "
            f"its id in `base_model` in `{DEMO_SETTINGS_FILE}`."
        )
    if get_method(run.config.method).quantized:
        notes.append("- The run trained on a quantized base; here the base loads in bfloat16, so answers can differ "
                     "slightly from the studio's.")
    return (
        f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n\n"
        f"# {run.own_name or run.base_name}: before and after fine-tuning\n\n"
        f"A demo exported by Fine-Tune Studio from run `{run.run_id}`: the base model and the fine-tuned model answer "
        "the same input side by side, with the same decoding settings, plus the test prompts recorded during "
        "training.\n\n"
        f"- Fine-tuned model: `{finetuned_ref}`\n- Base model: `{run.base_model}`\n"
        + ("\n".join(notes) + "\n" if notes else "")
        + "\nRun it on your computer: `pip install gradio -r requirements.txt && python app.py`.\n"
    )


def write_demo_space(run_dir: str | Path, out_dir: str | Path, *, model_ref: str | None = None,
                     staging: bool = False) -> Path:
    """Write the demo Space folder; `model_ref` is a Hub repo id or a path relative to the folder, else the result
    files are copied in. Returns the folder. Files a person put in that folder are never overwritten; `staging`:
    a temporary folder of the app's own (a zip or an upload is made from it), where nothing is recorded."""
    run = load_export_run(run_dir)
    out = Path(out_dir).expanduser().resolve()
    ref = model_ref
    names = ["app.py", DEMO_SETTINGS_FILE, "requirements.txt", "README.md"] + ([run.result_dir.name] if ref is None else [])
    check_free(out, names)  # a person's app.py or README.md in that folder is never overwritten
    out.mkdir(parents=True, exist_ok=True)
    if ref is None:
        ref = run.result_dir.name
        target = out / ref
        if target.exists():
            shutil.rmtree(target)  # our own earlier copy (check_free said so)
        for f in result_files(run.result_dir):
            dest = target / f.relative_to(run.result_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    shutil.copyfile(TEMPLATE_APP, out / "app.py")
    (out / DEMO_SETTINGS_FILE).write_text(
        json.dumps(demo_settings(run, ref), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / "requirements.txt").write_text(space_requirements(run), encoding="utf-8")
    (out / "README.md").write_text(space_readme(run, ref), encoding="utf-8")
    if not staging:
        record_made(out, names)
    return out
