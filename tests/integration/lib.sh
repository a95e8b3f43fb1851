# Shared helpers for the integration tests: start the real control plane on
# a free loopback port with a temp data dir, and run the real apictl at it.
# Sourced by each *_test.sh; Bazel runs them with the runfiles tree as cwd.
set -euo pipefail

CP_BIN="$PWD/controlplane/apiplatform-cp"
APICTL_BIN="$PWD/ctl/apictl"
DP_BIN="$PWD/dataplane/apiplatform-dp"
UPSTREAM_BIN="$PWD/demo/demo-upstream"
# Debian's interpreter: its packages (python3-jsonschema) are what install-deps.sh puts there
PY=/usr/bin/python3
WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/it.XXXXXX")"
DATA="$WORK/data"
CP_LOG="$WORK/cp.log"
CP_PID=""
PASS=0
FAIL=0

declare -A PIDS=()

cleanup() {
    if [ -n "$CP_PID" ] && kill -0 "$CP_PID" 2>/dev/null; then kill -9 "$CP_PID" 2>/dev/null || true; fi
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# wait_port LOG PID EVENT: prints the port logged as `event=EVENT addr=IP:PORT`.
wait_port() {
    local log=$1 pid=$2 event=$3 port=""
    for _ in $(seq 1 200); do
        port=$(sed -n "s/.*event=$event addr=[^ ]*:\([0-9][0-9]*\).*/\1/p" "$log" | tail -n1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "$event: process died" >&2; return 1; }
        sleep 0.05
    done
    cat "$log" >&2
    echo "$event: not seen in $log" >&2
    return 1
}

# start_upstream: the demo upstream on a free port; sets UPSTREAM_PORT.
start_upstream() {
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$UPSTREAM_BIN" --listen 127.0.0.1:0 2>"$WORK/upstream.log" &
    PIDS[upstream]=$!
    UPSTREAM_PORT=$(wait_port "$WORK/upstream.log" "${PIDS[upstream]}" listening)
}

# start_dp NAME [flags]: a data plane named NAME connected to the control
# plane; sets DP_PORT[NAME] and DP_ADMIN[NAME]. The cache is kept per name.
declare -A DP_PORT=() DP_ADMIN=()
start_dp() {
    local name=$1; shift
    local log="$WORK/dp-$name.log"
    : >"$log"
    local tok=(--node-token-file "$DATA/node.token")
    [ "${NO_NODE_TOKEN:-0}" == 1 ] && tok=()
    # Under --config=asan: the data plane does not tear down h2o's and
    # OpenSSL's globals at exit, so LeakSanitizer's exit report is off for it
    # (errors are still caught; the control plane and apictl keep it on).
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    "$DP_BIN" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --cp "$APICTL_SERVER" \
        --node-id "$name" "${tok[@]}" --cache "$WORK/dp-$name.cache" \
        --threads 2 --access-log "$WORK/dp-$name.access" "$@" 2>>"$log" &
    PIDS[$name]=$!
    DP_PORT[$name]=$(wait_port "$log" "${PIDS[$name]}" listening)
    DP_ADMIN[$name]=$(wait_port "$log" "${PIDS[$name]}" admin_listening)
}

stop_dp() {
    local name=$1 rc=0
    kill -TERM "${PIDS[$name]}"
    wait "${PIDS[$name]}" || rc=$?
    unset "PIDS[$name]"
    [ "$rc" -eq 0 ] || { echo "data plane $name exited with $rc" >&2; cat "$WORK/dp-$name.log" >&2; exit 1; }
}

# wait_revision NAME REV: until data plane NAME serves revision >= REV (5 s).
wait_revision() {
    for _ in $(seq 1 500); do
        local r
        r=$(curl -s "http://127.0.0.1:${DP_ADMIN[$1]}/status" | json 'j["revision"]' 2>/dev/null || echo 0)
        [ "${r:-0}" -ge "$2" ] && return 0
        sleep 0.01
    done
    echo "data plane $1 did not reach revision $2" >&2
    return 1
}

# code NAME CURL-ARGS...: the HTTP status of a request to data plane NAME.
code() {
    local name=$1 path=$2; shift 2
    curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:${DP_PORT[$name]}$path"
}

# Starts the control plane (extra flags pass through) and waits until it
# listens; sets CP_PID, APICTL_SERVER and APICTL_TOKEN.
start_cp() {
    : >"$CP_LOG"
    "$CP_BIN" --listen "${CP_LISTEN:-127.0.0.1:0}" --data-dir "$DATA" "$@" 2>>"$CP_LOG" &
    CP_PID=$!
    local port=""
    for _ in $(seq 1 200); do
        port=$(sed -n 's/.*event=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$CP_LOG" | tail -n1)
        [ -n "$port" ] && break
        kill -0 "$CP_PID" 2>/dev/null || { cat "$CP_LOG" >&2; echo "control plane died" >&2; exit 1; }
        sleep 0.05
    done
    [ -n "$port" ] || { cat "$CP_LOG" >&2; echo "control plane did not start" >&2; exit 1; }
    export APICTL_SERVER="127.0.0.1:$port"
    export APICTL_TOKEN="$(cat "$DATA/admin.token")"
}

# Stops it with SIGTERM and checks that it exits cleanly.
stop_cp() {
    kill -TERM "$CP_PID"
    local rc=0
    wait "$CP_PID" || rc=$?
    CP_PID=""
    [ "$rc" -eq 0 ] || { echo "control plane exited with $rc" >&2; cat "$CP_LOG" >&2; exit 1; }
}

kill9_cp() {
    kill -9 "$CP_PID"
    wait "$CP_PID" 2>/dev/null || true
    CP_PID=""
}

apictl() { "$APICTL_BIN" "$@"; }

# json FIELD-EXPR: reads JSON on stdin and prints python expression `j...`.
json() { "$PY" -c "import json,sys; j=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))"; }

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $1" >&2; }

# check NAME CMD...: the command must succeed.
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }

# expect_error NAME STATUS NEEDLE CMD...: the command must exit 1 and say
# STATUS and NEEDLE on stderr.
expect_error() {
    local name=$1 status=$2 needle=$3; shift 3
    local err rc=0
    err=$("$@" 2>&1 >/dev/null) || rc=$?
    if [ "$rc" -eq 1 ] && grep -qF -- "$status" <<<"$err" && grep -qF -- "$needle" <<<"$err"; then
        ok "$name"
    else
        not_ok "$name (exit $rc, stderr: $err)"
    fi
}

# eq NAME WANT GOT
eq() { if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1: want '$2', got '$3'"; fi; }

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
