#!/usr/bin/env bash
# One command to set up and run every test (and the lint). Extra arguments go to pytest.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup.sh"
PY="$REPO/.venv/bin/python"
cd "$REPO"

"$PY" scripts/fetch_sample_faces.py
"$PY" -m ruff check .
# Both apps name their package `app`, so the worker's in-process tests get their own run.
"$PY" -m pytest tests/worker "$@"
"$PY" -m pytest tests --ignore=tests/worker "$@"
