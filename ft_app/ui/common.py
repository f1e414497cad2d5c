"""Shared UI helpers: plain-language labels, error translation and small display formatters."""

from __future__ import annotations

import functools
import html
import inspect
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from ft_app import config as config_labels
from ft_app.hub_token import redact
from ft_app.methods import get_method
from ft_app.ownership import Visitor, valid_owner_key
from ft_app.runs import BROKEN_STATUSES, JobSnapshot
from ft_app.tasks import get_task
from ft_app.ui import words

F = TypeVar("F", bound=Callable[..., Any])



def task_words(name: str) -> str:
    """A task in a few words ("text generation"); a name this app does not know (an old run's) as it is."""
    try:
        return get_task(name).short
    except ValueError:
        return name


def method_label(name: str) -> str:
    """A method's name on the page ("QLoRA (4-bit)"); a name this app does not know as it is."""
    try:
        return get_method(name).label
    except ValueError:
        return name


# The page's labels live with the config, so the engine's messages use the same words as the widgets.
FIELD_LABELS = config_labels.FIELD_LABELS


def field_label(name: str) -> str:
    """A plain label for a config field name (or config path)."""
    return config_labels.field_label(name)


def user_error(exc: BaseException) -> gr.Error:
    """A gr.Error showing the engine's plain message (no traceback on the page or in the log; tokens masked)."""
    return gr.Error(redact(str(exc)) or type(exc).__name__, title=words.PLEASE_CHECK, print_exception=False)


# An API client names its owner key in this header (any secret of 32-128 letters, digits, '-' or '_' it keeps, e.g.
# secrets.token_urlsafe(32)), so that a new Client() of the same person keeps seeing, exporting, resuming and deleting
# the runs it started: `Client(url, headers={OWNER_HEADER: key})`.
OWNER_HEADER = "X-FT-Owner-Key"


def visitor(owner_key: Any, request: gr.Request | None, profile: gr.OAuthProfile | None = None) -> Visitor:
    """Who sent this event: the signed-in Hugging Face user, and the owner key of their browser (kept in its
    local storage); for an API client (which has no browser), the key in its X-FT-Owner-Key header, else its
    session (which a new Client does not share)."""
    user = getattr(profile, "username", None) or None
    if valid_owner_key(owner_key):
        return Visitor(user=user, key=owner_key)
    headers = getattr(request, "headers", None)
    sent = headers.get(OWNER_HEADER.lower()) if headers is not None else None
    if sent is not None:
        if not valid_owner_key(sent):
            raise ValueError(words.BAD_OWNER_HEADER.format(header=OWNER_HEADER))
        return Visitor(user=user, key=sent)
    session = getattr(request, "session_hash", None)
    return Visitor(user=user, key=f"session:{session}" if session else None)


def bind(fn: Callable[..., Any], *shared: Any) -> Callable[..., Any]:
    """`fn` with its first parameters (the app's shared objects: the context, a tab's widgets) filled in.

    Unlike functools.partial it keeps the handler's name and docstring (the API page's description) and shows
    Gradio the rest of its signature, so the endpoint's parameters stay those the visitor fills.
    """

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return fn(*shared, *args, **kwargs)

    signature = inspect.signature(fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(shared):])  # type: ignore[attr-defined]
    return bound


def user_errors(fn: F) -> F:
    """Run a handler and show the engine's ValueError messages as a gr.Error; other errors propagate."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as exc:
            raise user_error(exc) from exc

    return wrapper  # type: ignore[return-value]


MESSAGE_LIMIT = 400  # characters of a refusal shown on the page; longer ones are cut with an ellipsis


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """A message cut to a readable length (a long one would fill the screen)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notice_html(message: str) -> str:
    """The reason an action was refused, shown next to it until the next action."""
    return f'<div class="ft-notice" role="alert"><b>{words.PLEASE_CHECK}:</b> {html.escape(shorten(message))}</div>'


