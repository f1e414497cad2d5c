"""Shared helper for the app benchmarks: start `python app.py` on a free port in a fresh FT_APP_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    """A running app process and where it lives."""

    url: str
    home: Path
    process: subprocess.Popen
    seconds_to_answer: float

    def stop(self) -> None:
        """Terminate the app."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(home: Path | None = None, timeout: float = 120.0) -> Server:
    """Start the app offline and return once GET / answers 200, with the time that took."""
    home = home or Path(tempfile.mkdtemp(prefix="ft_bench_"))
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ, FT_APP_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", TOKENIZERS_PARALLELISM="false")
    log = (home / "app.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO_ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app exited: {(home / 'app.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return Server(url, home, process, time.perf_counter() - started)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("app did not answer in time")
