"""Drive the real app through its named API endpoints with gradio_client: a tiny training end to end, and bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.ui.conftest import AppServer

TRAIN_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def client(app_server: AppServer) -> Client:
    """A gradio_client connected to the app."""
    return Client(app_server.url, verbose=False)


def run_folders(server: AppServer) -> list[str]:
    """The run folders on disk."""
    return sorted(p.name for p in server.runs_dir.iterdir()) if server.runs_dir.is_dir() else []


def uploads(server: AppServer) -> list[str]:
    """The uploaded files the app kept."""
    return sorted(p.name for p in server.uploads_dir.iterdir()) if server.uploads_dir.is_dir() else []


def config_json(model: str, data: str, **training: Any) -> str:
    """A run config in the hand-written shape."""
    return json.dumps({"task": "classification", "model": model, "method": "full", "data": {"train": data},
                       "training": training})


def wait_done(client: Client, timeout: float = TRAIN_TIMEOUT_S) -> dict[str, Any]:
    """Poll /status until the current run is no longer active."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.predict("", api_name="/status")
        if not status["active"]:
            return status
        time.sleep(0.5)
    raise AssertionError(f"training did not finish within {timeout}s: {status}")


def plot_points(plot: dict[str, Any], trace_name: str) -> int:
    """How many points a named trace of a plotly figure (as the Plot component sends it) has."""
    figure = json.loads(plot["plot"])
    for trace in figure["data"]:
        if trace.get("name", "").startswith(trace_name):
            return sum(y is not None for y in trace["y"])
    return 0