def _refusal_message(exc: BaseException) -> str:
    return redact(getattr(exc, "message", None) or str(exc) or type(exc).__name__)


def into_notice(fn: F, outputs: Collection[Any], notice: Any, cause: Any = None) -> F:
    """A page handler: `fn`'s result plus a cleared notice; a refusal leaves every output as it was and fills `notice`.

    A failed Gradio event marks each of its outputs with a red "Error" badge, so on the page a refusal is not an
    error: only the notice (and a short toast) changes. With `cause` (a gr.State), a refusal caused by a run (one
    with a `run_id`, e.g. Busy) keeps that run's id there, so that the notice can go when that run ends.
    """
    ordered = list(outputs)
    cleared = {notice: ""} if cause is None else {notice: "", cause: None}

    @functools.wraps(fn)
    def page_handler(*args: Any, **kwargs: Any) -> dict[Any, Any]:
        try:
            result = fn(*args, **kwargs)
        except (gr.Error, ValueError) as exc:
            message = _refusal_message(exc)
            gr.Warning(shorten(message, 200))
            refused = {notice: notice_html(message)}
            return refused if cause is None else {**refused, cause: getattr(exc, "run_id", None)}
        if isinstance(result, dict):
            return {**result, **cleared}
        values = list(result) if isinstance(result, (tuple, list)) and len(ordered) > 1 else [result]
        return {**dict(zip(ordered, values, strict=True)), **cleared}

    return page_handler  # type: ignore[return-value]


def page_event(
    trigger: Callable[..., Any],
    fn: Callable[..., Any],
    inputs: Any,
    outputs: Collection[Any],
    notice: Any,
    *,
    api_name: str | None = None,
    api_fn: Callable[..., Any] | None = None,
    api_outputs: Collection[Any] | None = None,
    cause: Any = None,
    **kwargs: Any,
) -> Any:
    """Wire `fn` to a page trigger with refusals shown in `notice`, and (with api_name) as an API endpoint.

    API clients call the endpoint (`api_fn`, by default `fn`, with `api_outputs`, by default `outputs`) and get a
    refusal as an error; the page never sees that endpoint. `cause`: see into_notice.
    """
    if api_name:
        kwargs.setdefault("concurrency_id", api_name)  # the page and the API share one queue slot
        gr.on(triggers=[], fn=user_errors(api_fn or fn), inputs=inputs, outputs=list(api_outputs or outputs),
              api_name=api_name, **kwargs)
    extra = [notice] if cause is None else [notice, cause]
    return trigger(into_notice(fn, outputs, notice, cause), inputs, [*outputs, *extra], api_visibility="private",
                   **kwargs)


