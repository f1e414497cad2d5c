"""The app as a host would run it: login, demo mode (Compare but no Train), upload and queue limits, OAuth guard."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.ui.conftest import AppServer, start_app, stop_app
from tests.ui.test_app_api import run_folders

USER, PASSWORD = "ann", "s3cret-pass"
HOST_ENV = {
    "FT_APP_DEMO": "1",
    "FT_APP_AUTH": f"{USER}:{PASSWORD}",
    "FT_APP_MAX_UPLOAD_MB": "1",
    "FT_APP_QUEUE_SIZE": "1",
}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Iterator[tuple[AppServer, str]]:
    """A demo-mode app behind a login, serving one run that was trained before (by the engine, headless)."""
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from ft_app.training.jobs import JobManager
    from tests.fixtures import data_files

    home = tmp_path_factory.mktemp("demo_home")
    data = data_files.write_sentiment_csv(home / "sentiment.csv")
    jobs = JobManager(RunStore(home / "runs"))
    jobs.start(RunConfig.from_dict({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": str(data)},
                                    "training": {"max_steps": 10, "batch_size": 8}}))
    snap = jobs.wait(180)
    assert snap is not None and snap.status == "completed", snap
    server = start_app(home, home / "app.log", extra_env=HOST_ENV)
    yield server, snap.run_id
    stop_app(server)


@pytest.fixture(scope="module")
def client(demo_server: tuple[AppServer, str]) -> Client:
    """A signed-in gradio_client."""
    return Client(demo_server[0].url, auth=(USER, PASSWORD), verbose=False)


def signed_in(url: str) -> httpx.Client:
    """A plain HTTP client holding the login cookie."""
    http = httpx.Client(base_url=url, timeout=10)
    assert http.post("/login", data={"username": USER, "password": PASSWORD}).json() == {"success": True}
    return http


def test_login_guards_the_page_the_api_and_the_files(demo_server: tuple[AppServer, str]) -> None:
    server, run_id = demo_server
    for path in ("/config", "/gradio_api/info", f"/gradio_api/file={server.runs_dir / run_id / 'config.json'}"):
        response = httpx.get(server.url.rstrip("/") + path, timeout=10)
        assert response.status_code == 401 and "sign in" in response.text
    wrong = httpx.post(server.url + "login", data={"username": USER, "password": "guess"}, timeout=10)
    assert wrong.status_code == 400 and "Incorrect credentials" in wrong.text
    with pytest.raises(ValueError, match="(?i)could not login|credentials"):
        Client(server.url, auth=(USER, "guess"), verbose=False)
    assert signed_in(server.url).get("/config").status_code == 200


def test_demo_mode_refuses_training_in_the_page_and_the_api_but_compares(
    demo_server: tuple[AppServer, str], client: Client, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    server, run_id = demo_server
    before = run_folders(server)
    cfg = json.dumps({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": str(sentiment_csv)}})
    with pytest.raises(AppError, match="demo server: training is switched off"):
        client.predict(cfg, 0.0, api_name="/train")
    with pytest.raises(AppError, match="demo server|only interrupted, stopped or failed"):
        client.predict(run_id, "", api_name="/resume_run")
    with pytest.raises(AppError, match="demo server: deleting runs is switched off"):
        client.predict(run_id, [], api_name="/delete_run")
    assert run_folders(server) == before  # no new run, nothing deleted
    with pytest.raises(AppError, match="demo server: uploading data is switched off"):
        client.predict(handle_file(str(sentiment_csv)), "classification", api_name="/upload_data")
    assert not server.uploads_dir.exists()  # a demo server keeps no visitor's files

    # The page says so, and its Train button cannot be pressed.
    props = {c["props"].get("elem_id"): c["props"] for c in client.config["components"] if c.get("props")}
    assert props["train-btn"]["interactive"] is False
    assert "Demo server" in props["demo-banner"]["value"]
    assert props["data-upload"]["label"].endswith("(up to 1 MB)")

    # Compare still works on the run that is there.
    base, base_probs, tuned, tuned_probs = client.predict(run_id, "A wonderful film.", 8, 0.0, 1.0, 42,
                                                          api_name="/compare")
    assert base and tuned and base_probs["confidences"] and tuned_probs["confidences"]
    summary, table, _csv = client.predict(run_id, 3, 8, 0.0, 1.0, 42, "all", api_name="/batch_compare")
    assert len(table["data"]) == 3 and "held-out rows" in summary


def test_uploads_over_the_limit_are_refused_with_a_clear_message(demo_server: tuple[AppServer, str]) -> None:
    http = signed_in(demo_server[0].url)
    big = http.post("/gradio_api/upload", files={"files": ("big.csv", b"text,label\n" + b"x" * (1536 * 1024))})
    assert big.status_code == 413 and "maximum allowed size of 1048576 bytes" in big.text
    small = http.post("/gradio_api/upload", files={"files": ("small.csv", b"text,label\nhi,positive\n")})
    assert small.status_code == 200


def test_a_full_queue_says_so(demo_server: tuple[AppServer, str]) -> None:
    server, run_id = demo_server
    visitors = [Client(server.url, auth=(USER, PASSWORD), verbose=False) for _ in range(6)]

    def all_at_once() -> list[Any]:
        barrier = threading.Barrier(len(visitors))
        outcomes: list[Any] = [None] * len(visitors)

        def visit(i: int) -> None:
            barrier.wait()
            try:
                outcomes[i] = visitors[i].predict(run_id, 5, 8, 0.0, 1.0, 42, "all", api_name="/batch_compare")
            except Exception as exc:  # gradio_client raises QueueError for a full queue
                outcomes[i] = exc

        threads = [threading.Thread(target=visit, args=(i,)) for i in range(len(visitors))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        return outcomes

    # Meanwhile another visitor asks for the run's status: light calls are never turned away nor held (issue 20).
    watcher = Client(server.url, auth=(USER, PASSWORD), verbose=False)
    statuses: list[Any] = []
    flooding = threading.Event()

    def watch() -> None:
        while not flooding.is_set():
            started = time.monotonic()
            try:
                watcher.predict(run_id, api_name="/status")
                statuses.append(time.monotonic() - started)
            except Exception as exc:
                statuses.append(exc)

    for _attempt in range(3):  # six at once against a queue with one waiting place: some must be turned away
        flooding.clear()
        status_thread = threading.Thread(target=watch)
        status_thread.start()
        outcomes = all_at_once()
        flooding.set()
        status_thread.join(30)
        if any(isinstance(o, Exception) for o in outcomes):
            break
    refused = [o for o in outcomes if isinstance(o, Exception)]
    served = [o for o in outcomes if isinstance(o, tuple)]
    assert refused and served, outcomes
    assert all("Queue is full" in str(o) for o in refused), refused
    assert statuses and all(isinstance(s, float) for s in statuses), statuses  # none refused
    assert max(statuses) < 10, statuses


def test_oauth_button_only_on_a_space_with_oauth_and_then_train_needs_sign_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    import sys
    import types

    import gradio as gr

    from ft_app.hosting import HostSettings
    from ft_app.runs import RunStore
    from ft_app.training.jobs import JobManager
    from ft_app.ui.app import build_app, oauth_available, server_options

    space_env = ("SYSTEM", "SPACE_ID", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES")
    host = HostSettings(oauth=True)
    for name in space_env:
        monkeypatch.delenv(name, raising=False)
    assert not oauth_available(host)  # asked for, but not on a Space: no button that could not work
    for name in space_env:
        monkeypatch.setenv(name, "spaces" if name == "SYSTEM" else "x")
    monkeypatch.setitem(sys.modules, "authlib", types.ModuleType("authlib"))
    assert oauth_available(host) and not oauth_available(HostSettings())

    # On a Space Gradio adds its sign-in routes (they talk to huggingface.co); here only our gate is under test.
    import gradio.routes

    monkeypatch.setattr(gradio.routes, "attach_oauth", lambda app: None)
    store = RunStore(tmp_path / "runs")
    demo = build_app(JobManager(store, host=host))
    assert any(isinstance(b, gr.LoginButton) for b in demo.blocks.values())
    (train,) = [f for f in demo.fns.values() if f.api_name == "train"]
    cfg = json.dumps({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": str(sentiment_csv)}})
    with pytest.raises(gr.Error, match="Sign in with Hugging Face"):
        train.fn(cfg, 0.0, "", None)  # no signed-in profile
    assert not store.root.exists()

    options = server_options(HostSettings(auth=("a", "b"), max_upload_mb=7), store)
    assert options["auth"] == ("a", "b") and options["max_file_size"] == "7mb" and options["allowed_paths"] == []
    assert str(store.root) in options["blocked_paths"]
