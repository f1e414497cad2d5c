"""Time each export step of a finished run, warm and in-process as the app runs them, and print the sizes.

    python bench/export_steps.py RUN_DIR [OUT_DIR]

Steps: zip, merge (LoRA runs), zip with the merged model, model card, demo-app zip, recipe zip, and publishing the
adapter, the merged model and the demo Space to a local fake Hub (tests/fixtures/fake_hub.py: every file goes inline
in one commit, so those times measure the upload path, not the real Hub's network). Asserts nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(name: str, fn: Callable[[], Any]) -> Any:
    """Run fn, print how long it took (with the load average), return its result."""
    start = time.perf_counter()
    result = fn()
    print(f"{name:30s} {time.perf_counter() - start:7.2f} s   (load {os.getloadavg()[0]:.1f})", flush=True)
    return result


def main() -> None:
    import huggingface_hub.constants

    from ft_app.export.archive import build_recipe_zip, build_space_zip, build_zip
    from ft_app.export.card import write_card
    from ft_app.export.hub import publish_model, publish_space
    from ft_app.export.merge import merge_lora
    from ft_app.export.source import folder_size, human_size, load_export_run
    from tests.fixtures.fake_hub import FakeHub

    run_dir = Path(sys.argv[1]).resolve()
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="export_bench_"))
    run = load_export_run(run_dir)
    build_zip(run_dir, out / "warm-up.zip")  # first-use imports and matplotlib's font cache
    sizes: dict[str, str] = {run.result_dir.name: human_size(folder_size(run.result_dir))}
    sizes["zip"] = human_size(timed("zip", lambda: build_zip(run_dir, out / "result.zip")).stat().st_size)
    if run.is_adapter:
        merged = timed("merge", lambda: merge_lora(run_dir))
        sizes["merged/"] = human_size(merged.size_bytes)
        zipped = timed("zip with the merged model", lambda: build_zip(run_dir, out / "merged.zip", include_merged=True))
        sizes["zip with merged"] = human_size(zipped.stat().st_size)
    timed("model card", lambda: write_card(run_dir, out / "card"))
    sizes["demo app zip"] = human_size(timed("demo app zip", lambda: build_space_zip(run_dir, out / "space.zip"))
                                       .stat().st_size)
    timed("recipe zip", lambda: build_recipe_zip(run_dir, out / "recipe.zip"))
    token = "hf_BenchFakeHubToken123456"
    with FakeHub(tokens={token: "bench"}) as hub:
        os.environ["HF_ENDPOINT"] = hub.url
        huggingface_hub.constants.HF_HUB_OFFLINE = False
        timed("publish result (fake Hub)", lambda: publish_model(run_dir, "result", token=token))
        if run.is_adapter:
            timed("publish merged (fake Hub)", lambda: publish_model(run_dir, "merged", token=token, merged=True))
        timed("publish demo Space (fake Hub)", lambda: publish_space(run_dir, "space", token=token))
    print(json.dumps(sizes, indent=1))


if __name__ == "__main__":
    main()
