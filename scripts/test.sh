#!/usr/bin/env bash
# One command to set up and run every test (and the lint). Extra arguments go to pytest.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup.sh"
PY="$REPO/.venv/bin/python"
cd "$REPO"

# Debian packages the tests use: ss (port checks), a real RTSP server (GStreamer) for the
# camera tests, and Chromium for the dashboard's browser tests (Playwright drives it; it never
# downloads a browser). Installed when missing and possible; otherwise those tests say why they skip.
DEBIAN_PACKAGES="iproute2 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav gstreamer1.0-rtsp chromium"
if command -v dpkg-query >/dev/null 2>&1; then
  missing=$(for p in $DEBIAN_PACKAGES; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "test: installing Debian packages:" $missing
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) ||
        echo "test: WARNING: could not install $missing; the tests that need them will be skipped" >&2
    else
      echo "test: WARNING: missing Debian packages ($missing): run as root or install them;" \
           "the tests that need them will be skipped" >&2
    fi
  fi
fi

"$PY" scripts/fetch_sample_faces.py
"$PY" -m ruff check .
# Type checks: each app on its own (both name their package `app`), then the shared packages and scripts.
(cd apps/api && "$PY" -m mypy app)
(cd apps/worker && "$PY" -m mypy app)
"$PY" -m mypy packages/protocol/facegrid_protocol packages/common/facegrid_common scripts/*.py
# Both apps name their package `app`, so the worker's in-process tests get their own run.
"$PY" -m pytest tests/worker "$@"
"$PY" -m pytest tests --ignore=tests/worker "$@"
