"""Click through the real app in headless Chromium: all five tabs, a tiny training with a live curve, a reload.

Needs Debian's `chromium` (`apt-get install -y chromium`); skipped only when it is absent. Screenshots of
each tab go to $FT_APP_SCREENSHOTS (default: a `screenshots` folder in the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import AppServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (apt-get install -y chromium)"),
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TRAIN_STEPS = 150
# The progress bar once its run has ended, however it ended.
RUN_ENDED = '#progress [data-status="completed"], #progress [data-status="failed"], #progress [data-status="stopped"]'
BATCH_ROWS_JS = "() => document.querySelectorAll('#batch-table [role=row]').length - 1"  # minus the header row
HAS_TEXT_JS = "([sel, text]) => ((document.querySelector(sel) || {}).innerText || '').includes(text)"
GOLDEN = ["An absolutely wonderful, moving film.", "A dull, ugly and boring mess."]
# The live plot's train-loss trace length, read from the Plotly graph div.
POINTS_JS = """() => {
  const div = document.querySelector('#live-plot .js-plotly-plot');
  if (!div || !div.data) return 0;
  const t = div.data.find(d => (d.name || '').startsWith('train loss'));
  return t ? t.y.filter(v => v !== null).length : 0;
}"""


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """The folder screenshots are saved to."""
    folder = Path(os.environ.get("FT_APP_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(app_server: AppServer) -> Iterator[object]:
    """A headless Chromium page on the app."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def open_tab(page: object, name: str) -> None:
    """Click a tab by its label and wait for it to be shown."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    page.wait_for_function(
        "(name) => [...document.querySelectorAll('[role=tab]')].some(t => t.textContent.includes(name) && "
        "t.getAttribute('aria-selected') === 'true')",
        arg=name,
    )
    page.wait_for_timeout(400)


def fill(page: object, elem_id: str, value: str) -> None:
    """Type a value into the text or number input of a component and leave it (so Gradio sees the change)."""
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(value)
    box.press("Tab")


def shot(page: object, folder: Path, name: str) -> None:
    """Save a full-page screenshot."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def errors_shown(page: object) -> list[str]:
    """The texts of error toasts on the page."""
    return [t for t in page.locator(".toast-body").all_inner_texts() if "error" in t.lower()]


