#!/usr/bin/env bash
# Verify that FaceGrid workers listen on no port: one worker, then several at once.
#
# Workers only dial out to the API's WebSocket; a worker, or anything it spawns,
# holding a listening TCP socket or a bound UDP socket is an attack surface nobody
# asked for. This script starts an API (or uses API_URL), starts workers, waits until
# the API lists them under the pids it started, and asks ss (or lsof, or netstat)
# for the sockets of each worker process and all its descendants. It also scans the
# worker logs for lines a server prints when it starts.
#
# Before trusting the tool it runs a positive control: the tool must show a socket
# we know is listening (a control process's, and the API's own when started here)
# together with its pid. ss without permission shows sockets but no pids, which
# would otherwise read as "nothing found": that is reported as "cannot verify".
#
# Usage: scripts/verify_no_listening_ports.sh
# Environment:
#   WORKERS=N        workers at once in the second check (default 3)
#   API_URL=URL      use this running API; API_KEY and WORKER_TOKEN from env or the root .env
#   WORKER_CMD=CMD   worker command (shell words), run in apps/worker (default: $PYTHON -m app.main)
#   PYTHON=PATH      interpreter (default: the repo's .venv/bin/python)
#   PORT_TOOL=NAME   ss, lsof or netstat (default: the first of these that passes the control)
#   SAMPLES=N        socket samples per check, 0.5 s apart (default 3)
#   TIMEOUT=S        seconds to wait for the API and for registration (default 60: workers
#                    load and self-test the face models before they register)
#   LOG_DIR=DIR      keep the API's and workers' logs there
# Exit: 0 every check passed; 1 a listening/bound socket (or a server log line) was
# found; 2 cannot verify (no usable tool, workers never listed, a process died,
# interrupted). Never 0 for a check that could not be made.

# pipefail: a failing tool must not look like "no sockets". Never pipe into `grep -q`
# under it: grep exits at the first match and the writer's SIGPIPE fails the pipeline.
set -uo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,/^$/p' "$0" | sed -e 's/^# \{0,1\}//'
    exit 0
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
WORKERS=${WORKERS:-3}
SAMPLES=${SAMPLES:-3}
TIMEOUT=${TIMEOUT:-60}
STOP_TIMEOUT=10
LOG_HINT='running on|listening on|uvicorn running|serving on'

WORK=$(mktemp -d "${TMPDIR:-/tmp}/facegrid-verify.XXXXXX")
LOGS=${LOG_DIR:-$WORK/logs}
RUN_ID=$(od -An -tx1 -N3 /dev/urandom | tr -d ' \n')

API_PID=""
CONTROL_PID=""
WORKER_PIDS=()  # the workers running now (one check at a time)
TOOL=""
FAILS=0
UNVERIFIED=0
SUMMARY=()
CLEANED=0

say() { printf 'verify_no_listening_ports [%3ds] %s\n' "$SECONDS" "$*" >&2; }
record() {  # STATUS MESSAGE: keep for the summary and say it now
    SUMMARY+=("[$1] $2")
    say "[$1] $2"
    case $1 in
        FAIL) FAILS=$((FAILS + 1)) ;;
        "CANNOT VERIFY") UNVERIFIED=$((UNVERIFIED + 1)) ;;
    esac
}
have() { command -v "$1" >/dev/null 2>&1; }

# --- processes ---------------------------------------------------------------

alive() {  # a zombie (exited, not yet reaped) counts as gone
    kill -0 "$1" 2>/dev/null || return 1
    case $(ps -o stat= -p "$1" 2>/dev/null) in Z*) return 1 ;; esac
    return 0
}

child_pids() {
    if have pgrep; then
        pgrep -P "$1" 2>/dev/null
    else
        ps -A -o pid= -o ppid= | awk -v p="$1" '$2 == p { print $1 }'
    fi
    return 0
}

tree() {  # the process and all its descendants
    local child
    echo "$1"
    for child in $(child_pids "$1"); do
        tree "$child"
    done
}

