#!/usr/bin/env bash
# Install the app and start it: bash scripts/start.sh [--host 0.0.0.0] [--port 7860]
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -r requirements.txt
exec "$PY" app.py "$@"
