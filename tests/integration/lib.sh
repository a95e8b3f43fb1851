# Shared helpers for the integration tests: start the real control plane on
# a free loopback port with a temp data dir, and run the real apictl at it.
# Sourced by each *_test.sh; Bazel runs them with the runfiles tree as cwd.
set -euo pipefail

CP_BIN="$PWD/controlplane/apiplatform-cp"
APICTL_BIN="$PWD/ctl/apictl"
WORK="$(mktemp -d "${TEST_TMPDIR:-/tmp}/it.XXXXXX")"
DATA="$WORK/data"
CP_LOG="$WORK/cp.log"
CP_PID=""
PASS=0
FAIL=0

cleanup() {
    if [ -n "$CP_PID" ] && kill -0 "$CP_PID" 2>/dev/null; then kill -9 "$CP_PID" 2>/dev/null || true; fi
    if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Starts the control plane (extra flags pass through) and waits until it
# listens; sets CP_PID, APICTL_SERVER and APICTL_TOKEN.
start_cp() {
    : >"$CP_LOG"
    "$CP_BIN" --listen 127.0.0.1:0 --data-dir "$DATA" "$@" 2>>"$CP_LOG" &
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
json() { python3 -c "import json,sys; j=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))"; }

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