log_tail() {
    [[ -f $1 ]] && tail -n 15 "$1" | sed 's/^/    | /'
    return 0
}

stop_trees() {  # PID...: SIGTERM to all at once (workers drain in parallel), SIGKILL after
    # STOP_TIMEOUT; then the same for descendants that outlived their parent.
    local family="" pid waited=0 left
    for pid in "$@"; do
        family+=" $(tree "$pid" | tail -n +2 | tr '\n' ' ')"
        alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    while ((waited < STOP_TIMEOUT * 10)); do
        left=0
        for pid in "$@"; do alive "$pid" && left=1; done
        ((left)) || break
        sleep 0.1
        waited=$((waited + 1))
    done
    for pid in "$@"; do
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for pid in $family; do
        alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    sleep 0.2
    for pid in $family; do
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

cleanup() {
    ((CLEANED)) && return 0
    CLEANED=1
    # Workers first: they would only retry a vanished API.
    stop_trees ${WORKER_PIDS[@]+"${WORKER_PIDS[@]}"}
    [[ -n $API_PID ]] && stop_trees "$API_PID"
    [[ -n $CONTROL_PID ]] && stop_trees "$CONTROL_PID"
    rm -rf "$WORK"
    return 0
}

on_signal() {
    trap '' INT TERM  # a second Ctrl-C must not cut the cleanup short
    say "interrupted: stopping everything this script started"
    cleanup
    say "RESULT: CANNOT VERIFY (interrupted)"
    exit 2
}
trap cleanup EXIT
trap on_signal INT TERM

finish() {
    local code=0 line
    ((UNVERIFIED)) && code=2
    ((FAILS)) && code=1
    echo "FaceGrid worker port verification (tool: ${TOOL:-none})"
    for line in ${SUMMARY[@]+"${SUMMARY[@]}"}; do
        echo "  $line"
    done
    case $code in
        0) echo "RESULT: PASS: no worker process or descendant had a listening TCP or bound UDP socket" ;;
        1) echo "RESULT: FAIL: a worker listened on a port, bound one, or logged a server start (exit 1)" ;;
        *) echo "RESULT: CANNOT VERIFY (exit 2): see above; nothing was proven" ;;
    esac
    exit "$code"
}

# --- the API -------------------------------------------------------------------

write_helper() {  # the HTTP calls, in Python: no curl or jq needed
    cat >"$WORK/api.py" <<'PY'
import json, os, sys, urllib.error, urllib.request
from urllib.parse import urlsplit

command, url = sys.argv[1], os.environ["FG_API_URL"].rstrip("/")
parts = urlsplit(url)
if command == "port":
    print(parts.port or (443 if parts.scheme in ("https", "wss") else 80))
    sys.exit(0)
# A proxy from the environment must not sit between us and a loopback API.
loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if loopback else []))
path = {"health": "/health", "workers": "/api/workers"}[command]
request = urllib.request.Request(url + path, headers={"X-API-Key": os.environ.get("FG_API_KEY", "")})
try:
    with opener.open(request, timeout=5) as response:
        data = json.load(response)
except urllib.error.HTTPError as exc:
    print(f"HTTP {exc.code} from {path}", file=sys.stderr)
    sys.exit(3 if exc.code in (401, 403) else 1)
except (OSError, ValueError) as exc:
    print(f"{path}: {exc}", file=sys.stderr)
    sys.exit(1)
if command == "health":
    sys.exit(0 if isinstance(data, dict) and data.get("status") == "ok" else 1)
for worker in data:
    print(worker.get("id"), worker.get("pid"), worker.get("status"))
PY
}

api() { FG_API_URL=$BASE_URL FG_API_KEY=$KEY "$PYTHON" "$WORK/api.py" "$@"; }

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Hex: the API refuses secrets containing placeholder words, which hex cannot spell.
new_secret() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

