"""The page's handlers called directly (no server): each tab's module-level functions with a real AppContext and
JobManager on a tmp runs folder, tiny local models and data. One tiny run is trained through the Train handler and
shared by the Compare, Runs and Export tests of this module."""

from __future__ import annotations

import ast
import inspect
import json
import string
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest

from ft_app.hosting import HostSettings
from ft_app.ownership import new_owner_key, valid_owner_key
from ft_app.ui import app, common, compare_tab, data_tab, export_tab, model_tab, runs_tab, train_tab, words
from ft_app.ui.context import AppContext
from tests.fixtures.data_files import write_sentiment_csv
from tests.ui.conftest import build_studio, form_values

UI = Path(app.__file__).parent
OWNER = new_owner_key()  # the visitor who trains the shared run
STRANGER = new_owner_key()


@dataclass
class Trained:
    """The shared studio after one finished run."""

    ctx: AppContext
    page: app.Page
    run_id: str
    data: Path
    start_outputs: tuple[Any, ...]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Iterator[Trained]:
    """The Train button's handler starts a tiny classification run (golden prompts, held-out rows); wait for it."""
    home = tmp_path_factory.mktemp("handlers")
    data = write_sentiment_csv(home / "reviews.csv")
    ctx, page = build_studio(home / "runs")
    values = form_values(ctx, model=str(tiny_bert_dir), data__train=str(data), training__max_steps=4,
                         training__batch_size=8, evaluation__golden_prompts="A warm and moving film.",
                         evaluation__golden_from_heldout=2, name="handlers run")
    values.update({page.train.smoothing: 0.0, page.model.token: "", ctx.owner: OWNER})
    outputs = train_tab.start_from_form(ctx, page.train.smoothing, page.model.token, values)
    snap = ctx.jobs.wait(300)
    assert snap is not None and snap.status == "completed", snap and snap.message
    yield Trained(ctx=ctx, page=page, run_id=outputs[1], data=data, start_outputs=outputs)
    ctx.jobs.shutdown()


@pytest.fixture
def studio(tmp_path: Path) -> tuple[AppContext, app.Page]:
    """A fresh studio with no runs."""
    return build_studio(tmp_path / "runs")


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Gradio's cache (where downloads are made) in this test's folder."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    return tmp_path / "gradio"


# ---- shared helpers ------------------------------------------------------------------------------------------


def test_bind_shows_gradio_the_visitors_parameters_and_keeps_the_name_and_docstring(studio: Any) -> None:
    ctx, _ = studio
    bound = common.bind(train_tab.status, ctx)
    assert list(inspect.signature(bound).parameters) == ["run_id", "request"]
    assert bound.__name__ == "status" and bound.__doc__ == train_tab.status.__doc__
    assert bound("") == {"run_id": None, "status": "idle", "active": False}


def test_every_words_template_is_filled_with_exactly_its_fields() -> None:
    """A sentence of words.py filled in the code (`words.X.format(...)`) gets each of its {fields}, and no other."""
    calls = 0
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "words"):
                continue
            assert hasattr(words, node.attr), f"{path.name}:{node.lineno}: words.{node.attr} does not exist"
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = getattr(node, "func", None)
            if not (isinstance(node, ast.Call) and isinstance(func, ast.Attribute) and func.attr == "format"):
                continue
            target = func.value
            if isinstance(target, ast.Attribute) and getattr(target.value, "id", None) == "words":
                fields = {f for _, f, _, _ in string.Formatter().parse(getattr(words, target.attr)) if f}
                assert not node.args and {k.arg for k in node.keywords} == fields, f"{path.name}:{node.lineno}"
                calls += 1
    assert calls > 50


# ---- the page around the tabs --------------------------------------------------------------------------------


def test_the_owner_key_is_kept_or_made(studio: Any) -> None:
    key, state = app.init_owner(None)
    assert valid_owner_key(key) and state == key
    assert app.init_owner(OWNER) == (OWNER, OWNER)


