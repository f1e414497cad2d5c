"""Time from `python app.py` to the page answering (GET / returns 200), a few cold starts."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from app_server import REPO_ROOT, start

RUNS = 3


def import_seconds(module: str) -> float:
    """Seconds a fresh interpreter needs to import a module."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO_ROOT, check=True)
    return time.perf_counter() - t


def main() -> None:
    """Start the app RUNS times and print the time to the first answer."""
    times = []
    for _ in range(RUNS):
        server = start()
        times.append(server.seconds_to_answer)
        server.stop()
    print(f"python app.py -> page answers: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"for scale: 'import gradio' alone {import_seconds('gradio'):.2f} s, "
          f"'import ft_app.ui' {import_seconds('ft_app.ui'):.2f} s, 'import torch' {import_seconds('torch'):.2f} s")
    lazy = subprocess.run(
        [sys.executable, "-c", "import sys, ft_app.ui; print(','.join(m for m in ('torch', 'transformers', 'datasets') "
         "if m in sys.modules) or 'none')"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    print(f"heavy modules imported by ft_app.ui: {lazy}")


if __name__ == "__main__":
    main()