dotenv_value() {  # KEY: its value in the root .env, if any
    local line
    [[ -f $REPO/.env ]] || return 0
    line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=" "$REPO/.env" | tail -n 1)
    line=${line#*=}
    line=$(printf '%s' "$line" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e "s/^[\"']//" -e "s/[\"']\$//")
    printf '%s' "$line"
}

start_api() {  # on a free loopback port, temp DATA_DIR, fresh secrets; retried if the port was taken
    local attempt deadline
    KEY=$(new_secret)
    TOKEN=$(new_secret)
    for attempt in 1 2 3; do
        API_PORT=$(free_port) || { record "CANNOT VERIFY" "cannot run $PYTHON"; return 1; }
        BASE_URL=http://127.0.0.1:$API_PORT
        (
            cd "$REPO/apps/api" &&
                exec env -u WORKER_HTTP_PORT -u USE_ENHANCED_WORKER API_HOST=127.0.0.1 API_PORT="$API_PORT" \
                    DATA_DIR="$WORK/data" DATABASE_URL= API_KEY="$KEY" WORKER_TOKEN="$TOKEN" LOG_FILE= \
                    LOG_LEVEL=INFO PYTHONUNBUFFERED=1 "$PYTHON" -m app.main
        ) >"$LOGS/api-$attempt.log" 2>&1 &
        API_PID=$!
        say "starting the API on 127.0.0.1:$API_PORT (pid $API_PID)"
        deadline=$((SECONDS + TIMEOUT))
        while alive "$API_PID" && ! api health 2>/dev/null; do
            if ((SECONDS > deadline)); then
                record "CANNOT VERIFY" "the API did not answer /health within ${TIMEOUT} s"
                log_tail "$LOGS/api-$attempt.log" >&2
                return 1
            fi
            sleep 0.2
        done
        alive "$API_PID" && return 0
        wait "$API_PID" 2>/dev/null
        API_PID=""
        if ! grep -qi "address already in use" "$LOGS/api-$attempt.log"; then
            record "CANNOT VERIFY" "the API exited at start-up (log: api-$attempt.log)"
            log_tail "$LOGS/api-$attempt.log" >&2
            return 1
        fi
    done
    record "CANNOT VERIFY" "the API could not bind a free port in 3 attempts"
    return 1
}

use_running_api() {
    local deadline code
    BASE_URL=${API_URL%/}
    KEY=${API_KEY:-$(dotenv_value API_KEY)}
    TOKEN=${WORKER_TOKEN:-$(dotenv_value WORKER_TOKEN)}
    if [[ -z $KEY || -z $TOKEN ]]; then
        record "CANNOT VERIFY" "API_URL needs API_KEY and WORKER_TOKEN in the environment or $REPO/.env"
        return 1
    fi
    deadline=$((SECONDS + (TIMEOUT < 10 ? TIMEOUT : 10)))
    until api health 2>/dev/null; do
        if ((SECONDS > deadline)); then
            record "CANNOT VERIFY" "no API answers $BASE_URL/health"
            return 1
        fi
        sleep 0.5
    done
    api workers >/dev/null 2>&1
    code=$?
    if ((code == 3)); then
        record "CANNOT VERIFY" "the API at $BASE_URL refused API_KEY"
        return 1
    fi
    API_PORT=$(api port)
    say "using the running API at $BASE_URL"
}

# --- sockets -------------------------------------------------------------------
# sockets_with TOOL PID...: one line "pid proto local-address" for each listening TCP
# socket and each UDP socket (any UDP socket is a bound one) owned by one of the pids.
# links_with TOOL PID...: one line "pid local peer" for each established TCP connection.

PID_FILTER='
BEGIN { n = split(pids, list, " "); for (i = 1; i <= n; i++) want[list[i]] = 1 }
function addrs(    i, k) {  # fills addr[1], addr[2] with the first fields that look like host:port
    k = 0
    for (i = 1; i <= NF && k < 2; i++) if ($i ~ /:([0-9]+|\*)$/ && $i !~ /^users:/) addr[++k] = $i
}
'

ss_sockets() {
    local pids="$*"
    { ss -ltnp 2>/dev/null | sed 's/^/tcp /'; ss -anup 2>/dev/null | sed 's/^/udp /'; } |
        awk -v pids="$pids" "$PID_FILTER"'
        { addrs(); line = $0
          while (match(line, /pid=[0-9]+/)) {
              p = substr(line, RSTART + 4, RLENGTH - 4); line = substr(line, RSTART + RLENGTH)
              if (p in want) print p, $1, addr[1]
          } }'
}

ss_links() {
    local pids="$*"
    ss -tnp 2>/dev/null | awk -v pids="$pids" "$PID_FILTER"'
        /ESTAB/ { addrs(); line = $0
          while (match(line, /pid=[0-9]+/)) {
              p = substr(line, RSTART + 4, RLENGTH - 4); line = substr(line, RSTART + RLENGTH)
              if (p in want) print p, addr[1], addr[2]
          } }'
}

lsof_sockets() {
    local pids
    pids=$(echo "$*" | tr ' ' ',')
    lsof -nP -a -p "$pids" -i 2>/dev/null | awk 'NR > 1 {
        for (i = 1; i < NF; i++) if ($i == "TCP" || $i == "UDP") {
            name = $(i + 1); sub(/->.*/, "", name)
            if ($i == "UDP") print $2, "udp", name
            else if ($(i + 2) == "(LISTEN)") print $2, "tcp", name
            break
        } }'
}

