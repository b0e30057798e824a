#!/usr/bin/env bash
# Creates .venv at the repo root and installs what FaceGrid needs; safe to run again
# (it reinstalls only when a requirements file changed). Sourced by run.sh and test.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"

usable() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; }

find_python() {
  if [ -n "${PYTHON:-}" ]; then  # asked for by name: use it or say why not, never another one
    usable "$PYTHON" && { echo "$PYTHON"; return 0; }
    echo "setup: PYTHON=$PYTHON does not run as Python 3.10 or newer" >&2
    return 1
  fi
  for candidate in python3 python3.13 python3.12 python3.11 python3.10; do
    usable "$candidate" && { echo "$candidate"; return 0; }
  done
  echo "setup: FaceGrid needs Python 3.10 or newer (set PYTHON=/path/to/python3)" >&2
  return 1
}

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "setup: $VENV is incomplete (an interrupted first setup?); creating it again"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  python="$(find_python)"
  echo "setup: creating $VENV with $("$python" --version)"
  "$python" -m venv "$VENV" || {
    echo "setup: 'python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }
fi

stamp="$VENV/.facegrid-requirements"
wanted="$(cat "$REPO"/requirements-dev.txt "$REPO"/apps/*/requirements.txt "$REPO"/packages/*/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing dependencies into .venv (the first time takes a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # (PYTHONWARNINGS quiets setuptools' notes about editable installs of our own packages)
  (cd "$REPO" && PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet -r requirements-dev.txt)
  echo "$wanted" > "$stamp"
fi
