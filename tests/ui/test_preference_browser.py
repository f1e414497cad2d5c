"""Issue 19: a preference run from the page with the bundled example: the pair as a person reads it in the Data tab,
the live curve with the loss, the reward margin and the preference accuracy, and the before/after card."""

from __future__ import annotations

import re
from pathlib import Path

from ft_app.ui import words
from tests.ui.conftest import AppServer
from tests.ui.test_app_browser import (  # noqa: F401 (page and screenshots are fixtures)
    RUN_ENDED,
    errors_shown,
    fill,
    open_tab,
    page,
    pytestmark,  # the browser marks: skipped where Chromium is not installed
    screenshots,
    shot,
)

BADGES = ".error, [data-testid='status-tracker'] .error"
TRACES_JS = """() => {
  const div = document.querySelector('#live-plot .js-plotly-plot');
  return div && div.data ? div.data.map(d => d.name) : [];
}"""


def test_a_preference_run_from_the_bundled_example_shows_its_curve_and_card(
    page: object, app_server: AppServer, screenshots: Path, tiny_llama_dir: Path  # noqa: F811
) -> None:
    page.goto(app_server.url)
    page.get_by_text("What should the model learn?").wait_for()
    page.get_by_text("Prefer good answers over bad ones").click()
    fill(page, "model-box", str(tiny_llama_dir))
    page.get_by_role("button", name="Check this model").click()
    page.locator("#model-details").get_by_text("Architecture").wait_for(timeout=90_000)

    page.locator("#example-btn").click()
    page.get_by_text("Offline example:").wait_for()
    open_tab(page, "2 · Data")
    page.get_by_text("77 rows", exact=True).wait_for(timeout=90_000)
    assert page.locator("#data-source textarea").input_value().endswith("assets/examples/preferences.jsonl")
    page.get_by_text("✔ Good answer:").first.wait_for(timeout=60_000)  # the pair as a person reads it
    page.get_by_text("✘ Bad answer:").first.wait_for()
    shot(page, screenshots, "pref-1-data")

    open_tab(page, "3 · Train")
    fill(page, "cfg-training-max-steps", "8")
    # The recipe's 256 tokens are more than the tiny model reads: the page says so and names the fix; take it.
    page.locator("#train-btn").click()
    page.locator(".ft-notice").get_by_text("can read (128 tokens). Use 128 or less.").wait_for(timeout=60_000)
    open_tab(page, "2 · Data")
    page.get_by_text(words.DATA_SETTINGS).click()
    fill(page, "cfg-data-max-length", "128")
    open_tab(page, "3 · Train")
    page.locator("#estimate").get_by_text("is 128 tokens long").wait_for(timeout=60_000)  # the plan took the change
    page.locator("#train-btn").click()
    try:
        page.wait_for_selector(RUN_ENDED, timeout=300_000)
    except Exception:
        shot(page, screenshots, "pref-timeout")
        raise AssertionError(f"{page.locator('#progress').inner_text()}\n{app_server.log()[-4000:]}") from None
    progress = page.locator("#progress").inner_text()
    assert page.locator('#progress [data-status="completed"]').count() == 1, progress
    # One weight count: the plan above the button and the progress line of the run say the same numbers.
    planned = re.search(r"Trains (.+?) of its (.+?) weights", page.locator("#estimate").inner_text())
    assert planned and f"training {planned.group(1)} of its {planned.group(2)} weights" in progress, (planned, progress)
    names = page.evaluate(TRACES_JS)
    assert {"train loss", "reward margin", "preference accuracy"} <= set(names), names
    card = page.locator("#train-results .ft-ba")
    card.wait_for(timeout=60_000)
    text = card.inner_text()
    assert "Preference accuracy" in text and "Margin" in text and "held-out pairs" in text, text
    assert page.locator(BADGES).count() == 0 and not errors_shown(page)
    shot(page, screenshots, "pref-2-trained")
    log = app_server.log()
    assert "Traceback" not in log, log[-3000:]