lsof_links() {
    local pids
    pids=$(echo "$*" | tr ' ' ',')
    lsof -nP -a -p "$pids" -iTCP -sTCP:ESTABLISHED 2>/dev/null | awk 'NR > 1 {
        for (i = 1; i < NF; i++) if ($i == "TCP") { split($(i + 1), ends, "->"); print $2, ends[1], ends[2]; break }
        }'
}

netstat_sockets() {  # Linux net-tools: the last column is pid/program ("-" without permission)
    local pids="$*"
    { netstat -lntp 2>/dev/null; netstat -anup 2>/dev/null; } | awk -v pids="$pids" "$PID_FILTER"'
        $1 ~ /^(tcp|udp)/ { split($NF, owner, "/"); proto = ($1 ~ /^tcp/) ? "tcp" : "udp"
          if (owner[1] in want && (proto == "udp" || $6 == "LISTEN")) print owner[1], proto, $4 }'
}

netstat_links() {
    local pids="$*"
    netstat -ntp 2>/dev/null | awk -v pids="$pids" "$PID_FILTER"'
        $1 ~ /^tcp/ && $6 == "ESTABLISHED" { split($NF, owner, "/"); if (owner[1] in want) print owner[1], $4, $5 }'
}

sockets_with() { local tool=$1; shift; "${tool}_sockets" "$@" | sort -u; }
links_with() { local tool=$1; shift; "${tool}_links" "$@" | sort -u; }

start_control() {  # a process of ours with a known listening TCP socket and a bound UDP socket
    local deadline=$((SECONDS + 10))
    "$PYTHON" -c '
import socket, time
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(1)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
print(tcp.getsockname()[1], udp.getsockname()[1], flush=True)
time.sleep(600)' >"$WORK/control.out" 2>&1 &
    CONTROL_PID=$!
    until [[ -s $WORK/control.out ]]; do
        if ((SECONDS > deadline)) || ! alive "$CONTROL_PID"; then
            return 1
        fi
        sleep 0.1
    done
    read -r CONTROL_TCP CONTROL_UDP <"$WORK/control.out"
}

tool_passes_control() {  # the tool must show known sockets with their pid, or its silence means nothing
    local tool=$1 seen
    have "$tool" || return 1
    seen=$(sockets_with "$tool" "$CONTROL_PID")
    grep -Eq "^$CONTROL_PID tcp .*:$CONTROL_TCP\$" <<<"$seen" || return 1
    grep -Eq "^$CONTROL_PID udp .*:$CONTROL_UDP\$" <<<"$seen" || return 1
    if [[ -n $API_PID ]]; then
        # shellcheck disable=SC2046
        seen=$(sockets_with "$tool" $(tree "$API_PID"))
        grep -Eq " tcp .*:$API_PORT\$" <<<"$seen" || return 1
    fi
    return 0
}

