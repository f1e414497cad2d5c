"""Every call to the Hugging Face Hub goes through here: reachability (offline mode, a probe cached for a minute),
deadlines, and THE one translation of huggingface_hub's typed errors into one plain sentence each.

    status = hub_status()                      # reachable or not, and a line for the page
    info = call(lambda: api.model_info(name), f"read {name}")   # a HubError with one sentence when it fails
    error = hub_error(exc, f"load model {name!r}")               # the same sentence for an error a library wrapped

Sentences read "Could not <what>: <reason>" and name the kind of failure: gated, not_found, unauthorized (401),
forbidden (403), http (another answer), offline (HF_HUB_OFFLINE) or unreachable (the network). transformers and
datasets wrap huggingface_hub's errors in their own (`raise OSError(...) from exc`): the chain of causes is read, so
the typed error decides, never the words of a message. The rule "local path or Hub id" is ft_app.paths'.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ft_app.hub_token import redact
from ft_app.text import first_line

logger = logging.getLogger(__name__)

T = TypeVar("T")

OFFLINE_MESSAGE = "The Hugging Face Hub cannot be reached (offline?). Pick a local folder or a cached model instead."
OFFLINE_DATASET_MESSAGE = "The Hugging Face Hub cannot be reached (offline?). Upload a data file instead."
# How long a probe result is trusted; the Model tab may ask on every keystroke.
STATUS_TTL_S = 60.0
# Upper bound for one Hub listing: huggingface_hub retries with backoff, which could otherwise take minutes.
CALL_DEADLINE_S = 20.0
# One sentence per kind of failure, after "Could not <what>: ".
REASONS = {
    "gated": "the repository is gated or private. Accept its terms on its Hub page and log in (set HF_TOKEN, or give "
             "a token), then try again.",
    "not_found": "it was not found on the Hugging Face Hub: check the spelling of the id (owner/name).",
    "unauthorized": "the Hub refused the token (401). Check that it is a valid token with the access this needs.",
    "forbidden": "the Hub refused this token access there (403). Use a token with access to that repository (write "
                 "access to publish), or your own namespace.",
    "http": "the Hugging Face Hub answered with error {code} ({detail}). Try again later.",
    "offline": "the Hugging Face Hub cannot be reached (offline?): offline mode is on (HF_HUB_OFFLINE=1), so only what "
               "is on this computer can be used.",
    "unreachable": "the Hugging Face Hub at {endpoint} cannot be reached (offline?): {detail}. Check the internet "
                   "connection and try again.",
}
# What went wrong on the way to the Hub, in words (the library's "[Errno -2] Name or service not known" is not).
NETWORK_WORDS = {
    "lookup": "its address could not be looked up, so this computer has no internet connection or its name server "
              "does not answer",
    "refused": "it refused the connection (a proxy or firewall in the way, or a wrong HF_ENDPOINT)",
    "timeout": "it did not answer in time",
    "ssl": "the secure connection failed (a proxy that inspects traffic, or this computer's clock is wrong)",
    "reset": "the connection was cut before it answered",
    "other": "the connection failed",
}


class HubError(ValueError):
    """A Hub call failed; the message is one plain sentence and `kind` one of REASONS' keys."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class HubUnreachableError(HubError):
    """The Hub could not be reached (offline mode, a network failure, no answer in time): nothing changed there."""


@dataclass
class HubStatus:
    """Whether the Hub answers, and a one-line message for the UI."""

    reachable: bool
    message: str


# ---- reachability ---------------------------------------------------------------------------

_status_lock = threading.Lock()
_status_cache: tuple[float, HubStatus] | None = None


def offline_mode() -> bool:
    """Whether the user asked for offline mode (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE), read now."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    # huggingface_hub reads the variable once at import; the app may set it later, so read both.
    return constants.is_offline_mode() or any(str(v).upper() in {"1", "ON", "YES", "TRUE"} for v in flags if v)


def hub_endpoint() -> str:
    """The Hub's address: HF_ENDPOINT when set (read now, so a test or a mirror can point it elsewhere)."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_status(timeout: float = 3.0) -> HubStatus:
    """Probe the Hub quickly; honour offline mode without trying; cache the answer for a minute."""
    global _status_cache
    if offline_mode():
        return HubStatus(False, "Offline mode is on (HF_HUB_OFFLINE=1): only local folders and cached models.")
    with _status_lock:
        if _status_cache and time.monotonic() - _status_cache[0] < STATUS_TTL_S:
            return _status_cache[1]
    status = _probe(timeout)
    with _status_lock:
        _status_cache = (time.monotonic(), status)
    return status


def reset_hub_status() -> None:
    """Forget the cached probe result (after a failed call, or for a Retry button)."""
    global _status_cache
    with _status_lock:
        _status_cache = None


