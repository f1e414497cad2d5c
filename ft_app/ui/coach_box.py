"""The training coach on the Train tab: what the curves say, in plain words, with an Apply button per fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.training.progress import JobSnapshot
from ft_app.ui import words
from ft_app.ui.common import bind, field_label, page_event
from ft_app.ui.context import AppContext

MAX_FINDINGS = 4


@dataclass
class CoachBox:
    """The coach's widgets: a summary line and a few finding slots, each with its Apply button."""

    box: gr.Column
    summary: gr.Markdown
    rows: list[gr.Row]
    messages: list[gr.Markdown]
    buttons: list[gr.Button]
    fixes: gr.State
    notice: gr.HTML

    @property
    def outputs(self) -> list[Any]:
        """The widgets `view` fills, in order."""
        out: list[Any] = [self.box, self.summary]
        for row, message, button in zip(self.rows, self.messages, self.buttons):
            out += [row, message, button]
        return [*out, self.fixes]


def build() -> CoachBox:
    """Lay out the coach (hidden until a run has logged some steps)."""
    rows, messages, buttons = [], [], []
    with gr.Column(visible=False, elem_id="coach", elem_classes=["ft-coach"]) as box:
        summary = gr.Markdown("", elem_id="coach-summary")
        for i in range(MAX_FINDINGS):
            with gr.Row(visible=False, elem_classes=["ft-row", "ft-coach-finding"]) as row:
                messages.append(gr.Markdown("", elem_id=f"coach-finding-{i}"))
                buttons.append(gr.Button(words.APPLY, scale=0, min_width=230, visible=False, elem_id=f"coach-apply-{i}"))
            rows.append(row)
        notice = gr.HTML("", elem_id="coach-notice", elem_classes=["ft-note"])
    return CoachBox(box=box, summary=summary, rows=rows, messages=messages, buttons=buttons, fixes=gr.State([]),
                    notice=notice)


def hidden() -> list[Any]:
    """Values that hide the coach."""
    return [gr.Column(visible=False), gr.skip(), *([gr.skip()] * (3 * MAX_FINDINGS)), []]


def report_for(ctx: AppContext, snap: JobSnapshot) -> Any:
    """The coach's report on a run right now (cheap: the curve so far, the run's config and row count)."""
    from ft_app.coach import diagnose

    try:
        config = ctx.store.read_config(snap.run_dir)
    except (OSError, ValueError):
        config = None
    try:
        status = ctx.store.read_status(snap.run_dir)
    except (OSError, ValueError):
        status = {}

    def number(key: str) -> Any:
        value = status.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    train_rows = number("train_rows")
    return diagnose(list(snap.records), config, int(train_rows) if train_rows else None, finished=not snap.active,
                    learning_rate=number("learning_rate"), epochs=number("planned_epochs"))


def view(ctx: AppContext, snap: JobSnapshot | None) -> list[Any]:
    """The coach for a run: hidden before the first logged step, else its summary and findings."""
    if snap is None or not any(r.get("kind", "train") == "train" and "loss" in r for r in snap.records):
        return hidden()
    report = report_for(ctx, snap)
    when = words.COACH_SO_FAR if snap.active else words.COACH_AT_END
    if report.findings:
        n = len(report.findings)
        things = words.COACH_ONE_THING if n == 1 else words.COACH_THINGS.format(n=n)
        apply = words.COACH_APPLY_HINT if any(f.fix for f in report.findings) else "."
        summary = words.COACH_FINDINGS.format(when=when, things=things, apply=apply)
    else:
        summary = words.COACH_ALL_WELL.format(when=when, summary=report.summary.replace(" -> ", " → "))
    out: list[Any] = [gr.Column(visible=True), summary]
    findings = report.findings[:MAX_FINDINGS]
    for i in range(MAX_FINDINGS):
        if i < len(findings):
            f = findings[i]
            sign = "⛔" if f.severity == "error" else "⚠️"
            title = words.COACH_KIND_TITLES.get(f.kind, f.kind.capitalize())
            out += [
                gr.Row(visible=True),
                words.COACH_FINDING.format(sign=sign, title=title, message=f.message),
                gr.Button(value=words.APPLY_FIX.format(fix=f.fix_label) if f.fix_label else words.APPLY,
                          visible=bool(f.fix)),
            ]
        else:
            out += [gr.Row(visible=False), "", gr.Button(visible=False)]
    return [*out, [f.fix for f in findings]]


def apply_fix(ctx: AppContext, coach: CoachBox, index: int, values: dict[Any, Any]) -> dict[Any, Any]:
    """Apply the coach's fix to the settings in the form (the user then presses Train).

    Args: the finding's number; the whole form and the coach's fixes, as {widget: value}.
    Returns: updates of the form's widgets that the fix changes.
    """
    from ft_app.coach import apply_fix as changed_config

    fixes = values.get(coach.fixes) or []
    if index >= len(fixes) or not fixes[index]:
        raise ValueError(words.COACH_NO_FIX)
    fix = fixes[index]
    try:
        config = ctx.form.to_config(values)
        changed = changed_config(config, fix)
    except ValueError as exc:
        raise ValueError(words.COACH_FIX_REFUSED.format(error=exc)) from exc
    partial: dict[str, Any] = {}
    changes = []
    for dotted in fix:
        section, _, key = dotted.partition(".")
        old = getattr(getattr(config, section), key)
        new = getattr(getattr(changed, section), key)
        partial.setdefault(section, {})[key] = new
        changes.append(words.COACH_CHANGE.format(field=field_label(key).lower(), old=_plain(old), new=_plain(new)))
    gr.Info(words.COACH_APPLIED.format(changes=", ".join(changes)))
    return ctx.form.updates(partial)


def wire(ctx: AppContext, coach: CoachBox) -> None:
    """Each Apply button puts its finding's config change into the form."""
    inputs = {coach.fixes, *ctx.form.components()}
    for i, button in enumerate(coach.buttons):
        page_event(button.click, bind(apply_fix, ctx, coach, i), inputs, list(ctx.form.components()), coach.notice)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return words.ON if value else words.OFF
    if value is None:
        return words.AUTOMATIC
    return f"{value:g}" if isinstance(value, float) else str(value)