def test_a_task_shows_its_columns_and_a_head_only_method_becomes_lora(studio: Any) -> None:
    _, page = studio
    out = app.on_task(page.data, "causal_lm", "head")
    shown = dict(zip(data_tab.MAPPING_FIELDS, out, strict=False))
    assert shown["prompt_column"].visible and not shown["label_column"].visible
    assert out[-1] == "lora" and ("sentiment-lora" not in [key for _, key in out[-2].choices])
    assert app.on_task(page.data, "classification", "head")[-1] == gr.skip()


def test_try_example_offline_fills_the_form_with_the_bundled_file(studio: Any, tiny_bert_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from ft_app import catalog, presets

    monkeypatch.setattr(catalog, "hub_status", lambda: SimpleNamespace(reachable=False, message="Offline."))
    ctx, page = studio
    updates = app.try_example(ctx, page.train.preset, page.example_note, "classification", str(tiny_bert_dir))
    assert updates[page.example_note].startswith("**Offline example:**") and str(tiny_bert_dir) in updates[
        page.example_note]
    assert updates[ctx.form.by_path[("model", "name_or_path")]]["value"] == str(tiny_bert_dir)
    assert updates[ctx.form.by_path[("data", "train")]]["value"] == str(presets.example_file("classification"))
    # The example's data previews with its columns; a data file the host keeps out is said in the summary.
    values = form_values(ctx, data__train=str(presets.example_file("classification")))
    preview, summary, *columns = app.preview_example(ctx, values)
    assert "rows" in summary and any(c.value == "text" for c in columns)
    ctx_root, _ = build_studio(ctx.store.root.parent / "other", HostSettings(local_root=tiny_bert_dir))
    _, problem, *_ = app.preview_example(ctx_root, form_values(ctx_root, data__train=str(presets.example_file(
        "classification"))))
    assert problem.startswith("**Problem:**")


# ---- 1 · Model -------------------------------------------------------------------------------------------------


def test_check_model_describes_a_local_folder_and_a_host_refuses_one_outside_its_root(
    studio: Any, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    ctx, _ = studio
    card = model_tab.check_model(ctx, str(tiny_bert_dir), "classification")
    assert f"(folder on this computer: `{tiny_bert_dir}`)" in card and "- Architecture:" in card
    assert "Check the task" in model_tab.check_model(ctx, str(tiny_bert_dir), "causal_lm")
    assert model_tab.describe_model("  ", "classification") == words.NO_MODEL_YET
    elsewhere, _ = build_studio(tmp_path / "elsewhere", HostSettings(local_root=tmp_path / "root"))
    with pytest.raises(ValueError, match="Model"):
        model_tab.check_model(elsewhere, str(tiny_bert_dir), "classification")


def test_picking_a_local_model_fills_the_box(tiny_bert_dir: Path) -> None:
    assert model_tab.pick_local(None, "kept", "classification") == ("kept", gr.skip())
    name, card = model_tab.pick_local(str(tiny_bert_dir), "", "classification")
    assert name == str(tiny_bert_dir) and "Architecture" in card
    name, card = model_tab.pick_local("/no/such/model", "", "classification")
    assert name == "/no/such/model" and "**Problem:**" in card


# ---- 2 · Data --------------------------------------------------------------------------------------------------


def test_load_data_previews_a_file_and_detects_its_columns(studio: Any, sentiment_csv: Path) -> None:
    ctx, _ = studio
    with pytest.raises(ValueError, match="No data given"):
        data_tab.load_data(ctx, "  ", None, None, "classification")
    config_picker, split_picker, preview, summary, *columns = data_tab.load_data(
        ctx, str(sentiment_csv), None, None, "classification")
    assert split_picker.value == "train" and config_picker.choices == []
    assert summary.startswith("**64 rows** · columns: `text`, `label`") and "**text** ← `text`" in summary
    assert len(preview) == data_tab.PREVIEW_ROWS
    mapping = dict(zip(data_tab.MAPPING_FIELDS, columns, strict=True))
    assert mapping["text_column"].value == "text" and mapping["label_column"].value == "label"


def test_an_upload_is_kept_under_its_name_and_a_non_table_is_refused(studio: Any, sentiment_csv: Path,
                                                                   tmp_path: Path) -> None:
    ctx, _ = studio
    kept, *_, summary = data_tab.upload_data(ctx, str(sentiment_csv), "classification", OWNER)[:5]
    assert kept == f"uploads/{Path(kept).name}" and (ctx.uploads_dir / Path(kept).name).is_file()
    assert "64 rows" in summary
    garbage = tmp_path / "photo.csv"
    garbage.write_bytes(bytes(range(256)) * 40)
    before = sorted(p.name for p in ctx.uploads_dir.iterdir())
    with pytest.raises(ValueError):
        data_tab.upload_data(ctx, str(garbage), "classification", OWNER)
    assert sorted(p.name for p in ctx.uploads_dir.iterdir()) == before
    assert data_tab.upload_data(ctx, None, "classification") == [gr.skip()] * (4 + len(data_tab.MAPPING_FIELDS))


def test_the_data_report_needs_a_model_and_then_counts_labels_and_tokens(
    studio: Any, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    ctx, page = studio
    notice = page.data.notice
    values = {**form_values(ctx, data__train=str(sentiment_csv)), notice: ""}
    assert data_tab.auto_report(ctx, notice, values)[0] == words.REPORT_PICK_MODEL
    assert data_tab.auto_report(ctx, notice, {**values, notice: "refused"}) == [gr.skip()] * 4
    values[ctx.form.by_path[("model", "name_or_path")]] = str(tiny_bert_dir)
    text, balance, lengths, example = data_tab.auto_report(ctx, notice, values)
    assert text.startswith("**Token lengths** (64 rows measured)"), text
    assert sorted(balance.data[0].x) == ["negative", "positive"] and lengths.data
    assert data_tab.data_report(ctx, values)[0] == text
    values[ctx.form.by_path[("data", "train")]] = "/no/such/file.csv"
    assert data_tab.auto_report(ctx, notice, values)[0].startswith("**Not checked yet:**")


# ---- 3 · Train -------------------------------------------------------------------------------------------------


def test_train_refusals_say_what_is_missing_and_create_nothing(studio: Any, tiny_bert_dir: Path) -> None:
    ctx, page = studio
    with pytest.raises(ValueError, match="No run config"):
        train_tab.start(ctx, "  ", 0.0)
    values = {**form_values(ctx), page.train.smoothing: 0.0, page.model.token: ""}
    with pytest.raises(ValueError, match="No model chosen"):
        train_tab.start_from_form(ctx, page.train.smoothing, page.model.token, values)
    with pytest.raises(ValueError, match="Nothing is training"):
        train_tab.stop(ctx)
    with pytest.raises(ValueError, match="Pick a run to resume"):
        train_tab.resume(ctx, None)
    signed_in_only = AppContext(jobs=ctx.jobs, login_required=True)
    config = json.dumps({"task": "classification", "model": str(tiny_bert_dir), "data": {"train": "x.csv"}})
    with pytest.raises(ValueError, match="Sign in with Hugging Face"):
        train_tab.start(signed_in_only, config, 0.0)
    assert ctx.store.list_runs() == []
    assert train_tab.status(ctx, "") == {"run_id": None, "status": "idle", "active": False}


def test_a_recipe_sets_method_and_knobs_and_keeps_the_data(studio: Any) -> None:
    from ft_app import presets

    ctx, page = studio
    note = page.train.preset_note
    assert train_tab.pick_preset(ctx, note, None, "") == {**ctx.form.unchanged(), note: gr.skip()}
    updates = train_tab.pick_preset(ctx, note, "sentiment-lora", "my/model")
    assert updates[ctx.form.by_path[("method",)]]["value"] == "lora"
    assert ctx.form.by_path[("data", "train")] not in updates  # what the visitor picked as data is kept
    assert updates[note].startswith(f"**{presets.get_preset('sentiment-lora').title}.**")
    radio, lora_box = train_tab.on_method("qlora")
    assert lora_box.visible and radio.info.startswith("QLoRA (4-bit): ")
    assert train_tab.on_method("full")[1].visible is False


def test_the_started_run_is_watched_and_its_results_show_when_it_ends(trained: Trained) -> None:
    ctx, page, run_id = trained.ctx, trained.page, trained.run_id
    config_json, run_box, watched, timer, _fig, bar, _log = trained.start_outputs
    assert run_id.endswith("-handlers-run") and run_box == watched == run_id and timer.active
    assert json.loads(config_json)["name"] == "handlers-run" and f"data-run=\"{run_id}\"" in bar
    assert (ctx.store.path(run_id) / "config.json").is_file()
    out = train_tab.view(ctx, None, 0.0, None, OWNER)
    assert len(out) == len(page.train.view_outputs)
    fig, bar, log, timer, run_box = out[:5]
    assert 'data-status="completed"' in bar and "step 4 / 4 (100%)" in bar and not timer.active and run_box == run_id
    assert fig.layout.title.text == f"Training curve · {run_id}"
    panel = out[-10:-3]
    assert panel[0].visible and "ft-ba" in panel[1] and out[-2] == f"{run_id}:completed"
    assert train_tab.view(ctx, None, 0.0, out[-2], OWNER)[-10:-3] == [gr.skip()] * 7  # drawn once, not every tick
    assert out[-3].startswith(f"Run {run_id} took ") and " s a step)." in out[-3]  # the plan box, measured
    assert out[-1]["interactive"] is True and out[-1]["value"] == words.TRAIN  # the run ended: Train is free
    assert train_tab.attach(ctx, None, 0.0, None, OWNER)[0] == run_id
    status = train_tab.status(ctx, run_id)
    assert status["status"] == "completed" and status["step"] == 4 and status["train_points"] == 4
    with pytest.raises(ValueError, match="only interrupted, stopped or failed runs can be resumed"):
        train_tab.resume(ctx, run_id, None, OWNER)


def test_a_page_reload_restores_the_form_of_the_run_shown(trained: Trained) -> None:
    ctx = trained.ctx
    values = form_values(ctx)
    values[ctx.owner] = OWNER
    updates = app.restore_form(ctx, values)
    assert updates[ctx.form.by_path[("data", "train")]]["value"] == str(trained.data)
    assert updates[ctx.form.by_path[("training", "max_steps")]]["value"] == 4
    loaded = app.on_load(ctx, None, 0.0, None, OWNER)
    page = trained.page
    assert len(loaded) == 3 + len(page.train.view_outputs) + 1 + len(page.runs.refresh_outputs)


# ---- 4 · Compare -----------------------------------------------------------------------------------------------


def test_compare_describes_the_run_and_refuses_without_one(trained: Trained, studio: Any) -> None:
    ctx, run_id = trained.ctx, trained.run_id
    info, rows, examples, decoding, base_label, tuned_label = compare_tab.describe_run(ctx, run_id, OWNER)
    assert info.startswith(f"**{run_id}** · classification · `") and "Full fine-tuning · Finished" in info
    assert len(rows) == 5 and examples.visible and not decoding.visible and base_label.visible
    assert compare_tab.describe_run(ctx, None)[0] == words.NO_RUN_TO_COMPARE
    text, reference = compare_tab.use_example(0, rows)
    assert text == rows[0]["input"] and reference.startswith("**Expected answer (from the data):**")
    with pytest.raises(ValueError, match="Pick a run to compare first"):
        compare_tab.compare_text(ctx, None, "great", 8, 0.0, 1.0, 42, OWNER)
    empty, _ = studio
    with pytest.raises(ValueError, match="No finished run to compare yet"):
        compare_tab.compare_text(empty, None, "great", 8, 0.0, 1.0, 42)
    with pytest.raises(ValueError, match="Type a text or prompt first"):
        compare_tab.compare_text(ctx, run_id, "  ", 8, 0.0, 1.0, 42, OWNER)
    assert compare_tab.refresh_runs(ctx, None, OWNER).value == run_id


def test_compare_answers_with_both_models(trained: Trained) -> None:
    base_text, base_probs, tuned_text, tuned_probs = compare_tab.compare_text(
        trained.ctx, trained.run_id, "A warm and moving film.", 8, 0.0, 1.0, 42, OWNER)
    assert set(base_probs) == set(tuned_probs) == {"negative", "positive"}
    assert base_text.endswith("sure)") and tuned_text.endswith("sure)")


def test_compare_on_held_out_rows_gives_a_table_a_summary_and_a_csv(trained: Trained, downloads: Path) -> None:
    with pytest.raises(ValueError):
        compare_tab.compare_rows(trained.ctx, trained.run_id, 0, 8, 0.0, 1.0, 42, "all", OWNER)
    summary, table, csv_path, records = compare_tab.compare_rows(trained.ctx, trained.run_id, 3, 8, 0.0, 1.0, 42,
                                                                 "all", OWNER)
    assert summary.startswith("On 3 held-out rows the **base model was right") and len(table) == len(records) == 3
    assert Path(csv_path).is_file() and Path(csv_path).is_relative_to(downloads)
    assert compare_tab.filter_rows("fixed", records) == [r["cells"] for r in records if r["change"] == "fixed"]
    shown = compare_tab.compare_rows_shown(trained.ctx, trained.run_id, 3, 8, 0.0, 1.0, 42, "all", OWNER)
    assert shown[0].visible and shown[2].visible
    hidden_summary, empty_table, hidden_csv, no_records = compare_tab.clear_rows()
    assert not hidden_summary.visible and empty_table == no_records == [] and not hidden_csv.visible


# ---- 5 · Runs --------------------------------------------------------------------------------------------------


def test_the_runs_table_opens_the_newest_run(trained: Trained) -> None:
    ctx, run_id = trained.ctx, trained.run_id
    rows, pick, overlay_pick, fig, card, config_text, resume, delete, *_ = runs_tab.refresh_all(ctx, None, None, OWNER)
    assert rows[0][:3] == [run_id, "Finished", "classification"] and pick.value == run_id
    assert overlay_pick.choices == [(run_id, run_id)] and f"**{run_id}**" in card and "- Steps: 4 of 4" in card
    assert json.loads(config_text)["name"] == "handlers-run" and not resume.visible and delete.visible
    (listed,) = runs_tab.list_runs(ctx)
    assert listed["run_id"] == run_id and listed["has_model"] and not listed["can_resume"]
    assert runs_tab.run_results(ctx, run_id)["golden"]
    assert [t.name for t in runs_tab.overlay(ctx, [run_id, "gone-meanwhile"], OWNER).data][0] == f"{run_id}: train loss"
    with pytest.raises(ValueError, match="Pick a run to delete first"):
        runs_tab.ask_delete(ctx, None)
    row, question = runs_tab.ask_delete(ctx, run_id, OWNER)
    assert row.visible and question == f"Delete run **{run_id}** and all its files for good?"


def test_on_a_public_server_a_stranger_sees_the_run_but_may_not_delete_or_take_it(
    trained: Trained, downloads: Path
) -> None:
    """The visitor is known by their owner key in every handler that touches a run."""
    ctx = AppContext(jobs=type(trained.ctx.jobs)(trained.ctx.store, host=HostSettings(public=True)))
    run_id = trained.run_id
    card, delete = runs_tab.open_run(ctx, run_id, STRANGER)[1], runs_tab.open_run(ctx, run_id, STRANGER)[4]
    assert words.RUN_NOT_YOURS in card and not delete.visible and "- Folder:" not in card
    with pytest.raises(ValueError):
        runs_tab.ask_delete(ctx, run_id, STRANGER)
    with pytest.raises(ValueError):
        runs_tab.delete_run(ctx, run_id, [], STRANGER)
    with pytest.raises(ValueError):
        export_tab.make_zip(ctx, run_id, False, STRANGER)
    assert ctx.store.path(run_id).is_dir() and not downloads.exists()
    assert runs_tab.open_run(ctx, run_id, OWNER)[4].visible  # its owner may delete it


def test_a_demo_server_refuses_delete_and_merge(trained: Trained) -> None:
    ctx = AppContext(jobs=type(trained.ctx.jobs)(trained.ctx.store, host=HostSettings(demo=True)))
    with pytest.raises(ValueError, match=words.DEMO_NO_DELETE):
        runs_tab.ask_delete(ctx, trained.run_id, OWNER)
    with pytest.raises(ValueError, match="merging is switched off"):
        export_tab.merge_adapter(ctx, trained.run_id, "", OWNER)


# ---- 6 · Export ------------------------------------------------------------------------------------------------


def test_export_describes_the_run_and_makes_the_zip_the_card_and_the_recipe(trained: Trained, downloads: Path) -> None:
    ctx, run_id = trained.ctx, trained.run_id
    assert export_tab.describe_run(ctx, None)[0] == words.NO_RUN_TO_EXPORT
    out = export_tab.describe_run(ctx, run_id, OWNER)
    assert out[0].startswith(f"**{run_id}** · classification") and "- Result: `model/`" in out[0]
    assert not out[2].visible and '"task": "classification"' in out[6]  # no merge for a full run; the recipe
    button, note = export_tab.make_zip(ctx, run_id, False, OWNER)
    zip_path = Path(button.value["path"])
    assert note.startswith(f"Ready: `{run_id}.zip`") and zipfile.is_zipfile(zip_path)
    assert button.label.startswith(f"Download {run_id}.zip (")
    readme, meta, curve, text = export_tab.make_card(ctx, run_id, OWNER)
    assert readme.visible and "pipeline_tag: text-classification" in meta.value and "*(the picture above)*" in text
    recipe = export_tab.make_recipe(ctx, run_id, OWNER)
    assert recipe.label == f"Download {run_id}-recipe.zip"
    assert export_tab.refresh_runs(ctx, None, OWNER).value == run_id
    assert export_tab.follow(ctx, "not-finished", OWNER).value == run_id
    with pytest.raises(ValueError, match="Pick a run to export first"):
        export_tab.make_zip(ctx, None, False, OWNER)


def test_deleting_the_run_empties_the_lists(trained: Trained) -> None:
    """Last in this module: the shared run goes."""
    ctx, run_id = trained.ctx, trained.run_id
    row, rows, pick, *_ = runs_tab.delete_run(ctx, run_id, [run_id], OWNER)
    assert not row.visible and rows == [] and pick.value is None and not ctx.store.path(run_id).exists()
    assert compare_tab.refresh_runs(ctx, None, OWNER).info == words.NO_FINISHED_RUNS


def test_the_export_tab_makes_gguf_files_and_says_why_not_for_a_classifier(
    trained: Trained, downloads: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 18: the Export tab's GGUF section makes the f16 and the q8_0 file of a causal-LM LoRA run (merged first),
    each with its Modelfile; for a classification run it says in one sentence why GGUF is not for it."""
    import shutil

    from gguf import GGUFReader

    from tests.export_runs import train_case

    ctx = trained.ctx
    lora = train_case("causal_lm-lora", request, tmp_path_factory)
    run_id = f"{lora.name}-gguf"
    shutil.copytree(lora, ctx.store.path(run_id))
    for quant in ("f16", "q8_0"):
        gguf_button, modelfile_button, note = export_tab.make_gguf(ctx, run_id, quant, OWNER)
        path = Path(gguf_button.value["path"])
        assert path.suffix == ".gguf" and quant in path.name and path.stat().st_size > 0
        reader = GGUFReader(path)
        assert "tokenizer.chat_template" in reader.fields and "tokenizer.ggml.tokens" in reader.fields
        modelfile = Path(modelfile_button.value["path"]).read_text()
        assert f"\nFROM ./{path.name}\n" in modelfile and path.name in note
    classifier = train_case("classification-lora", request, tmp_path_factory)  # the shared run may be deleted by now
    shutil.copytree(classifier, ctx.store.path(f"{classifier.name}-gguf"))
    assert "GGUF files are for llama.cpp" in export_tab.gguf_note(ctx, f"{classifier.name}-gguf")
    assert export_tab.gguf_note(ctx, run_id) == words.GGUF_INTRO
