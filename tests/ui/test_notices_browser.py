"""Issue 17 items 4 and 6 in headless Chromium: a notice goes when its cause goes, the Train button says what the
job manager is doing (busy, stopping, starting) after a reload too, and Compare answers a person's own texts with a
filtered table whose CSV holds what is shown.

Needs Debian's `chromium`; skipped only when it is absent. Every wait waits on what the page shows.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import AppServer
from tests.ui.test_app_browser import CHROMIUM_ARGS, fill, open_tab

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install -y chromium)"),
]

BADGES = ".error:visible"  # what Gradio draws on each output of a failed event
TRACEBACK = "Traceback (most recent call last)"
ROWS_JS = "() => document.querySelectorAll('#batch-table [role=row]').length - 1"  # minus the header row
ROW_TEXTS_JS = "() => [...document.querySelectorAll('#batch-table [role=row]')].slice(1).map(r => r.innerText.trim())"
BUTTON_JS = "([sel, text]) => { const b = document.querySelector(sel + ' button') || document.querySelector(sel); " \
            "return !!b && b.innerText.includes(text); }"


@pytest.fixture
def page(app_server: AppServer) -> Iterator[object]:
    """A headless Chromium page on the app."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def shot(page: object, name: str) -> None:
    """A full-page screenshot into $FT_APP_SCREENSHOTS, when it is set."""
    folder = os.environ.get("FT_APP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def toasts(page: object, text: str) -> int:
    """How many toasts on the page hold `text`."""
    return sum(text in t for t in page.locator(".toast-body").all_inner_texts())


def train_button(page: object) -> object:
    return page.locator("#train-btn")


def wait_button(page: object, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function(BUTTON_JS, arg=["#train-btn", text], timeout=timeout)


def watch_button(page: object) -> None:
    """Record every label the Train button shows (some states last less than a second with a tiny model)."""
    page.evaluate("""() => {
      window.ftLabels = [];
      const seen = () => { const b = document.querySelector('#train-btn');
                           if (b) window.ftLabels.push(b.innerText.trim() + (b.disabled ? ' [off]' : ' [on]')); };
      seen();
      new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                          attributes: true, attributeFilter: ['disabled']});
    }""")


def labels_seen(page: object) -> list[str]:
    """The Train button's states since watch_button ('label [on]' or 'label [off]'), each once per stretch shown.
    Gradio changes the label and the disabled flag in two steps, so a state between two may show for a moment."""
    labels = page.evaluate("() => window.ftLabels")
    return [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]


def texts_seen(page: object) -> list[str]:
    """The Train button's labels since watch_button, each once per stretch shown."""
    texts = [label.rsplit(" [", 1)[0] for label in labels_seen(page)]
    return [text for i, text in enumerate(texts) if i == 0 or texts[i - 1] != text]


def pick(page: object, elem_id: str, option: str) -> None:
    """Choose an option of a dropdown as a person does: open it, click the option."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.wait_for_function("([sel, v]) => (document.querySelector(sel + ' input') || {}).value === v",
                           arg=[f"#{elem_id}", option])


def start_page(page: object, app_server: AppServer, model_dir: Path) -> None:
    page.goto(app_server.url)
    page.get_by_text("What should the model learn?").wait_for()
    fill(page, "model-box", str(model_dir))


def test_data_notices_go_with_their_cause(page: object, app_server: AppServer, tiny_bert_dir: Path,
                                          tmp_path: Path) -> None:
    start_page(page, app_server, tiny_bert_dir)
    open_tab(page, "2 · Data")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a table\n", encoding="utf-8")

    # A .txt is refused in the page's words, naming the file and the fix; the upload box is not left in error.
    page.locator("#data-upload input[type=file]").set_input_files(str(notes))
    page.locator("#data-notice").get_by_text("notes.txt").wait_for()
    assert "Use a CSV" in page.locator("#data-notice").inner_text()
    assert page.locator(BADGES).count() == 0
    # Another source goes in: the refusal was about the .txt, so it goes.
    page.locator("#example-btn").click()
    page.get_by_text("240 rows", exact=True).wait_for()
    page.wait_for_function("() => !(document.querySelector('#data-notice') || {}).innerText")
    assert page.locator(BADGES).count() == 0

    # A wrong label column: the report warns; set back, the warning goes without another click.
    page.wait_for_selector("#data-balance .js-plotly-plot .bars", timeout=60_000)
    pick(page, "map-label-column", "text")
    page.locator("#data-report").get_by_text("different values").wait_for(timeout=60_000)
    pick(page, "map-label-column", "label")
    page.wait_for_function(
        "() => !(document.querySelector('#data-report') || {}).innerText.includes('different values')",
        timeout=60_000)
    page.wait_for_selector("#data-balance .js-plotly-plot .bars", timeout=60_000)
    assert page.locator(BADGES).count() == 0
    assert TRACEBACK not in app_server.log()


def test_train_button_follows_the_run_and_compare_takes_own_texts(
    page: object, app_server: AppServer, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    start_page(page, app_server, tiny_bert_dir)
    page.locator("#example-btn").click()
    page.get_by_text("Offline example:").wait_for()
    open_tab(page, "3 · Train")
    fill(page, "cfg-training-max-steps", "100000")
    train_button(page).click()
    page.wait_for_selector('#progress [data-status="running"]', timeout=90_000)

    # After a reload mid-run, Train is not clickable and says why; no popup at all.
    page.reload()
    open_tab(page, "3 · Train")
    page.wait_for_selector('#progress [data-status="running"]', timeout=60_000)
    wait_button(page, "Busy: a run is training")
    shot(page, "notices-busy-after-reload")
    assert train_button(page).is_disabled()
    assert toasts(page, "Busy") == 0

    # Stop: the button says at once that the run is stopping and saving (a tiny model stops within a second, so
    # every label shown is recorded); once stopped, Train is back.
    watch_button(page)
    page.locator("#stop-btn").click()
    page.wait_for_selector('#progress [data-status="stopped"]', timeout=120_000)
    assert any(label.startswith("Stopping: saving what it learned") and label.endswith("[off]") for label in labels_seen(page)), \
        labels_seen(page)
    wait_button(page, "Train")
    assert train_button(page).is_enabled()

    # Train right away: the page says at once that it is starting (the training process may still be getting
    # ready), a second press is impossible, and the run then shows as busy until it ends.
    fill(page, "cfg-training-max-steps", "16")
    watch_button(page)
    train_button(page).click()
    page.wait_for_selector('#progress [data-status="running"], #progress [data-status="completed"]', timeout=120_000)
    page.wait_for_selector('#progress [data-status="completed"]', timeout=240_000)
    wait_button(page, "Train")
    seen = texts_seen(page)
    assert seen[:2] == ["Train", "Starting: getting the training process ready…"], labels_seen(page)
    assert any(text.startswith("Busy: a run is training") for text in seen) and seen[-1] == "Train", labels_seen(page)
    assert all(label.endswith("[off]") for label in labels_seen(page) if label.startswith("Starting")), seen
    assert train_button(page).is_enabled()
    assert toasts(page, "Busy") <= 1 and page.locator("#train-notice").inner_text().strip() == ""
    assert page.locator(BADGES).count() == 0

    # 4 · Compare: one box holding several lines says it read them as one text.
    open_tab(page, "4 · Compare")
    page.get_by_text("Held-out examples").wait_for()
    fill(page, "compare-text", "A warm film.\nA dull mess.\nGreat acting.")
    page.locator("#compare-btn").click()
    page.locator("#compare-lines").get_by_text("3 lines").wait_for(timeout=60_000)

    # A pasted list: one row per line, nothing judged (no expected answers).
    fill(page, "batch-texts", "A warm, moving film.\nA dull, ugly mess.\nI loved every minute.")
    page.locator("#batch-btn").click()
    page.wait_for_function(f"() => ({ROWS_JS})() == 3", timeout=60_000)
    assert [t.split("\n")[0].split("\t")[0] for t in page.evaluate(ROW_TEXTS_JS)][0].startswith("A warm, moving film.")
    page.locator("#batch-summary").get_by_text("3").wait_for()

    # An uploaded CSV with a label column: judged rows; the filter and the CSV download show the same rows.
    mine = tmp_path / "mine.csv"
    with mine.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(12):
            writer.writerow([f"{'A wonderful, warm' if i % 2 else 'A dull, ugly'} film number {i}.",
                             "positive" if i % 3 else "negative"])
    fill(page, "batch-texts", "")
    page.locator("#batch-file input[type=file]").set_input_files(str(mine))
    page.locator("#batch-btn").click()
    page.wait_for_function(f"() => ({ROWS_JS})() == 12", timeout=60_000)
    page.locator("#batch-summary").get_by_text("base model was right").wait_for()
    rows = page.evaluate(ROW_TEXTS_JS)
    kinds = {"fixed": "fixed by fine-tuning", "broken": "broken by fine-tuning"}
    which = max(kinds, key=lambda k: sum(r.endswith(kinds[k]) for r in rows))
    label = "Fixed by fine-tuning" if which == "fixed" else "Broken by fine-tuning"
    shown = [r for r in rows if r.endswith(kinds[which])]
    page.locator("#batch-filter").get_by_text(label).click()
    page.wait_for_function(f"() => ({ROWS_JS})() == {len(shown)}", timeout=10_000)
    shot(page, "notices-compare-own-list")
    with page.expect_download() as download:
        page.locator("#batch-csv").click()
    saved = tmp_path / "shown.csv"
    download.value.save_as(saved)
    with saved.open(encoding="utf-8-sig", newline="") as fh:
        body = list(csv.DictReader(fh))
    assert len(body) == len(shown) and all(r["change"] == which for r in body)
    assert page.locator(BADGES).count() == 0

    # The API takes the same list, within the same bound.
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from ft_app.limits import MAX_COMPARE_ROWS

    client = Client(app_server.url, verbose=False)
    run_id = page.locator("#progress .ft-progress").get_attribute("data-run")
    summary, table, _ = client.predict(run_id, 5, 8, 0.0, 1.0, 42, "all", "One text.\nAnother text.",
                                       api_name="/batch_compare")
    assert len(table["data"]) == 2 and "your 2 texts" in summary
    too_many = "\n".join(f"text {i}" for i in range(MAX_COMPARE_ROWS + 1))
    with pytest.raises(AppError, match=f"{MAX_COMPARE_ROWS + 1} texts"):
        client.predict(run_id, 5, 8, 0.0, 1.0, 42, "all", too_many, api_name="/batch_compare")
    assert TRACEBACK not in app_server.log()
