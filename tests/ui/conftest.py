"""Start the real app (`python app.py`) on a free port with its own runs folder, offline, for UI tests; and build the
page without a server, for tests that call its handlers directly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90


@dataclass
class AppServer:
    """A running app: its URL, its FT_APP_HOME folder and its process."""

    url: str
    home: Path
    process: subprocess.Popen
    log_path: Path

    @property
    def runs_dir(self) -> Path:
        """The runs folder the app writes to."""
        return self.home / "runs"

    @property
    def uploads_dir(self) -> Path:
        """Where the app keeps uploaded data files."""
        return self.home / "uploads"

    def log(self) -> str:
        """The app's stdout and stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float = START_TIMEOUT_S) -> float:
    """Poll the page until it answers 200; returns the seconds it took. Fails with the log if the app dies."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            pytest.fail(f"The app exited with code {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"The app did not answer within {timeout}s:\n{log_path.read_text()[-4000:]}")


def start_app(home: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> AppServer:
    """Launch `python app.py` on a free port with FT_APP_HOME=home, offline, and wait until it answers."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        FT_APP_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process, log_path)
    return AppServer(url=url, home=home, process=process, log_path=log_path)


def stop_app(server: AppServer) -> None:
    """Terminate the app process (kill it if it does not exit), and the training processes it started.

    A training process outlives the app on purpose (a restarted app follows it again); a test must not leave one.
    """
    import psutil

    try:
        children = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(children, timeout=15)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The real app, started once per test module in its own FT_APP_HOME."""
    home = tmp_path_factory.mktemp("ft_app_home")
    server = start_app(home, home / "app.log")
    yield server
    stop_app(server)


# ---------------------------------------------------------------- the page without a server (handler tests)


def build_studio(runs_dir: Path, host: Any = None) -> tuple[Any, Any]:
    """The app's context and page on its own runs folder, built inside a gr.Blocks but not served: the handlers
    (module-level functions of ft_app/ui/*_tab.py) are then called directly with this context."""
    import gradio as gr

    from ft_app.hosting import HostSettings
    from ft_app.runs import RunStore
    from ft_app.training.jobs import JobManager
    from ft_app.ui.app import build_page
    from ft_app.ui.context import AppContext

    ctx = AppContext(jobs=JobManager(RunStore(runs_dir), host=host or HostSettings()))
    with gr.Blocks() as demo:
        page = build_page(ctx, demo)
    return ctx, page


def form_values(ctx: Any, **fields: Any) -> dict[Any, Any]:
    """The form's widgets at their start values, as a handler receives them ({widget: value}), with some fields set:
    `model="..."` sets ("model", "name_or_path"), `section__name=...` sets (section, name), others (name,)."""
    values = {c: c.value for c in ctx.form.components()}
    values[ctx.owner] = None
    for key, value in fields.items():
        path = ("model", "name_or_path") if key == "model" else tuple(key.split("__"))
        values[ctx.form.by_path[path]] = value
    return values