pick_tool() {
    local tool tried=""
    if ! start_control; then
        record "CANNOT VERIFY" "could not start the control process with $PYTHON"
        return 1
    fi
    for tool in ${PORT_TOOL:-ss lsof netstat}; do
        if ! have "$tool"; then
            tried+=" $tool (not installed)"
        elif tool_passes_control "$tool"; then
            TOOL=$tool
            break
        else
            tried+=" $tool (cannot see a known socket's pid: no permission?)"
        fi
    done
    stop_trees "$CONTROL_PID"
    CONTROL_PID=""
    if [[ -z $TOOL ]]; then
        record "CANNOT VERIFY" "no tool can show which process owns a socket:$tried"
        return 1
    fi
    say "using $TOOL (it passed the positive control: a known listening TCP and bound UDP socket with their pid)"
}

# --- a check ---------------------------------------------------------------------

start_worker() {  # ID: starts the worker, appends its pid to WORKER_PIDS
    (
        cd "$REPO/apps/worker" || exit 97
        unset WORKER_HTTP_PORT USE_ENHANCED_WORKER
        export API_URL=$BASE_URL WORKER_ID=$1 WORKER_TOKEN=$TOKEN LOG_FILE= LOG_LEVEL=INFO \
            SHUTDOWN_TIMEOUT=3 PYTHONUNBUFFERED=1
        eval "exec $WORKER_CMD"
    ) >"$LOGS/$1.log" 2>&1 &
    WORKER_PIDS+=("$!")
}

sample_sockets() {  # NAME IDS PIDS: append "id root-pid pid proto address" of each socket found
    local name=$1 ids=($2) pids=($3) i tree_pids pid proto addr
    for i in "${!ids[@]}"; do
        alive "${pids[$i]}" || continue  # reported by the caller
        tree_pids=$(tree "${pids[$i]}" | tr '\n' ' ')
        # shellcheck disable=SC2086
        sockets_with "$TOOL" $tree_pids | while read -r pid proto addr; do
            echo "${ids[$i]} ${pids[$i]} $pid $proto $addr"
        done >>"$WORK/$name.found"
    done
}

wait_registered() {  # NAME IDS PIDS: until the API lists every id under its pid (or a descendant's)
    local name=$1 ids=($2) pids=($3) deadline=$((SECONDS + TIMEOUT)) listed i pending why=""
    while :; do
        sample_sockets "$@"  # a socket opened at start-up, before registering, counts too
        pending=0
        listed=$(api workers 2>"$WORK/api.err") || why="GET /api/workers failed: $(cat "$WORK/api.err")"
        for i in "${!ids[@]}"; do
            if ! alive "${pids[$i]}"; then
                wait "${pids[$i]}" 2>/dev/null
                record "CANNOT VERIFY" "[$name] worker ${ids[$i]} (pid ${pids[$i]}) exited before it was listed (code $?)"
                log_tail "$LOGS/${ids[$i]}.log" >&2
                return 1
            fi
            local entry pid
            entry=$(awk -v id="${ids[$i]}" '$1 == id && $3 != "offline"' <<<"$listed")
            pid=$(awk '{ print $2 }' <<<"$entry")
            if [[ -z $entry ]]; then
                pending=1
            elif ! grep -qx "$pid" <<<"$(tree "${pids[$i]}")"; then
                why="the API lists ${ids[$i]} with pid $pid, not the started pid ${pids[$i]} or a descendant"
                pending=1
            fi
        done
        ((pending)) || return 0
        if ((SECONDS > deadline)); then
            record "CANNOT VERIFY" "[$name] the API did not list all workers within ${TIMEOUT} s. $why"
            for i in "${!ids[@]}"; do log_tail "$LOGS/${ids[$i]}.log" >&2; done
            return 1
        fi
        sleep 0.25
    done
}

