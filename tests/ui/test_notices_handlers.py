"""Issue 17 items 4 and 6 at the handlers: notices that go with their cause, a Train button that says what the job
manager is doing, and Compare on a person's own texts with a CSV of what the filter shows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ft_app.hosting import HostSettings
from ft_app.limits import MAX_COMPARE_ROWS
from ft_app.ownership import new_owner_key
from ft_app.training.jobs import JobBusyError
from ft_app.ui import app, common, compare_tab, data_tab, train_tab, words
from ft_app.ui.context import AppContext
from tests.fixtures.data_files import write_sentiment_csv
from tests.ui.conftest import build_studio, form_values

OWNER = new_owner_key()


@dataclass
class Trained:
    ctx: AppContext
    page: app.Page
    run_id: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Iterator[Trained]:
    """One tiny finished classification run, started through the Train handler."""
    home = tmp_path_factory.mktemp("notices")
    data = write_sentiment_csv(home / "reviews.csv")
    ctx, page = build_studio(home / "runs")
    values = form_values(ctx, model=str(tiny_bert_dir), data__train=str(data), training__max_steps=4,
                         training__batch_size=8)
    values.update({page.train.smoothing: 0.0, page.model.token: "", ctx.owner: OWNER})
    outputs = train_tab.start_from_form(ctx, page.train.smoothing, page.model.token, values)
    snap = ctx.jobs.wait(300)
    assert snap is not None and snap.status == "completed", snap and snap.message
    yield Trained(ctx=ctx, page=page, run_id=outputs[1])
    ctx.jobs.shutdown()


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    return tmp_path / "gradio"


def _csv_rows(path: str) -> list[dict[str, str]]:
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


SETTINGS = (8, 0.0, 1.0, 42)


# ---- 4 · Compare: own texts, the lines in one box, the CSV of what is shown ------------------------------------


def test_compare_answers_a_pasted_list_one_row_per_line(trained: Trained, downloads: Path) -> None:
    summary, table, csv_path, records = compare_tab.compare_rows(
        trained.ctx, trained.run_id, 20, *SETTINGS, "all", OWNER, "A warm film.\n\nA dull mess.\nGreat acting.")
    assert [row[0] for row in table] == ["A warm film.", "A dull mess.", "Great acting."]
    assert "your 3 texts" in summary and len(records) == 3
    assert [r["input"] for r in _csv_rows(csv_path)] == ["A warm film.", "A dull mess.", "Great acting."]


def test_compare_answers_an_uploaded_csv_with_labels(trained: Trained, downloads: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text("text,label\nA warm and moving film.,positive\nA dull and ugly mess.,negative\n", encoding="utf-8")
    summary, table, _csv, records = compare_tab.compare_rows(trained.ctx, trained.run_id, 20, *SETTINGS, "all", OWNER,
                                                            "", str(mine))
    assert [row[1] for row in table] == ["positive", "negative"]  # the expected answers, so both sides are judged
    assert summary.startswith("On your 2 texts the **base model was right")
    assert all(r["base_correct"] is not None for r in records)


def test_a_list_over_the_limit_or_of_another_kind_is_refused_by_name(trained: Trained, tmp_path: Path) -> None:
    too_many = "\n".join(f"text {i}" for i in range(MAX_COMPARE_ROWS + 1))
    with pytest.raises(ValueError, match=rf"{MAX_COMPARE_ROWS + 1} texts.*at most {MAX_COMPARE_ROWS}"):
        compare_tab.compare_rows(trained.ctx, trained.run_id, 20, *SETTINGS, "all", OWNER, too_many)
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(b"%PDF")
    with pytest.raises(ValueError, match=r"list\.pdf is not a list of texts"):
        compare_tab.compare_rows(trained.ctx, trained.run_id, 20, *SETTINGS, "all", OWNER, "", str(pdf))


def test_the_csv_holds_the_rows_the_filter_shows(trained: Trained, downloads: Path) -> None:
    texts = "\n".join(["A warm film.", "A dull mess.", "Great acting.", "Boring.", "Lovely.", "Awful."])
    _, table, csv_path, records = compare_tab.compare_rows(trained.ctx, trained.run_id, 20, *SETTINGS, "all", OWNER)
    assert len(_csv_rows(csv_path)) == len(table) == len(records)
    for which in ("fixed", "broken", "all"):
        shown, button = compare_tab.filtered_view(trained.ctx, which, records, OWNER)  # one event: table and file
        assert shown == compare_tab.filter_rows(which, records)
        path = button["value"]
        assert [r["input"] for r in _csv_rows(path)] == [row[0] for row in shown]
        assert all(r["change"] == which for r in _csv_rows(path)) or which == "all"
    # Asked with a filter, the table and its CSV already agree.
    _, table, csv_path, _ = compare_tab.compare_rows(trained.ctx, trained.run_id, 20, *SETTINGS, "broken", OWNER,
                                                     texts)
    assert len(_csv_rows(csv_path)) == len(table)


def test_one_box_with_several_lines_says_it_read_them_as_one_text(trained: Trained) -> None:
    *answers, note = compare_tab.compare_text_shown(trained.ctx, trained.run_id, "A warm film.\nA dull mess.\nOK.",
                                                    *SETTINGS, OWNER)
    assert len(answers) == 4 and "3 lines" in note and "each line on its own" in note
    *_, single = compare_tab.compare_text_shown(trained.ctx, trained.run_id, "A warm film.", *SETTINGS, OWNER)
    assert single == ""


# ---- 4 · Notices and the Train button ------------------------------------------------------------------------


def test_the_train_button_says_busy_stopping_and_starting(tmp_path: Path, tiny_bert_dir: Path) -> None:
    ctx, page = build_studio(tmp_path / "runs")
    idle = train_tab.train_button(ctx, OWNER)
    assert idle["interactive"] is True and idle["value"] == words.TRAIN
    starting = train_tab.starting()
    assert starting["interactive"] is False and starting["value"].startswith("Starting")
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    values = form_values(ctx, model=str(tiny_bert_dir), data__train=str(data), training__max_steps=5000,
                         training__eval_strategy="no")
    values.update({page.train.smoothing: 0.0, page.model.token: "", ctx.owner: OWNER})
    try:
        run_id = train_tab.start_from_form(ctx, page.train.smoothing, page.model.token, values)[1]
        busy = train_tab.train_button(ctx, OWNER)
        assert busy["interactive"] is False and busy["value"] == words.TRAIN_BUSY == "Busy: a run is training"
        stranger = train_tab.train_button(ctx, new_owner_key())  # a local app shows every run to everyone
        assert stranger["interactive"] is False
        # The page's view (the timer, a reload) carries the button too, and keeps polling while a run is on.
        view = train_tab.view(ctx, None, 0.0, None, OWNER)
        assert view[-1]["interactive"] is False and view[3].active is True
        bar, said = train_tab.stop_from_page(ctx, OWNER)  # the page says it at once, in the same answer
        assert said["interactive"] is False and said["value"] == "Stopping: saving what it learned…"
        stopping = train_tab.train_button(ctx, OWNER)
        assert stopping["interactive"] is False and stopping["value"] == words.TRAIN_STOPPING
        assert ctx.jobs.active_run(None)[0].run_id == run_id
    finally:
        ctx.jobs.stop() if ctx.jobs.busy else None
        ctx.jobs.wait(120)
    after = train_tab.train_button(ctx, OWNER)
    assert after["interactive"] is True and after["value"] == words.TRAIN
    demo_ctx, _ = build_studio(tmp_path / "demo-runs", HostSettings(demo=True))
    assert train_tab.train_button(demo_ctx, OWNER)["interactive"] is False


def test_a_busy_notice_goes_when_its_run_ends(tmp_path: Path) -> None:
    notice, cause = object(), object()

    def refuse() -> None:
        raise JobBusyError("Busy: run r1 is training (step 3/10).", run_id="r1")

    refused = common.into_notice(refuse, [], notice, cause)()
    assert "Busy: run r1" in refused[notice] and refused[cause] == "r1"
    assert common.into_notice(lambda: 1, ["x"], notice, cause)()[cause] is None

    class Jobs:
        active = True

        def active_run(self, who: Any = None) -> Any:
            return (type("Snap", (), {"run_id": "r1"})(), True) if self.active else None

    ctx = type("Ctx", (), {"jobs": Jobs()})()
    assert train_tab.drop_ended_notice(ctx, "r1") == [train_tab.gr.skip(), train_tab.gr.skip()]
    ctx.jobs.active = False
    assert train_tab.drop_ended_notice(ctx, "r1") == ["", None]
    assert train_tab.drop_ended_notice(ctx, None) == [train_tab.gr.skip(), train_tab.gr.skip()]


def test_a_refused_upload_is_said_in_words_and_goes_with_a_new_source(tmp_path: Path) -> None:
    ctx, page = build_studio(tmp_path / "runs")
    # Gradio's own type check would mark the box with a red Error badge and never reach the handler.
    assert page.data.upload.file_types is None
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"notes\.txt.*CSV"):
        data_tab.upload_data(ctx, str(notes), "classification", OWNER)
    assert data_tab.clear_refused_upload("<div>refused</div>")["value"] is None
    assert data_tab.clear_refused_upload("") == data_tab.gr.skip()
    notice, upload = data_tab.forget_source_notices()
    assert notice == "" and upload["value"] is None

