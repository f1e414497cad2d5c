"""`python -m ft_app export RUN_DIR ...`: every export step from the command line; the last line printed is the path
(or the repo URL) of what it made. Exit codes as `train`'s: 0 done, 1 failed (e.g. the Hub unreachable), 2 bad input."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ft_app.system import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

GGUF_QUANTS = ("f16", "q8_0", "q4_0")  # ft_app.export.gguf.QUANTS, not imported here to keep the CLI's start light


def add_export_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the `export` subcommand on the CLI's subparsers."""
    export = sub.add_parser(
        "export", help="Take a finished run anywhere: zip, merged model, model card, Hub, demo Space, recipe, GGUF.",
        description="Export a finished run. The Hugging Face token for --push comes from HF_TOKEN (never saved).",
    )
    export.add_argument("run_dir", help="The run's folder, e.g. runs/20250101-120000-classification-lora.")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--zip", metavar="OUT.zip", help="Write a zip: result, card, curve, numbers, demo Space, recipe.")
    what.add_argument("--merge", action="store_true", help="Merge the LoRA adapter into the base: RUN_DIR/merged/.")
    what.add_argument("--card", action="store_true", help="Write the model card and curve: RUN_DIR/card/README.md.")
    what.add_argument("--demo-space", metavar="DIR", help="Write a before/after demo Space folder (app.py, ...).")
    what.add_argument("--recipe", metavar="DIR", help="Write config.json, COMMANDS.md and accelerate config files.")
    what.add_argument("--gguf", action="store_true", help="Write one .gguf file for llama.cpp, Ollama and LM Studio, "
                      "plus an Ollama Modelfile: RUN_DIR/gguf/ (causal-LM runs of Llama, Mistral and Qwen2 models).")
    what.add_argument("--push", metavar="REPO", nargs="?", const="",
                      help="Publish to the Hub (default name <user>/<base>-<run id>); private unless --public.")
    export.add_argument("--private", action="store_true", default=True, help="With --push: a private repo (default).")
    export.add_argument("--public", dest="private", action="store_false", help="With --push: a public repo.")
    export.add_argument("--merged", action="store_true", help="With --push or --zip: the merged model (merge first).")
    export.add_argument("--space", action="store_true", help="With --push: publish the demo as a Gradio Space.")
    export.add_argument("--model-repo", default=None, help="With --push --space: the Hub repo the demo loads the "
                        "fine-tuned model from (default: the files go into the Space).")
    export.add_argument("--quant", choices=GGUF_QUANTS, default=None,
                        help="With --gguf: f16, q8_0 (default: 8-bit, about half the f16 size) or q4_0 (4-bit).")
    export.add_argument("--out", metavar="DIR", default=None,
                        help="With --gguf: the folder for the .gguf file and the Modelfile (default RUN_DIR/gguf/).")
    return export


def export_command(args: argparse.Namespace) -> int:
    """Run the chosen export step; plain errors on stderr, the made thing's path or URL last on stdout."""
    from ft_app.hub import HubUnreachableError

    start = time.monotonic()
    try:
        made, note = _run(args)
    except (HubUnreachableError, OSError) as exc:  # a HubUnreachableError is a ValueError too: the Hub's, not the input's
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if note:
        print(note, file=sys.stderr)
    print(f"Done in {time.monotonic() - start:.1f} s.", file=sys.stderr)
    print(made)
    return EXIT_OK


def _run(args: argparse.Namespace) -> tuple[str, str]:
    run_dir = Path(args.run_dir)
    if (args.merged or args.space or args.model_repo) and args.push is None and not (args.merged and args.zip):
        raise ValueError("--merged, --space and --model-repo go with --push (or --merged with --zip).")
    if (args.quant or args.out) and not args.gguf:
        raise ValueError("--quant and --out go with --gguf.")
    if args.gguf:
        from ft_app.export.gguf import DEFAULT_QUANT, export_gguf

        result = export_gguf(run_dir, quant=args.quant or DEFAULT_QUANT, out_dir=args.out)
        return str(result.path), result.message
    if args.zip:
        from ft_app.export.archive import build_zip

        path = build_zip(run_dir, args.zip, include_merged=args.merged)
        return str(path), f"Zip: {path.stat().st_size / 1e6:.1f} MB."
    if args.merge:
        from ft_app.export.merge import merge_lora

        result = merge_lora(run_dir)
        return str(result.path), result.message
    if args.card:
        from ft_app.export.card import write_card

        return str(write_card(run_dir)), ""
    if args.demo_space:
        from ft_app.export.space import write_demo_space

        return str(write_demo_space(run_dir, args.demo_space)), "Run it with: pip install gradio -r requirements.txt " \
                                                                  "&& python app.py"
    if args.recipe:
        from ft_app.export.scale import write_recipe

        folder = write_recipe(run_dir, args.recipe)
        return str(folder), (folder / "COMMANDS.md").read_text(encoding="utf-8")
    from ft_app.export.hub import publish_model, publish_space
    from ft_app.hosting import HostSettings

    host = HostSettings.from_env()
    if args.space:
        result = publish_space(run_dir, args.push or None, private=args.private, model_repo=args.model_repo, host=host)
    else:
        result = publish_model(run_dir, args.push or None, private=args.private, merged=args.merged, host=host)
    visibility = "private" if result.private else "public"
    return result.url, f"Published {len(result.files)} files to the {visibility} {result.repo_type} repo " \
                       f"{result.repo_id}. {result.note}".strip()
