#!/usr/bin/env bash
# Kept for old habits and older notes (bench/README.md): the tests run with `python3 scripts/test.py [pytest args]`.
exec "${PYTHON:-python3}" "$(dirname "$0")/test.py" "$@"
