#!/usr/bin/env bash
# Requests/s of one data plane, side by side in one run: the demo upstream
# called directly, the same upstream through the data plane (token check +
# proxy), a static endpoint on the data plane, and the same static endpoint
# for a profile with a rate limit it never reaches (the limiter's cost). wrk, 64 connections,
# interleaved rounds; prints the median of each and the ratios.
#   usage: tests/bench/proxy_bench.sh [SECONDS_PER_ROUND] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
ROUNDS=${2:-3}
./scripts/install-deps.sh
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
bazel build -c opt //controlplane:apiplatform-cp //dataplane:apiplatform-dp //demo:demo-upstream //ctl:apictl >&2
BIN=$(mktemp -d)
cp bazel-bin/controlplane/apiplatform-cp bazel-bin/dataplane/apiplatform-dp bazel-bin/demo/demo-upstream bazel-bin/ctl/apictl "$BIN/"
bazel shutdown >&2
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W" "$BIN"' EXIT
port_of() { for _ in $(seq 1 100); do p=$(sed -n "s/.*event=$2 addr=[^ ]*:\([0-9]*\).*/\1/p" "$1" | tail -n1); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.05; done; exit 1; }

"$BIN/apiplatform-cp" --listen 127.0.0.1:0 --data-dir "$W/data" --fsync false 2>"$W/cp.log" &
export APICTL_SERVER=127.0.0.1:$(port_of "$W/cp.log" listening) APICTL_TOKEN_FILE=$W/data/admin.token
"$BIN/demo-upstream" --listen 127.0.0.1:0 2>"$W/up.log" &
UP=$(port_of "$W/up.log" listening)
A="$BIN/apictl"
$A collection create bench --version v1 >/dev/null
$A endpoint create --collection bench --method GET --path '/orders/{id}' --upstream "http://127.0.0.1:$UP/orders/{id}" --active true >/dev/null
$A endpoint create --collection bench --method GET --path /static --static-status 200 --static-body '{"ok":true}' --active true >/dev/null
$A client create bench >/dev/null
$A profile create bench --client bench --collections bench >/dev/null
TOKEN=$($A -o json token issue --profile bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
# the same request under a rate limit it never reaches: the cost of the limiter
$A policy create roomy --rate 1000000000/second >/dev/null
$A profile create limited --client bench --collections bench --policy roomy >/dev/null
LTOKEN=$($A -o json token issue --profile limited | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
"$BIN/apiplatform-dp" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --cp "$APICTL_SERVER" --node-id bench \
    --node-token-file "$W/data/node.token" --cache "$W/dp.cache" --threads 1 --access-log /dev/null 2>"$W/dp.log" &
DP=$(port_of "$W/dp.log" listening)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$DP/api/bench-v1/static" -H "API-Token: $TOKEN" && break; sleep 0.05; done

rps() { wrk -t1 -c64 -d"${SECS}s" "$@" | awk '/Requests\/sec/ {print int($2)}'; }
declare -A R
for r in $(seq 1 "$ROUNDS"); do
    R[direct]+="$(rps "http://127.0.0.1:$UP/orders/1") "
    R[proxy]+="$(rps -H "API-Token: $TOKEN" "http://127.0.0.1:$DP/api/bench-v1/orders/1") "
    R[static]+="$(rps -H "API-Token: $TOKEN" "http://127.0.0.1:$DP/api/bench-v1/static") "
    R[limited]+="$(rps -H "API-Token: $LTOKEN" "http://127.0.0.1:$DP/api/bench-v1/static") "
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
d=$(median <<<"${R[direct]}"); p=$(median <<<"${R[proxy]}"); s=$(median <<<"${R[static]}"); l=$(median <<<"${R[limited]}")
echo "wrk -t1 -c64 -d${SECS}s, $ROUNDS interleaved rounds, data plane --threads 1 (2 shared cores)"
printf '%-34s %10s req/s   rounds: %s\n' "upstream direct" "$d" "${R[direct]}"
printf '%-34s %10s req/s   rounds: %s\n' "data plane -> upstream (token+proxy)" "$p" "${R[proxy]}"
printf '%-34s %10s req/s   rounds: %s\n' "data plane static (token check)" "$s" "${R[static]}"
printf '%-34s %10s req/s   rounds: %s\n' "data plane static + rate limit" "$l" "${R[limited]}"
python3 -c "print(f'proxy/direct = {$p/$d:.2f}   static/direct = {$s/$d:.2f}   rate-limited/static = {$l/$s:.3f}')"
