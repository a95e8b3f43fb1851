#!/usr/bin/env bash
# What a policy costs per request, counted in CPU instructions of the data
# plane's own process (valgrind --tool=callgrind): the same request with no
# policy, with a rate limit, with a rate limit + quota, on a static target
# and through to the demo upstream. Instruction counts do not move with the
# load on this shared machine (wall-clock throughput swings 10-30 % between
# rounds), so the ratios are repeatable; they leave out the kernel (sockets,
# the extra header bytes on the wire), which tests/bench/proxy_bench.sh's
# CPU-per-request column includes.
#   usage: [KEEP=DIR] tests/bench/policy_instructions.sh [REQUESTS_PER_ROW]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-3000}
source tests/bench/lib.sh
command -v valgrind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >&2

# only what the event loop runs (requests and responses), not the sync
# thread's polling, which depends on time rather than on requests
valgrind --tool=callgrind --instr-atstart=no --toggle-collect=h2o_evloop_run \
    --callgrind-out-file="$W/cg.%p" \
    "$BIN/apiplatform-dp" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --cp "$APICTL_SERVER" \
    --node-id bench --node-token-file "$W/data/node.token" --cache "$W/dp.cache" --threads 1 \
    --access-log /dev/null --quota-wait-ms 5000 2>"$W/dp.log" &
DP_PID=$!
DP=$(port_of "$W/dp.log" listening)

# sends N keep-alive requests (after 200 not counted, to warm up); fails on
# anything but 200
run() { # TOKEN PATH COUNT
    python3 - "$DP" "$@" <<'EOF'
import http.client, sys
port, token, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
for _ in range(n):
    c.request("GET", path, headers={"API-Token": token})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{path}: status {r.status}")
EOF
}
for _ in $(seq 1 200); do run "$TOKEN" /api/bench-v1/static 1 2>/dev/null && break; sleep 0.1; done
# Ir of the data plane over N requests of one row: collection on, run, dump
declare -A IR
for row in static limited quota proxy proxyq; do
    case $row in
    static) t=$TOKEN p=/api/bench-v1/static ;;
    limited) t=$LTOKEN p=/api/bench-v1/static ;;
    quota) t=$QTOKEN p=/api/bench-v1/static ;;
    proxy) t=$TOKEN p=/api/bench-v1/orders/1 ;;
    proxyq) t=$QTOKEN p=/api/bench-v1/orders/1 ;;
    esac
    run "$t" "$p" 200 # warm: leases, upstream connections, caches
    callgrind_control -z "$DP_PID" >/dev/null
    callgrind_control -i on "$DP_PID" >/dev/null
    run "$t" "$p" "$N"
    callgrind_control -i off "$DP_PID" >/dev/null
    rm -f "$W"/cg.*
    callgrind_control -d "$DP_PID" >/dev/null
    f=$(ls "$W"/cg.* | head -1)
    # KEEP=DIR keeps each row's profile for callgrind_annotate
    [ -n "${KEEP:-}" ] && cp "$f" "$KEEP/callgrind.$row"
    IR[$row]=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)
done
echo "data plane instructions per request in its event loop (valgrind callgrind, $N requests per row, one thread, user space only)"
python3 - "${IR[static]}" "${IR[limited]}" "${IR[quota]}" "${IR[proxy]}" "${IR[proxyq]}" "$N" <<'EOF'
import sys
s, l, q, p, pq, n = (int(x) for x in sys.argv[1:])
rows = [("static, no policy", s, None), ("static, rate limit", l, s), ("static, rate + quota", q, s),
        ("upstream, no policy", p, None), ("upstream, rate + quota", pq, p)]
for name, v, base in rows:
    extra = f"   {v / base - 1:+6.1%} vs no policy ({(v - base) / n:+.0f} per request)" if base else ""
    print(f"{name:24s} {v / n:10.0f}{extra}")
EOF