def _probe(timeout: float) -> HubStatus:
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    url = f"{constants.ENDPOINT}/api/models"
    try:
        response = get_session().get(url, params={"limit": 1}, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any transport failure means "not reachable"; the reason is logged
        logger.info("Hub probe to %s failed: %s", url, exc)
        return HubStatus(False, OFFLINE_MESSAGE)
    if response.status_code >= 500:
        return HubStatus(False, f"The Hugging Face Hub answered with error {response.status_code}; try again later.")
    return HubStatus(True, f"Connected to {constants.ENDPOINT}.")


def known_offline() -> bool:
    """Whether the Hub is known to be out of reach right now (offline mode, or the last probe failed); never probes."""
    if offline_mode():
        return True
    with _status_lock:
        return bool(_status_cache and time.monotonic() - _status_cache[0] < STATUS_TTL_S and not _status_cache[1].reachable)


def require_hub(message: str = OFFLINE_MESSAGE) -> None:
    """Raise the plain offline message at once when the probe says the Hub is out of reach."""
    if not hub_status().reachable:
        raise HubUnreachableError(message, "offline" if offline_mode() else "unreachable")


# ---- calls and their errors -----------------------------------------------------------------


def call(fn: Callable[[], T], what: str, *, deadline: float | None = CALL_DEADLINE_S, then: str = "",
         secret: str | None = None) -> T:
    """Run one Hub request (in a daemon thread, given up after `deadline` seconds unless None); every way it fails
    becomes a HubError "Could not <what>: ..." (+ `then`), with `secret` and any token masked."""
    try:
        return fn() if deadline is None else _with_deadline(fn, what, deadline)
    except HubError:
        raise
    except Exception as exc:
        error = hub_error(exc, what, then=then, secret=secret, direct=True)
        if error is None:
            raise
        raise error from exc


def _with_deadline(fn: Callable[[], T], what: str, deadline: float) -> T:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"hub-{what}", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        reset_hub_status()
        reason = REASONS["unreachable"].format(endpoint=hub_endpoint(), detail=f"no answer within {deadline:g} s")
        raise HubUnreachableError(f"Could not {what}: {reason}", "unreachable")
    if "error" in box:
        raise box["error"]
    return box["value"]


def hub_error(exc: BaseException, what: str, *, then: str = "", secret: str | None = None,
              direct: bool = False) -> HubError | None:
    """The one sentence for a failed Hub request, "Could not <what>: <reason>" (+ `then`); None when `exc` is no Hub
    failure. `direct`: the request was huggingface_hub's own, so any other OSError is the network's."""
    found = error_kind(exc)
    if found is None and direct and isinstance(exc, OSError):
        found = ("unreachable", exc)
    if found is None:
        return None
    kind, cause = found
    if kind == "unreachable":
        reset_hub_status()
    from huggingface_hub.errors import LocalEntryNotFoundError

    response = getattr(cause, "response", None)
    if isinstance(cause, LocalEntryNotFoundError):
        detail = "it is not in this computer's cache either"
    elif kind == "unreachable":
        detail = network_words(exc)
    else:
        detail = first_line(cause, 200)
    reason = REASONS[kind].format(endpoint=hub_endpoint(), code=getattr(response, "status_code", "?"), detail=detail)
    message = f"Could not {what}: {reason}" + (f" {then}" if then else "")
    logger.info("Hub call failed (%s) while trying to %s: %r", kind, what, exc)
    message = redact(message.replace(secret, "hf_***") if secret else message)
    return (HubUnreachableError if kind in ("offline", "unreachable") else HubError)(message, kind)


def network_words(exc: BaseException) -> str:
    """Why a request got no answer, in words (NETWORK_WORDS), read from the typed errors in the chain of causes:
    the socket's own error decides, never the words of a message."""
    import socket
    import ssl

    chain = _chain(exc)
    kinds: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
        ("lookup", (socket.gaierror,)),
        ("ssl", (ssl.SSLError,)),
        ("refused", (ConnectionRefusedError,)),
        ("reset", (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)),
        ("timeout", (TimeoutError, *_timeout_errors())),
    )
    for key, types in kinds:
        if any(isinstance(e, types) for e in chain):
            return NETWORK_WORDS[key]
    logger.info("A network failure with no known cause: %r", exc)
    return NETWORK_WORDS["other"]


def _timeout_errors() -> tuple[type[Exception], ...]:
    """The HTTP clients' timeouts (httpx2, httpx), which are no TimeoutError."""
    import importlib

    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TimeoutException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def error_kind(exc: BaseException) -> tuple[str, BaseException] | None:
    """(kind, the typed error that says so) for an exception or any of its causes; None when none is a Hub failure."""
    from huggingface_hub import errors

    chain = _chain(exc)

    def first(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if found := first(errors.GatedRepoError):
        return "gated", found
    if found := first(errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError):
        return ("offline" if offline_mode() else "unreachable"), found
    not_found = (errors.RepositoryNotFoundError, errors.RevisionNotFoundError, errors.EntryNotFoundError,
                 errors.HFValidationError, *_library_not_found_errors())
    if found := first(*not_found):
        return "not_found", found
    if found := first(errors.HfHubHTTPError):
        code = getattr(getattr(found, "response", None), "status_code", None)
        return {401: "unauthorized", 403: "forbidden"}.get(code, "http"), found
    if found := first(ConnectionError, TimeoutError, *_transport_errors()):  # a request went out and got no answer
        return "unreachable", found
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (or, raised `from None`, the exception it was handling), outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _library_not_found_errors() -> tuple[type[BaseException], ...]:
    """datasets' "no such dataset" error, when datasets is loaded (its errors can only come from it then)."""
    module = sys.modules.get("datasets.exceptions")
    return (module.DatasetNotFoundError,) if module is not None else ()


def _transport_errors() -> tuple[type[Exception], ...]:
    """Network errors of the HTTP clients huggingface_hub and datasets use (httpx2 in huggingface_hub 2.x, httpx)."""
    import importlib

    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(found)