run_check() {  # NAME COUNT
    local name=$1 count=$2 i id ids=() pids=() found="" sample root pid proto addr line
    say "check '$name': $count worker(s)"
    for ((i = 1; i <= count; i++)); do
        id=verify-$RUN_ID-$name-$i
        start_worker "$id"
        ids+=("$id")
        pids+=("${WORKER_PIDS[${#WORKER_PIDS[@]} - 1]}")
    done
    if wait_registered "$name" "${ids[*]}" "${pids[*]}"; then
        say "check '$name': the API lists ${ids[*]} (pids ${pids[*]})"
        for ((sample = 1; sample <= SAMPLES; sample++)); do
            for i in "${!ids[@]}"; do
                if [[ -z $found ]] && ! alive "${pids[$i]}"; then
                    record "CANNOT VERIFY" "[$name] worker ${ids[$i]} (pid ${pids[$i]}) died during the check"
                    found="died"
                fi
            done
            sample_sockets "$name" "${ids[*]}" "${pids[*]}"
            ((sample < SAMPLES)) && sleep 0.5
        done
        for i in "${!ids[@]}"; do  # the tool saw this worker's link to the API, or it may see nothing
            alive "${pids[$i]}" || continue
            local tries=0
            # shellcheck disable=SC2046
            until grep -Eq ":$API_PORT\$" <<<"$(links_with "$TOOL" $(tree "${pids[$i]}"))"; do
                tries=$((tries + 1))
                if ((tries >= 10)); then
                    record "CANNOT VERIFY" "[$name] $TOOL does not show ${ids[$i]}'s connection to the API's port $API_PORT"
                    found="unseen"
                    break
                fi
                sleep 0.5
            done
        done
        [[ -z $found && ! -s $WORK/$name.found ]] && record PASS "[$name] $count worker(s), $SAMPLES sample(s): no listening TCP or bound UDP socket in the workers or their descendants"
    fi
    if [[ -s $WORK/$name.found ]]; then  # also what was seen while waiting for registration
        while read -r id root pid proto addr; do
            local who="pid $pid" what="listening on"
            [[ $pid != "$root" ]] && who="pid $pid, a descendant of worker pid $root"
            [[ $proto == udp ]] && what="bound to"
            record FAIL "[$name] worker $id ($who): $proto socket $what $addr"
        done < <(sort -u "$WORK/$name.found")
    fi
    stop_trees "${pids[@]}"
    WORKER_PIDS=()  # stopped and reaped: their pids may be reused, never signal them again
    for id in "${ids[@]}"; do  # a server announces itself; the sockets are the proof, this is a second net
        while IFS= read -r line; do
            record FAIL "[$name] worker $id logged a sign of a server: ${line:0:200}"
        done < <(grep -Ei "$LOG_HINT" "$LOGS/$id.log" 2>/dev/null)
    done
}

# --- main --------------------------------------------------------------------------

main() {
    mkdir -p "$LOGS"
    if ! [[ $WORKERS =~ ^[1-9][0-9]*$ && $SAMPLES =~ ^[1-9][0-9]*$ && $TIMEOUT =~ ^[1-9][0-9]*$ ]]; then
        record "CANNOT VERIFY" "WORKERS, SAMPLES and TIMEOUT must be positive integers"
        finish
    fi
    if [[ ! -x $PYTHON ]] && ! have "$PYTHON"; then
        record "CANNOT VERIFY" "no Python at $PYTHON (set PYTHON=...)"
        finish
    fi
    WORKER_CMD=${WORKER_CMD:-$(printf '%q' "$PYTHON") -m app.main}
    write_helper
    if [[ -n ${API_URL:-} ]]; then
        use_running_api || finish
    else
        start_api || finish
    fi
    pick_tool || finish
    run_check single 1
    run_check multiple "$WORKERS"
    [[ -n $LOG_DIR_SET ]] && say "logs kept in $LOGS"
    finish
}

LOG_DIR_SET=${LOG_DIR:-}
main
