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
# Where this machine reaches the API: a wildcard bind is reached on loopback.
case "$API_HOST" in 0.0.0.0|""|::|"[::]") LOCAL_HOST=127.0.0.1 ;; *) LOCAL_HOST=$API_HOST ;; esac
case "$LOCAL_HOST" in *:*) LOCAL_HOST="[$LOCAL_HOST]" ;; esac
API_URL="http://${LOCAL_HOST}:${API_PORT}"

api_pid=""
worker_ids=()   # worker_pids[i] runs worker_ids[i] (plain arrays: macOS ships bash 3.2)
worker_pids=()
stopping=""
stop() {
  stopping=1
  trap - INT TERM EXIT
  echo; echo "run: stopping FaceGrid"
  for pid in ${worker_pids[@]+"${worker_pids[@]}"} $api_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "run: stopped"
  exit 0
}
trap stop INT TERM EXIT

start_worker() {  # $1: index into worker_ids
  (cd "$REPO/apps/worker" && API_URL="$API_URL" WORKER_ID="${worker_ids[$1]}" exec "$PY" -m app.main) &
  worker_pids[$1]=$!
}

api_answers() {  # $1: path; true when the API answers it with 200
  "$PY" -c "import httpx, sys; r = httpx.get('$API_URL$1', headers={'X-API-Key': sys.argv[1]}, timeout=2)
sys.exit(r.status_code != 200 or ('$1' == '/api/workers' and not r.json()))" "$API_KEY" 2>/dev/null
}

(cd "$REPO/apps/api" && exec "$PY" -m app.main) &
api_pid=$!
until api_answers /health; do
  kill -0 "$api_pid" 2>/dev/null || { echo "run: the API failed to start (see above)" >&2; exit 1; }
  sleep 0.5
done
for i in $(seq 0 $((WORKERS - 1))); do
  worker_ids[i]="${WORKER_ID_PREFIX:-worker}-$(printf %03d $((i + 1)))"
  start_worker "$i"
done
echo "run: waiting for the workers to load their models and register"
until api_answers /api/workers; do sleep 1; done

cat <<MSG

  FaceGrid is running
    Dashboard:  http://localhost:${API_PORT}/      (sign in with the API key)
    API:        http://localhost:${API_PORT}/api   (docs: http://localhost:${API_PORT}/docs)
    API key:    ${API_KEY}
    Workers:    ${WORKERS}  (WORKERS=3 scripts/run.sh for more)
  Press Ctrl-C to stop.

MSG
# Supervise: the API's end is the end; a worker that dies is reported and started again.
while kill -0 "$api_pid" 2>/dev/null; do
  for i in "${!worker_ids[@]}"; do
    if ! kill -0 "${worker_pids[i]}" 2>/dev/null && [ -z "$stopping" ]; then
      echo "run: worker ${worker_ids[i]} exited; starting it again in 2 s" >&2
      sleep 2
      start_worker "$i"
    fi
  done
  sleep 1
done
echo "run: the API exited; stopping the workers" >&2
