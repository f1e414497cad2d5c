#!/usr/bin/env bash
# Kept for old habits and older notes: the set-up is Python now, `python3 scripts/start.py [--host H] [--port P]`.
exec "${PYTHON:-python3}" "$(dirname "$0")/start.py" "$@"