def test_train_with_no_model_or_no_data_is_refused_and_changes_nothing(
    client: Client, app_server: AppServer, sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    before = run_folders(app_server)
    with pytest.raises(AppError, match="model is empty: pick a model"):
        client.predict(config_json("", str(sentiment_csv), max_steps=2), 0.0, api_name="/train")
    with pytest.raises(AppError, match="data.train is empty"):
        client.predict(config_json(str(tiny_bert_dir), "", max_steps=2), 0.0, api_name="/train")
    with pytest.raises(AppError, match="No run config"):
        client.predict("", 0.0, api_name="/train")
    assert run_folders(app_server) == before
    assert client.predict("", api_name="/status")["active"] is False


def test_stop_with_nothing_running_says_so(client: Client) -> None:
    with pytest.raises(AppError, match="Nothing is training right now"):
        client.predict(api_name="/stop")


def test_upload_that_is_not_a_table_is_refused_and_keeps_nothing(
    client: Client, app_server: AppServer, tmp_path: Path
) -> None:
    before = uploads(app_server)
    garbage = tmp_path / "photo.csv"
    garbage.write_bytes(bytes(range(256)) * 40)  # binary, not UTF-8 text
    with pytest.raises(AppError, match="UTF-8|not a table|CSV|read"):
        client.predict(handle_file(str(garbage)), "classification", api_name="/upload_data")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(AppError, match="(?i)empty|no rows"):
        client.predict(handle_file(str(empty)), "classification", api_name="/upload_data")
    notes = tmp_path / "notes.txt"
    notes.write_text("just some notes\n", encoding="utf-8")
    with pytest.raises(AppError, match="(?i)file type|CSV|TSV"):
        client.predict(handle_file(str(notes)), "classification", api_name="/upload_data")
    assert uploads(app_server) == before


def test_tiny_training_end_to_end(
    client: Client, app_server: AppServer, sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    # Compare before any run finished: a plain message, nothing else happens.
    assert not any(r["has_model"] for r in client.predict(api_name="/list_runs"))
    with pytest.raises(AppError, match="No finished run to compare yet"):
        client.predict("", "great film", 16, 0.0, 1.0, 42, api_name="/compare")

    # Upload the data: the app keeps a copy and detects the columns.
    kept, _config, _split, preview, summary, text_col, label_col, *_ = client.predict(
        handle_file(str(sentiment_csv)), "classification", api_name="/upload_data"
    )
    assert Path(kept).parent == app_server.uploads_dir and Path(kept).is_file()
    assert "64 rows" in summary
    assert preview["headers"] == ["text", "label"] and len(preview["data"]) == 20
    assert text_col["value"] == "text" and label_col["value"] == "label"

    # Train returns at once with the run id; a second Train while it runs is refused.
    cfg = config_json(str(tiny_bert_dir), kept, max_steps=40, batch_size=8, logging_steps=1, learning_rate=1e-3)
    started = time.monotonic()
    run_id, *_ = client.predict(cfg, 0.0, api_name="/train")
    assert time.monotonic() - started < 30
    assert run_folders(app_server) == [run_id]
    with pytest.raises(AppError, match="Busy: run .* is training"):
        client.predict(cfg, 0.0, api_name="/train")
    with pytest.raises(AppError, match="no saved model yet"):
        client.predict(run_id, "great film", 16, 0.0, 1.0, 42, api_name="/compare")
    with pytest.raises(AppError, match="still running: stop it before deleting it"):
        client.predict(run_id, [], api_name="/delete_run")
    assert run_folders(app_server) == [run_id]

    status = wait_done(client)
    assert status["run_id"] == run_id
    assert status["status"] == "completed", status
    assert status["step"] == status["total_steps"] == 40
    assert status["train_points"] >= 20 and status["eval_points"] >= 1

    # The timer's poll endpoint draws the whole curve, the finished progress bar and the log.
    plot, progress, log_tail, _timer, shown_run = client.predict(api_name="/poll")
    assert shown_run == run_id
    assert plot_points(plot, "train loss") == status["train_points"]
    assert plot_points(plot, "eval loss") == status["eval_points"]
    assert plot_points(plot, "learning rate") == status["train_points"]
    assert 'data-status="completed"' in progress and "step 40 / 40" in progress
    assert isinstance(log_tail, str)

    runs = client.predict(api_name="/list_runs")
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["status"] == "completed" and runs[0]["has_model"]

    base_text, base_probs, tuned_text, tuned_probs = client.predict(
        run_id, "A wonderful, moving film.", 16, 0.0, 1.0, 42, api_name="/compare"
    )
    assert base_text and tuned_text
    for probs in (base_probs, tuned_probs):
        labels = {c["label"] for c in probs["confidences"]}
        assert labels == {"negative", "positive"}
        assert abs(sum(c["confidence"] for c in probs["confidences"]) - 1) < 1e-3
    assert base_probs["confidences"] != tuned_probs["confidences"]  # the fine-tuned side is not the base

    with pytest.raises(AppError, match="Nothing is training right now"):
        client.predict(api_name="/stop")

    # Delete (the Runs tab's confirm button): the folder goes, the list is empty, a second delete says so.
    client.predict(run_id, [], api_name="/delete_run")
    assert run_folders(app_server) == [] and client.predict(api_name="/list_runs") == []
    with pytest.raises(AppError, match="does not exist"):
        client.predict(run_id, [], api_name="/delete_run")


def test_hub_parts_say_offline_in_one_line_at_once(client: Client) -> None:
    for args, api in (
        (("bert", "classification"), "/search_models"),
        (("distilbert-base-uncased", "classification"), "/check_model"),
        (("stanfordnlp/sst2", "", "train", "classification"), "/load_data"),
    ):
        started = time.monotonic()
        with pytest.raises(AppError, match="cannot be reached \\(offline\\?\\)") as caught:
            client.predict(*args, api_name=api)
        assert time.monotonic() - started < 10, f"{api} took too long offline"
        assert "\n" not in str(caught.value).strip()


def test_stop_mid_run_keeps_what_it_learned(
    client: Client, app_server: AppServer, sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    cfg = config_json(str(tiny_bert_dir), str(sentiment_csv), max_steps=5000, batch_size=8, logging_steps=1)
    run_id, *_ = client.predict(cfg, 0.0, api_name="/train")
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while client.predict("", api_name="/status")["step"] < 3:
        assert time.monotonic() < deadline, "training did not reach step 3"
        time.sleep(0.3)
    progress = client.predict(api_name="/stop")
    assert run_id in progress
    status = wait_done(client)
    assert status["status"] == "stopped" and 3 <= status["step"] < 5000
    (run,) = [r for r in client.predict(api_name="/list_runs") if r["run_id"] == run_id]
    assert run["status"] == "stopped" and run["has_model"]
    client.predict(run_id, [], api_name="/delete_run")
    assert run_id not in run_folders(app_server)


def test_runs_left_running_by_a_dead_app_show_as_interrupted(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from tests.ui.conftest import start_app, stop_app

    home = tmp_path / "home"
    store = RunStore(home / "runs")
    config = RunConfig.from_dict({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": "x.csv"}})
    run_dir = store.create(config)
    store.write_status(run_dir, status="running", phase="training", step=3, total_steps=10)
    server = start_app(home, tmp_path / "app.log")
    try:
        client = Client(server.url, verbose=False)
        (run,) = client.predict(api_name="/list_runs")
        assert run["run_id"] == run_dir.name and run["status"] == "interrupted"
        assert "app stopped while this run was active" in run["message"]
        status = client.predict("", api_name="/status")  # what a reloaded page shows: the last run, not active
        assert status["run_id"] == run_dir.name and status["status"] == "interrupted" and not status["active"]
    finally:
        stop_app(server)
