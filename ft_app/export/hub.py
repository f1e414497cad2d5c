"""Publish a run to the Hugging Face Hub: the result (or merged model) with its card in one commit, or a demo Space.

The token comes from the caller (the per-run field) or HF_TOKEN, goes only into the Authorization header of
huggingface_hub's requests, and is never written anywhere. Every failure is one plain sentence.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ft_app import hub
from ft_app.export.card import CARD_FILE, render_card
from ft_app.export.curve import LOSS_CURVE_FILE, write_loss_curve
from ft_app.export.source import ExportRun, load_export_run, result_files, slug
from ft_app.hosting import HostSettings
from ft_app.hub import HubUnreachableError, hub_endpoint  # noqa: F401 - publishing raises HubUnreachableError
from ft_app.runs import COMPARE_FILE, CONFIG_FILE, DATA_INFO_FILE, EVAL_FILE, LABELS_FILE, METRICS_FILE

T = TypeVar("T")
RUN_INFO_DIR = "fine_tune_studio"  # the run's own files, beside the model files in the repo
RUN_INFO_FILES = (CONFIG_FILE, DATA_INFO_FILE, METRICS_FILE, EVAL_FILE, COMPARE_FILE)
REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
MERGED_SUFFIX = "-merged"  # the merged model's default repo: never the adapter's, so the two never mix
# The files that make a model repo load as one kind of result. Publishing removes those it does not upload in the
# same commit: a merged model published over an adapter (or the other way round) leaves no file of the other kind,
# which `from_pretrained` would otherwise load on top (an adapter over merged weights changes every answer).
MODEL_FILE_PATTERNS = ["adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "config.json",
                       "generation_config.json", "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
                       "pytorch_model*.bin", f"{RUN_INFO_DIR}/*"]


@dataclass
class PublishResult:
    """Where the upload went."""

    url: str
    repo_id: str
    repo_type: str
    commit_url: str
    private: bool
    files: list[str] = field(default_factory=list)
    note: str = ""  # something the publisher should know (e.g. the Space cannot reach a local base model)


def resolve_token(token: str | None) -> str:
    """The token to publish with: the one given for this run, else HF_TOKEN; a plain error when there is none."""
    chosen = (token or "").strip() or os.environ.get("HF_TOKEN", "").strip()
    if not chosen:
        raise ValueError(
            "Publishing needs a Hugging Face token with write access: paste one in the token field (it is used for "
            "this upload only and never saved), or set HF_TOKEN on the server. Create one at "
            "https://huggingface.co/settings/tokens."
        )
    return chosen


def check_publish_allowed(host: HostSettings | None) -> None:
    """Refuse publishing on a demo server."""
    if host is not None and host.demo:
        raise ValueError(
            "This is a demo server: publishing to the Hub is switched off here. Download the zip instead, or run the "
            "app on your own machine to publish."
        )


def default_repo_id(user: str, run: ExportRun, suffix: str = "") -> str:
    """`<user>/<run name>`, else `<user>/<base>-<run id>` (Hub-safe, at most 96 characters for the name)."""
    name = slug(f"{run.model_name}{suffix}", limit=96)
    return f"{user}/{name}"


def full_repo_id(repo_id: str | None, user: str, run: ExportRun, suffix: str = "") -> str:
    """The repo to publish to: the default for this user, `name` in the user's namespace, or `owner/name`."""
    text = (repo_id or "").strip()
    if not text:
        return default_repo_id(user, run, suffix)
    owner, _, name = text.rpartition("/")
    owner = owner or user
    for part in (owner, name):
        if not REPO_NAME.match(part) or ".." in part or "--" in part:
            raise ValueError(
                f"Repo name {text!r} is not valid on the Hub: use 'name' or 'owner/name' with letters, digits, '-', "
                "'_' and '.' (at most 96 characters), e.g. 'my-sentiment-model'."
            )
    return f"{owner}/{name}"


def hub_call(what: str, call: Callable[[], T], token: str) -> T:
    """Run a Hub request, turning every way it fails into one plain sentence without the token in it."""
    return hub.call(call, what, deadline=None, then="Nothing was uploaded.", secret=token)


def hub_user(token: str) -> str:
    """The user name the token belongs to (which also proves the token is good before anything is created)."""
    from huggingface_hub import HfApi

    info = hub_call("check the token", lambda: HfApi(endpoint=hub_endpoint()).whoami(token=token), token)
    return str(info["name"])


def stage_model_repo(run: ExportRun, folder: Path, repo_id: str, merged: bool) -> list[str]:
    """Lay out the model repo: the weights and tokenizer at the top, the card, the curve and the run's files."""
    source = run.merged_dir if merged else run.result_dir
    for f in result_files(source):
        dest = folder / f.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    info = folder / RUN_INFO_DIR
    info.mkdir()
    for name in RUN_INFO_FILES:
        if (run.run_dir / name).is_file():
            shutil.copy2(run.run_dir / name, info / name)
    if run.label_names and not (folder / LABELS_FILE).exists():
        names = run.label_names
        (folder / LABELS_FILE).write_text(json.dumps({"id2label": dict(enumerate(names)),
                                                      "label2id": {n: i for i, n in enumerate(names)}}, indent=2))
    curve = write_loss_curve(run.metrics, folder / LOSS_CURVE_FILE, f"Training curve · {run.run_id}")
    card = render_card(run, model_ref=repo_id, merged=merged, curve_file=LOSS_CURVE_FILE if curve else None,
                       model_name=repo_id.split("/")[-1])
    card.save(folder / CARD_FILE)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Uploaded:
    """One upload: the repo's address, the commit, and the repo's visibility as the Hub reports it afterwards."""

    url: str
    commit_url: str
    private: bool


