#!/usr/bin/env bash
# One command to set up and run FaceGrid: the API plus WORKERS workers (default 1).
# Ctrl-C stops everything cleanly.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup.sh"
PY="$REPO/.venv/bin/python"
WORKERS="${WORKERS:-1}"

if [ ! -f "$REPO/.env" ]; then
  "$PY" - "$REPO" <<'PYEOF'
import secrets, sys
from pathlib import Path
repo = Path(sys.argv[1])
lines = []
for line in (repo / ".env.example").read_text().splitlines():
    if line in ("API_KEY=", "WORKER_TOKEN="):
        line += secrets.token_urlsafe(32)
    lines.append(line)
(repo / ".env").write_text("\n".join(lines) + "\n")
(repo / ".env").chmod(0o600)
PYEOF
  echo "run: wrote $REPO/.env with fresh secrets"
fi

# The values the apps will use: environment first, then .env.
eval "$("$PY" - "$REPO" <<'PYEOF'
import os, shlex, sys
from dotenv import dotenv_values
env = {**dotenv_values(os.path.join(sys.argv[1], ".env")), **os.environ}
for name, default in (("API_PORT", "8080"), ("API_KEY", ""), ("API_HOST", "0.0.0.0")):
    print(f"{name}={shlex.quote(env.get(name) or default)}")
PYEOF
)"
API_URL="http://127.0.0.1:${API_PORT}"

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "run: stopping FaceGrid"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run: stopped"
}
trap stop INT TERM EXIT

(cd "$REPO/apps/api" && exec "$PY" -m app.main) &
pids+=($!)
for _ in $(seq 1 120); do
  if "$PY" -c "import httpx,sys; sys.exit(httpx.get('$API_URL/health', timeout=1).status_code != 200)" 2>/dev/null; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run: the API failed to start (see above)" >&2; exit 1; }
  sleep 0.5
done

for i in $(seq 1 "$WORKERS"); do
  (cd "$REPO/apps/worker" && API_URL="$API_URL" WORKER_ID="${WORKER_ID_PREFIX:-worker}-$(printf %03d "$i")" exec "$PY" -m app.main) &
  pids+=($!)
done

cat <<MSG

  FaceGrid is running
    API:        http://localhost:${API_PORT}   (docs: http://localhost:${API_PORT}/docs)
    API key:    ${API_KEY}
    Workers:    ${WORKERS}  (WORKERS=3 scripts/run.sh for more)
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}" || true
echo "run: a process exited; stopping the rest" >&2
