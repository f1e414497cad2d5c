#!/usr/bin/env python3
"""Install what the app needs, then start it (Windows, macOS, Linux; standard library only).

    python scripts/start.py [--host 0.0.0.0] [--port 7860]

Installs torch first (pinned: see _setup.torch_plan; FT_APP_SKIP_TORCH=1 keeps the torch you have), then
requirements.txt, with the interpreter that runs this script, then runs app.py with the arguments given.
"""

from __future__ import annotations

import sys

import _setup


def main(argv: list[str]) -> int:
    if too_old := _setup.python_too_old():
        _setup.step(too_old)
        return 1
    code = _setup.install_torch()
    if code:
        return code
    _setup.step("Installing the app's requirements (requirements.txt)...")
    code = _setup.pip_install("-r", _setup.requirement("requirements.txt"))
    if code:
        return code
    _setup.step("Starting the app (Ctrl-C stops it)...")
    return _setup.run_child([sys.executable, str(_setup.ROOT / "app.py"), *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
