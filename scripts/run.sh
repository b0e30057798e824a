#!/usr/bin/env bash
# One command to set up and run FaceGrid: the API plus WORKERS workers (default 1).
# Ctrl-C stops everything cleanly (exit 0); exits 1 if the API fails to start or dies, or a
# worker exits before it registers.
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

# Ctrl-C or SIGTERM only raises a flag: the loops below check it between steps, so nothing is
# started again once a stop has begun. Their pauses are `wait`s, which a trapped signal cuts short.
trap 'stopping=1' INT TERM
trap finish EXIT

finish() {  # on every exit: stop what was started (workers first, so they can hand back jobs)
  local status=$?
  trap - EXIT
  echo; echo "run: stopping FaceGrid"
  local pids="${worker_pids[*]-}"  # unquoted below: reaped (empty) entries drop out
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  reap $pids
  if [ -n "$api_pid" ]; then kill -TERM "$api_pid" 2>/dev/null || true; reap "$api_pid"; fi
  echo "run: stopped"
  exit "$status"
}

reap() {  # wait until these children have exited, even if a signal interrupts `wait`
  for pid; do while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null || true; done; done
}

pause() { sleep "$1" & wait $! 2>/dev/null || true; }

fail() { echo "run: $*" >&2; exit 1; }

# Ctrl-C goes to the whole process group, and bash drops its own INT trap when a child it reaps
# handled the same SIGINT and exited normally (seen with bash 5.2), so `stopping` may never be
# set. Our programs exit 0 only when asked to stop: a child's 0 is that Ctrl-C (or a SIGTERM).
stopped_by_request() { if [ "$1" = 0 ]; then exit 0; fi; }

carry_on() {  # between steps: a stop was asked for (exit 0), or the API has gone (exit 1)
  [ -z "$stopping" ] || exit 0
  kill -0 "$api_pid" 2>/dev/null && return
  local status=0
  wait "$api_pid" || status=$?
  api_pid=""
  stopped_by_request "$status"
  fail "the API exited with status $status (see above)"
}

start_worker() {  # $1: index into worker_ids
  (cd "$REPO/apps/worker" && API_URL="$API_URL" WORKER_ID="${worker_ids[$1]}" exec "$PY" -m app.main) &
  worker_pids[$1]=$!
}

# How many of our workers the API lists as online; nothing when no server answers, or when the
# one that answers is not the API started here (its /health names another pid). The key goes
# through the environment: a command line is visible to everyone in `ps`.
online_workers() {
  API_KEY="$API_KEY" API_PID="$api_pid" WORKER_IDS="${worker_ids[*]-}" "$PY" - "$API_URL" <<'PYEOF' 2>/dev/null || true
import json, os, sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
def get(path, **headers):
    with opener.open(urllib.request.Request(sys.argv[1] + path, headers=headers), timeout=2) as r:
        return json.load(r)
if get("/health").get("pid") != int(os.environ["API_PID"]):
    sys.exit(1)
ours = set(os.environ["WORKER_IDS"].split())
workers = get("/api/workers", **{"X-API-Key": os.environ["API_KEY"]})
print(sum(w["id"] in ours and w["status"] != "offline" for w in workers))
PYEOF
}

(cd "$REPO/apps/api" && exec "$PY" -m app.main) &
api_pid=$!
until [ -n "$(online_workers)" ]; do
  [ -z "$stopping" ] || exit 0
  kill -0 "$api_pid" 2>/dev/null || fail "the API failed to start (see above)"
  pause 0.5
done
for i in $(seq 0 $((WORKERS - 1))); do
  worker_ids[i]="${WORKER_ID_PREFIX:-worker}-$(printf %03d $((i + 1)))"
  start_worker "$i"
done
echo "run: waiting for the workers to load their models and register"
# The listing also shows workers of earlier runs as offline: count only those online now.
while online=$(online_workers); [ "${online:-0}" -lt "$WORKERS" ]; do
  carry_on
  for i in "${!worker_ids[@]}"; do
    if ! kill -0 "${worker_pids[i]}" 2>/dev/null; then
      wait "${worker_pids[i]}" && status=0 || status=$?
      worker_pids[i]=""  # reaped: its pid may belong to someone else soon
      stopped_by_request "$status"
      fail "worker ${worker_ids[i]} exited with status $status before registering (see above)"
    fi
  done
  pause 1
done

cat <<MSG

  FaceGrid is running
    Dashboard:  http://localhost:${API_PORT}/      (sign in with the API key)
    API:        http://localhost:${API_PORT}/api   (docs: http://localhost:${API_PORT}/docs)
    API key:    ${API_KEY}
    Workers:    ${online} online  (WORKERS=3 scripts/run.sh for more)
  Press Ctrl-C to stop.

MSG
# Supervise: the API's end is the end; a worker that dies is reported and started again.
while :; do
  carry_on
  for i in "${!worker_ids[@]}"; do
    kill -0 "${worker_pids[i]}" 2>/dev/null && continue
    wait "${worker_pids[i]}" && status=0 || status=$?
    worker_pids[i]=""  # reaped: its pid may belong to someone else soon
    stopped_by_request "$status"
    echo "run: worker ${worker_ids[i]} exited with status $status; starting it again in 2 s" >&2
    pause 2
    carry_on  # not if a stop began, or the API went, meanwhile
    start_worker "$i"
  done
  pause 1
done
