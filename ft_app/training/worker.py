"""The warm training worker: `python -m ft_app.training.worker` imports the heavy libraries, then waits for a run.

The app keeps one ready, so a click on Train does not wait for torch, transformers and datasets to import.
It talks with the server over its stdin (requests) and stdout (replies), one JSON object per line:

- it says `{"ready": true, "pid": ..., "device": {...}}` once its imports are done;
- `{"op": "check", "config": {...}, "token": ...}`: runs the checks (`preflight`) and replies `{"ok": true,
  "plan": {...}}` or `{"ok": false, "error": "..."}`; the worker stays ready for another check;
- `{"op": "run", "run_dir": "...", "resume": false, "env": {...}}`: replies `{"ok": true}`, then trains that
  run folder (with what the last check found, not checking again) and exits with the run's exit code.

From the run on, its output goes to the run's log.txt, and it no longer needs the server: a restarted
server finds it again by the pid and start time it records in status.json. A worker whose stdin closes
before a run (the server went away) just exits.
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO


def main() -> int:
    """Import, say ready, answer checks, train one run."""
    replies = _reply_stream()
    faulthandler.enable()  # on fd 2, which is the run's log once it trains: a native crash leaves a traceback there
    started = time.perf_counter()
    device = warm_up()
    try:
        _send(replies, {"ready": True, "pid": os.getpid(), "device": device,
                        "import_s": round(time.perf_counter() - started, 2)})
    except BrokenPipeError:
        return 0  # the server went away while this worker was importing
    checked: Any = None
    checked_config: dict[str, Any] | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "check":
            checked, reply = _check(request)
            checked_config = request["config"] if checked is not None else None
            _send(replies, reply)
        elif request.get("op") == "run":
            _send(replies, {"ok": True, "pid": os.getpid()})
            replies.close()
            return _run(request, checked, checked_config)
        else:
            _send(replies, {"ok": False, "error": f"Unknown request {request.get('op')!r}."})
    return 0


def warm_up() -> dict[str, Any]:
    """Import everything a run needs, and say what this machine trains on."""
    import datasets
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers
    from transformers import Trainer, TrainingArguments  # noqa: F401  (the slow part of importing transformers)

    import ft_app.evaluation  # noqa: F401
    import ft_app.modeling
    import ft_app.training.callbacks  # noqa: F401
    import ft_app.training.runner  # noqa: F401

    # Records go to log.txt through our handler; the libraries' own console output would repeat them there.
    transformers.logging.disable_default_handler()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    info = ft_app.modeling.device_info()
    return {"kind": info.kind, "name": info.name, "count": info.count, "cpus": info.cpus, "memory_gb": info.memory_gb}


def _check(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Run the checks on a config; what they found, and the reply for the server."""
    from ft_app.config import RunConfig
    from ft_app.hub_token import redact, set_token
    from ft_app.training.runner import preflight

    set_token(request.get("token"))
    try:
        checked = preflight(RunConfig.from_dict(request["config"]))
    except ValueError as exc:
        return None, {"ok": False, "error": redact(str(exc)), "type": "ValueError"}
    except Exception as exc:  # reported to the server, which raises it for the person who pressed Train
        sys.stderr.write(redact(traceback.format_exc()))  # the details go to the app's console (this worker's stderr)
        return None, {"ok": False, "error": redact(f"{type(exc).__name__}: {exc}"), "type": type(exc).__name__}
    return checked, {"ok": True, "plan": checked.plan.as_dict()}


def _run(request: dict[str, Any], checked: Any, checked_config: dict[str, Any] | None) -> int:
    """Become the run's training process: output to its log, the given environment, then train."""
    from ft_app.runs import LOG_FILE, RunStore
    from ft_app.training.child import exit_code, train_run_folder

    run_dir = Path(request["run_dir"])
    os.environ.update(request.get("env") or {})
    _output_to(run_dir / LOG_FILE)
    store = RunStore(run_dir.parent)
    if checked is not None and store.read_config(run_dir).to_dict() != checked_config:
        checked = None  # not the config that was checked: check this one inside the run
    status, _ = train_run_folder(run_dir, store, checked=checked, resume=bool(request.get("resume")))
    return exit_code(status)


def _reply_stream() -> TextIO:
    """The pipe to the server, kept apart from stdout, so that nothing a library prints gets mixed into replies."""
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return replies


def _output_to(log_path: Path) -> None:
    """Send everything this process prints, down to native crash reports, to the run's log (token masked)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = _Redacting(os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace"))
    sys.stderr = _Redacting(os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace"))


class _Redacting(io.TextIOBase):
    """A text stream that masks Hugging Face tokens in everything written to it."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        from ft_app.hub_token import redact

        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return False


def _send(stream: TextIO, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