def _upload(folder: Path, repo_id: str, repo_type: str, token: str, private: bool, message: str,
            space_sdk: str | None = None, replace: list[str] | None = None) -> Uploaded:
    """Create the repo if needed and upload the folder in one commit; `replace`: patterns of files in the repo that
    this commit removes unless it uploads them."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    url = hub_call(
        f"create the {repo_type} repo {repo_id}",
        lambda: api.create_repo(repo_id, token=token, private=private, repo_type=repo_type, exist_ok=True,
                                space_sdk=space_sdk),
        token,
    )
    commit = hub_call(
        f"upload to {repo_id}",
        lambda: api.upload_folder(repo_id=repo_id, folder_path=folder, repo_type=repo_type, token=token,
                                  commit_message=message, delete_patterns=replace),
        token,
    )
    # An existing repo keeps its visibility whatever was asked: say what it really is.
    info = hub_call(f"read the settings of {repo_id}", lambda: api.repo_info(repo_id, repo_type=repo_type, token=token),
                    token)
    return Uploaded(url=str(url), commit_url=str(commit.commit_url), private=bool(getattr(info, "private", private)))


def visibility_note(asked_private: bool, uploaded: Uploaded, repo_id: str) -> str:
    """A sentence when the repo's visibility is not the one asked for (it existed already), else ''."""
    if uploaded.private == asked_private:
        return ""
    real, asked = ("private", "public") if uploaded.private else ("public", "private")
    return (f"The repo {repo_id} already existed as a {real} repo, and publishing does not change that: it is still "
            f"{real}, not {asked}. Change it in the repo's settings on the Hub if you want it {asked}.")


def publish_model(
    run_dir: str | Path,
    repo_id: str | None = None,
    *,
    token: str | None = None,
    private: bool = True,
    merged: bool = False,
    host: HostSettings | None = None,
) -> PublishResult:
    """Upload the run's result (or its merged model), card and curve to a model repo in one commit; returns its URL."""
    check_publish_allowed(host)
    run = load_export_run(run_dir)
    if merged and not run.has_merged:
        raise ValueError(f"Run {run.run_id!r} has no merged model yet: merge it first, or publish the adapter.")
    secret = resolve_token(token)
    user = hub_user(secret)
    target = full_repo_id(repo_id, user, run, suffix=MERGED_SUFFIX if merged else "")
    staging = Path(tempfile.mkdtemp(prefix="ft_app_hub_"))
    try:
        files = stage_model_repo(run, staging, target, merged)
        what = "merged model" if merged else ("LoRA adapter" if run.is_adapter else "model")
        done = _upload(staging, target, "model", secret, private,
                       f"Upload {what} of run {run.run_id} (Fine-Tune Studio)", replace=MODEL_FILE_PATTERNS)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(url=done.url, repo_id=target, repo_type="model", commit_url=done.commit_url,
                         private=done.private, files=files, note=visibility_note(private, done, target))


def publish_space(
    run_dir: str | Path,
    repo_id: str | None = None,
    *,
    token: str | None = None,
    private: bool = True,
    model_repo: str | None = None,
    host: HostSettings | None = None,
) -> PublishResult:
    """Upload the before/after demo as a Gradio Space (the model from `model_repo` on the Hub, else copied in)."""
    from ft_app.export.space import write_demo_space

    check_publish_allowed(host)
    run = load_export_run(run_dir)
    secret = resolve_token(token)
    user = hub_user(secret)
    target = full_repo_id(repo_id, user, run, suffix="-demo")
    staging = Path(tempfile.mkdtemp(prefix="ft_app_space_"))
    try:
        write_demo_space(run.run_dir, staging, model_ref=model_repo, staging=True)
        files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        done = _upload(staging, target, "space", secret, private,
                       f"Before/after demo of run {run.run_id} (Fine-Tune Studio)", space_sdk="gradio")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    notes = [visibility_note(private, done, target)]
    if run.base_is_local:
        notes.append(f"The base model is a local folder ({run.base_name}) that the Space cannot reach: upload it as a "
                     "model repo and put its id in base_model in demo.json there.")
    return PublishResult(url=done.url, repo_id=target, repo_type="space", commit_url=done.commit_url,
                         private=done.private, files=files, note=" ".join(n for n in notes if n))


def describe(result: PublishResult) -> dict[str, Any]:
    """The result as JSON for API clients."""
    return {"url": result.url, "repo_id": result.repo_id, "repo_type": result.repo_type,
            "commit_url": result.commit_url, "private": result.private, "files": result.files, "note": result.note}
