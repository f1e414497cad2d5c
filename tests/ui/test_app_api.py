"""Drive the real app through its named API endpoints with gradio_client: a tiny training end to end, and bad input."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.ui.conftest import AppServer

TRAIN_TIMEOUT_S = 180
SECRET_TOKEN = "hf_UiSecretToken0123456789abcdefXYZ"


@pytest.fixture(scope="module")
def client(app_server: AppServer) -> Client:
    """A gradio_client connected to the app."""
    return Client(app_server.url, verbose=False)


def run_folders(server: AppServer) -> list[str]:
    """The run folders on disk (not the store's own hidden folders, such as its locks)."""
    if not server.runs_dir.is_dir():
        return []
    return sorted(p.name for p in server.runs_dir.iterdir() if not p.name.startswith("."))


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
    with pytest.raises(AppError, match="No model chosen: "):
        client.predict(config_json("", str(sentiment_csv), max_steps=2), 0.0, api_name="/train")
    with pytest.raises(AppError, match="Training data is empty"):
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
    # The response names the kept file, never its path on the server; runs find it in the app's uploads folder.
    assert kept == f"uploads/{Path(kept).name}" and (app_server.uploads_dir / Path(kept).name).is_file()
    assert str(app_server.home) not in json.dumps([kept, summary])
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
    assert run_folders(app_server) == [run_id]  # (Delete of a training run ends it first: test_app_processes)

    status = wait_done(client)
    assert status["run_id"] == run_id
    assert status["status"] == "completed", status
    assert status["step"] == status["total_steps"] == 40
    assert status["train_points"] >= 20 and status["eval_points"] >= 1

    # The timer's poll endpoint draws the whole curve, the finished progress bar and the log.
    plot, progress, log_tail, _timer, shown_run, *_ = client.predict(api_name="/poll")
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


def find_card(values: Any) -> str:
    """The before -> after card's HTML among an endpoint's outputs."""
    cards = [v for v in values if isinstance(v, str) and ('class="ft-ba"' in v or 'class="ft-ba ' in v)]
    assert len(cards) == 1, values
    return cards[0]


def heat_maps(values: Any) -> list[dict[str, Any]]:
    """The confusion-matrix heat maps (first trace of each plotly figure that is a heat map) among outputs."""
    traces = []
    for v in values:
        if isinstance(v, dict) and v.get("type") == "plotly":
            data = json.loads(v["plot"])["data"]
            traces += [t for t in data if t.get("type") == "heatmap"]
    return traces


def table_rows(table_html: str) -> list[list[str]]:
    """The body rows of an HTML table, each a list of its cells' text."""
    body = table_html.split("<tbody>", 1)[1]
    return [[html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_before_after_card_golden_table_and_batch_side_by_side(
    client: Client, app_server: AppServer, sentiment_csv: Path, tiny_bert_dir: Path
) -> None:
    prompts = ["A wonderful, moving film.", "A dull and ugly mess."]
    cfg = json.dumps({
        "task": "classification", "model": str(tiny_bert_dir), "method": "full", "data": {"train": str(sentiment_csv)},
        "training": {"max_steps": 40, "batch_size": 8, "logging_steps": 2, "learning_rate": 1e-3},
        "evaluation": {"golden_prompts": "\n".join(prompts), "golden_from_heldout": 3,  # typed one per line
                       "zero_shot_model": "no-such-org/nli-model"},  # cannot be had offline: skipped, run not failed
    })
    run_id, *_ = client.predict(cfg, 0.0, SECRET_TOKEN, api_name="/train")  # a token typed into the password box
    assert wait_done(client)["status"] == "completed"
    written = [p for p in app_server.home.rglob("*") if p.is_file()] + [app_server.log_path]
    assert len(written) > 10
    assert not [p for p in written if SECRET_TOKEN.encode() in p.read_bytes()]  # kept for the run only, never written

    # The numbers come back through the API exactly as the run wrote them.
    on_disk = json.loads((app_server.runs_dir / run_id / "eval.json").read_text())
    results = client.predict(run_id, api_name="/run_results")
    assert results["before"] == on_disk["before"] and results["after"] == on_disk["after"]
    assert results["summary"] == on_disk["summary"] and "held-out rows" in results["summary"]
    before, after = results["before"], results["after"]
    assert {"accuracy", "f1", "loss", "per_class", "confusion_matrix", "labels"} <= set(after)
    golden = results["golden"]
    assert [g["input"] for g in golden[:2]] == prompts and len(golden) == 5
    assert all(g["reference"] for g in golden[2:]) and not any(g["reference"] for g in golden[:2])

    # The Train tab (the timer's poll) and the Runs tab (open_run) show the same card, heat maps and golden table.
    for values in (client.predict(api_name="/poll"), client.predict(run_id, api_name="/open_run")):
        card = find_card(values)
        assert results["summary"].split(":")[-1].strip() in card  # the plain verdict
        for side in (before, after):
            assert f"{side['accuracy']:.1%}" in card and f"{side['f1']:.3f}" in card
        assert "F1 of label “positive”" in card and "F1 of label “negative”" in card
        assert "Zero-shot baseline skipped: The zero-shot model 'no-such-org/nli-model' could not be loaded" in (
            html.unescape(card)
        )
        maps = heat_maps(values)
        assert [m["text"] for m in maps] == [
            [[str(v) for v in row] for row in side["confusion_matrix"]] for side in (before, after)
        ]
        assert all(m["x"] == after["labels"] and m["y"] == after["labels"] for m in maps)
        (table,) = [v for v in values if isinstance(v, str) and "ft-golden-table" in v]
        data = table_rows(table)
        assert [row[0] for row in data] == [g["input"] for g in golden]
        assert [row[1] for row in data] == [g["reference"] for g in golden]
        assert all(row[2].startswith(g["base"]["label"]) and row[3].startswith(g["finetuned"]["label"])
                   for row, g in zip(data, golden))

    # Batch side by side: N rows, each side judged, a filter, and the table as a CSV served as a returned file.
    raw = Client(app_server.url, verbose=False, download_files=False)
    summary, table, csv_file = raw.predict(run_id, 5, 16, 0.0, 1.0, 42, "all", api_name="/batch_compare")
    rows = table["data"]
    assert len(rows) == 5 and all(len(r) == 7 for r in rows)
    assert {r[4] for r in rows} <= {"✔ yes", "✘ no"} and {r[5] for r in rows} <= {"✔ yes", "✘ no"}
    assert f"base model was right {sum(r[4] == '✔ yes' for r in rows)} times" in summary
    assert f"fine-tuned model {sum(r[5] == '✔ yes' for r in rows)} times" in summary
    for row in rows:
        expected = {("✘ no", "✔ yes"): "fixed by fine-tuning", ("✔ yes", "✘ no"): "broken by fine-tuning"}
        assert row[6] == expected.get((row[4], row[5]), "no change")
    response = httpx.get(csv_file["url"], timeout=10)
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("input,reference,base,fine-tuned") and len(lines) == 6
    assert not csv_file["path"].startswith(str(app_server.home))  # a temp copy, not a file of the runs folder
    for which, word in (("fixed", "fixed by fine-tuning"), ("broken", "broken by fine-tuning")):
        _, only, _ = raw.predict(run_id, 5, 16, 0.0, 1.0, 42, which, api_name="/batch_compare")
        assert [r for r in only["data"]] == [r for r in rows if r[6] == word]
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
    assert run["status"] == "stopped" and run["has_model"] and run["can_resume"]  # Stop saved a checkpoint
    client.predict(run_id, [], api_name="/delete_run")
    assert run_id not in run_folders(app_server)


def test_runs_left_running_by_a_dead_app_show_as_interrupted_and_failures_explain_themselves(
    tmp_path: Path, tiny_bert_dir: Path
) -> None:
    from ft_app.config import RunConfig
    from ft_app.runs import RunStore
    from tests.ui.conftest import start_app, stop_app

    home = tmp_path / "home"
    store = RunStore(home / "runs")
    failed = store.create(RunConfig.from_dict({"task": "classification", "model": str(tiny_bert_dir),
                                               "data": {"train": "x.csv"}, "name": "crashed"}))
    reason = "The GPU ran out of memory. Lower the batch size (and raise gradient accumulation to keep the effective batch)."
    store.write_status(failed, status="failed", message=reason, created="2020-01-01T00:00:00+00:00")
    (failed / "log.txt").write_text("loading model\nstep 1\nTraceback (most recent call last):\n  boom <here>\n")
    config = RunConfig.from_dict({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": "x.csv"}})
    run_dir = store.create(config)
    store.write_status(run_dir, status="running", phase="training", step=3, total_steps=10)
    server = start_app(home, tmp_path / "app.log")
    try:
        client = Client(server.url, verbose=False)
        run, crashed = client.predict(api_name="/list_runs")
        assert run["run_id"] == run_dir.name and run["status"] == "interrupted"
        assert "app stopped while this run was active" in run["message"]
        assert not run["can_resume"] and not crashed["can_resume"]  # neither saved a checkpoint
        status = client.predict("", api_name="/status")  # what a reloaded page shows: the last run, not active
        assert status["run_id"] == run_dir.name and status["status"] == "interrupted" and not status["active"]

        # Runs tab: the failed run shows its plain reason, what to do, and its log tail (escaped, not as HTML).
        # (API outputs: plot, summary, config, failure card, log tail, then the results panel.)
        _plot, summary, _config, failure, log_tail, *_ = client.predict(crashed["run_id"], api_name="/open_run")
        assert failure["visible"] and "Training failed" in failure["value"] and reason in failure["value"]
        assert "boom &lt;here&gt;" in failure["value"] and "<here>" not in failure["value"]
        assert "start again" in failure["value"] and "Resume" not in failure["value"]
        assert "Traceback" in log_tail and reason not in summary  # the reason is said once, in the card
        # The interrupted one says what happened and why it cannot simply continue.
        _plot, _summary, _config, failure, *_ = client.predict(run_dir.name, api_name="/open_run")
        assert "Training was interrupted" in failure["value"] and "saved no complete checkpoint" in failure["value"]
        # The Train tab (a reloaded page shows the last run) shows the failure card too.
        values = client.predict(api_name="/poll")
        (card,) = [v for v in values if isinstance(v, dict) and "ft-failure" in str(v.get("value", ""))]
        assert card["visible"] and "Training was interrupted" in card["value"]
    finally:
        stop_app(server)