def test_click_through_all_tabs_train_live_and_reload(
    page: object, app_server: AppServer, screenshots: Path, tiny_bert_dir: Path, sentiment_csv: Path
) -> None:
    page.goto(app_server.url)
    page.get_by_text("What should the model learn?").wait_for()
    page.get_by_text("Offline:").wait_for()  # the Hub line says offline in one line, at once

    # 1 · Model: a local folder.
    fill(page, "model-box", str(tiny_bert_dir))
    page.get_by_role("button", name="Check this model").click()
    page.locator("#model-details").get_by_text("Architecture").wait_for()
    shot(page, screenshots, "1-model")

    # Try an example (offline): the bundled example file and a recipe are filled in, the model folder is kept.
    page.locator("#example-btn").click()
    page.get_by_text("Offline example:").wait_for()
    open_tab(page, "2 · Data")
    page.get_by_text("240 rows", exact=True).wait_for()
    assert page.locator("#data-source textarea").input_value().endswith("assets/examples/sentiment.csv")
    assert page.locator("#model-box textarea").input_value() == str(tiny_bert_dir)
    shot(page, screenshots, "0-example")

    # 2 · Data: upload a CSV; the preview, the detected columns and the label balance appear.
    page.locator("#data-upload input[type=file]").set_input_files(str(sentiment_csv))
    page.get_by_text("64 rows", exact=True).wait_for()
    page.get_by_text("Token lengths (").wait_for()
    page.wait_for_selector("#data-balance .js-plotly-plot .bars")  # the label-balance chart is drawn
    page.wait_for_selector("#data-lengths .js-plotly-plot")
    shot(page, screenshots, "2-data")

    # 3 · Train: a short run; the curve gains points while it trains.
    open_tab(page, "3 · Train")
    fill(page, "cfg-training-max-steps", str(TRAIN_STEPS))
    fill(page, "cfg-training-learning-rate", "0.001")
    # Test prompts, answered before and after training: two typed ones and three held-out rows.
    page.get_by_text("Test prompts: see how the answers change").click()
    fill(page, "golden-prompts", "\n".join(GOLDEN))
    fill(page, "golden-heldout", "3")
    page.locator("#train-btn").click()
    page.wait_for_function(f"() => ({POINTS_JS})() >= 3", timeout=90_000)
    first = page.evaluate(POINTS_JS)
    page.wait_for_function(f"() => ({POINTS_JS})() > {first}", timeout=60_000)
    assert page.evaluate(POINTS_JS) > first
    assert not errors_shown(page)
    shot(page, screenshots, "3-train-live")

    # Reload: the page re-attaches and redraws the whole curve so far.
    page.reload()
    open_tab(page, "3 · Train")
    page.wait_for_function(f"() => ({POINTS_JS})() >= {first}", timeout=30_000)
    shot(page, screenshots, "3-train-after-reload")
    page.wait_for_selector(RUN_ENDED, timeout=240_000)
    progress_text = page.locator("#progress").inner_text()
    assert page.locator('#progress [data-status="completed"]').count() == 1, progress_text
    assert page.evaluate(POINTS_JS) >= TRAIN_STEPS // 3 - 1  # logging every 3 steps aims at about 50 points
    # The before -> after card, both confusion matrices, the test-prompt table and the coach appear by themselves.
    card = page.locator("#train-results .ft-ba")
    card.wait_for()
    assert "Accuracy" in card.inner_text() and "held-out rows" in card.inner_text()
    page.wait_for_selector("#train-cm-before .js-plotly-plot .heatmaplayer, #train-cm-before .js-plotly-plot .hm")
    page.wait_for_selector("#train-cm-after .js-plotly-plot")
    for prompt in GOLDEN:
        page.wait_for_function(HAS_TEXT_JS, arg=["#train-golden", prompt])
    page.locator("#coach-summary").get_by_text("Training coach").wait_for()
    assert not errors_shown(page)
    shot(page, screenshots, "3-train-finished")
    page.locator("#train-results").screenshot(path=str(screenshots / "3-train-before-after.png"))

    # 4 · Compare: the finished run is offered; both sides answer.
    open_tab(page, "4 · Compare")
    page.get_by_text("Held-out examples").wait_for()
    fill(page, "compare-text", "A wonderful, moving film.")
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => ['#base-out', '#tuned-out'].every(s => (document.querySelector(s + ' textarea') || {}).value)",
        timeout=60_000,
    )
    assert not errors_shown(page)
    shot(page, screenshots, "4-compare")

    # Batch side by side on held-out rows, with the filter and the CSV download.
    page.locator("#batch-btn").click()
    page.wait_for_function(f"() => ({BATCH_ROWS_JS})() >= 5", timeout=60_000)
    page.locator("#batch-summary").get_by_text("base model was right").wait_for()
    page.locator("#batch-csv").wait_for()
    total_rows = page.evaluate(BATCH_ROWS_JS)
    row_texts = "() => [...document.querySelectorAll('#batch-table [role=row]')].slice(1).map(r => r.innerText.trim())"
    fixed = [t for t in page.evaluate(row_texts) if t.endswith("fixed by fine-tuning")]
    page.locator("#batch-filter").get_by_text("Fixed by fine-tuning").click()
    page.wait_for_function(f"() => ({BATCH_ROWS_JS})() == {len(fixed)}", timeout=10_000)
    assert page.evaluate(row_texts) == fixed
    page.locator("#batch-filter").get_by_text("All rows", exact=True).click()
    page.wait_for_function(f"() => ({BATCH_ROWS_JS})() == {total_rows}")
    with page.expect_download() as download:
        page.locator("#batch-csv").click()
    assert download.value.suggested_filename.endswith("-side-by-side.csv")
    assert not errors_shown(page)
    shot(page, screenshots, "4-compare-batch")

    # 5 · Runs: the run is listed; opening it draws its curves.
    open_tab(page, "5 · Runs")
    run_cell = page.locator("#runs-table [role=gridcell]", has_text="classification-full").first
    run_cell.wait_for()
    page.get_by_text(re.compile(r"^Rows: \d+ for training")).wait_for()  # the newest run opens by itself
    run_cell.click()
    page.wait_for_selector("#runs-plot .js-plotly-plot .scatterlayer .trace")
    page.locator("#runs-results .ft-ba").wait_for()
    page.wait_for_function(HAS_TEXT_JS, arg=["#runs-golden", GOLDEN[0]])
    shot(page, screenshots, "5-runs")
    assert sorted(p.name for p in screenshots.glob("*.png")) == [
        "0-example.png", "1-model.png", "2-data.png", "3-train-after-reload.png", "3-train-before-after.png",
        "3-train-finished.png", "3-train-live.png", "4-compare-batch.png", "4-compare.png", "5-runs.png",
    ]