def download_root() -> Path:
    """Where downloads are made: inside Gradio's cache, whose files are served as they are (the runs folder never)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "ft_app_exports"


def made_for(ctx: Any, who: Visitor, make: Callable[[Path], Path]) -> Path:
    """Make one download in a fresh folder of this visitor's, then keep their downloads under the host's cap (the
    oldest go first; one bigger than the cap is refused)."""
    from ft_app.export.downloads import keep_under_cap, new_download_folder

    folder = new_download_folder(download_root(), who)
    path = make(folder)
    keep_under_cap(folder, ctx.jobs.host.exports_limit_mb)
    return path


def local_model_for(task: str) -> str | None:
    """The best model on this computer for a task (what to suggest when the Hub cannot be reached), if any."""
    from ft_app import catalog

    found = catalog.local_model_suggestions(task, limit=1)
    return found[0] if found else None


def fmt_duration(seconds: float | None) -> str:
    """Seconds as m:ss or h:mm:ss."""
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_html(snap: JobSnapshot | None) -> str:
    """A progress bar with status, step/total, elapsed time and ETA for one run."""
    if snap is None:
        return f'<div class="ft-progress" data-status="idle"><div class="ft-progress-text">{words.PROGRESS_IDLE}</div></div>'
    pct = 100 if snap.status == "completed" else round(100 * snap.fraction)
    parts = [f"<b>{html.escape(words.STATUS_WORDS.get(snap.status, snap.status.capitalize()))}</b>"]
    if snap.phase and snap.phase not in (snap.status, "training") and snap.active:
        parts.append(html.escape(snap.phase))
    if snap.total_steps:
        parts.append(words.PROGRESS_STEP.format(step=snap.step, total=snap.total_steps, pct=pct))
    if snap.epoch:
        parts.append(words.PROGRESS_EPOCH.format(epoch=snap.epoch))
    parts.append(words.PROGRESS_ELAPSED.format(elapsed=fmt_duration(snap.elapsed_s)))
    if snap.active and snap.eta_s is not None:
        parts.append(words.PROGRESS_ETA.format(eta=fmt_duration(snap.eta_s)))
    if snap.trainable_params and snap.total_params:
        from ft_app.text import count_words, share_words

        parts.append(words.PROGRESS_WEIGHTS.format(
            trained=count_words(snap.trainable_params), total=count_words(snap.total_params),
            share=share_words(snap.trainable_params, snap.total_params)))
    # A failed or interrupted run's message is shown in its own card (with the log), not twice.
    show_message = snap.message and snap.status not in BROKEN_STATUSES
    message = f'<div class="ft-progress-msg">{html.escape(snap.message)}</div>' if show_message else ""
    run = words.PROGRESS_RUN.format(run_id=html.escape(snap.run_id))
    return (
        f'<div class="ft-progress" data-status="{html.escape(snap.status)}" data-run="{html.escape(snap.run_id)}">'
        f'<div class="ft-progress-text">{run} · {" · ".join(parts)}</div>'
        f'<div class="ft-bar"><div class="ft-bar-fill ft-{html.escape(snap.status)}" style="width:{pct}%"></div></div>'
        f"{message}</div>"
    )


def dropdown_value(value: Any) -> str | None:
    """A dropdown/textbox value as an optional string: blank becomes None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def failure_html(status: str, message: str, log_tail: str = "", resume_note: str | None = None) -> str:
    """A card for a run that did not finish: what happened in plain words, what to do, and the log's last lines."""
    title = words.FAILURE_TITLES.get(status, status.capitalize())
    if status == "interrupted":
        what = message or words.INTERRUPTED_WHAT
        todo = words.INTERRUPTED_TODO if resume_note is None else html.escape(resume_note)
    else:
        what = message or words.FAILED_WHAT
        todo = words.FAILED_TODO_RESUME if resume_note is None else words.FAILED_TODO_TRAIN
    log_part = (
        f'<details open><summary>{words.LOG_TAIL}</summary><pre class="ft-log">{html.escape(log_tail)}</pre></details>'
        if log_tail.strip() else ""
    )
    return (
        f'<div class="ft-failure" data-status="{html.escape(status)}"><div class="ft-failure-title">{html.escape(title)}</div>'
        f'<div class="ft-failure-msg">{html.escape(what)}</div><div class="ft-failure-todo">{todo}</div>{log_part}</div>'
    )


def kept_words(best_metric: dict[str, float] | None, best_step: int | None = None, digits: int = 3) -> str:
    """'accuracy 0.875, loss 0.561 (step 81)': the held-out numbers of the model a run kept, one wording everywhere."""
    metrics = ", ".join(f"{k.removeprefix('eval_')} {v:.{digits}f}" for k, v in (best_metric or {}).items())
    if metrics and best_step is not None:
        return words.KEPT_METRICS.format(metrics=metrics, step=best_step)
    return metrics


def curve_extras(ctx: Any, run_id: str) -> tuple[tuple[str, str], ...]:
    """The numbers a run's task draws on its curve beside the loss (none for a run whose config cannot be read)."""
    from ft_app.tasks import get_task

    try:
        return get_task(ctx.store.read_config(ctx.store.path(run_id)).task).curve_extras
    except (ValueError, OSError):
        return ()
