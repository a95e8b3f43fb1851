#!/usr/bin/env bash
# What a policy costs one data plane, side by side in one run: the demo
# upstream called directly; the same upstream through the data plane (token
# check + proxy) with no policy and with a rate limit + quota it never
# reaches; a static endpoint on the data plane with no policy, with the rate
# limit only, and with rate limit + quota. wrk --latency, 64 connections,
# interleaved rounds (every other one in reverse order); prints the median req/s
# and p99 of each row, and policy/no-policy ratios against the spec's target
# (under 5% of throughput, under 0.2 ms at p99). Also the CPU time the serving
# process spent per request (from /proc, utime + stime over the run): on this
# shared 2-core machine throughput swings by 10-30 % between rounds, CPU per
# request much less, so its ratio is the steadier measure of a check's cost.
# At 64 connections p99 is mostly queueing (about 64 / throughput); a second,
# short run with 4 connections gives the p99 of the request itself, which is
# where a check's added latency shows.
#   usage: [DP_THREADS=1] tests/bench/proxy_bench.sh [SECONDS_PER_ROUND] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-5}
ROUNDS=${2:-3}
DP_THREADS=${DP_THREADS:-1}
source tests/bench/lib.sh
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
"$BIN/apiplatform-dp" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --cp "$APICTL_SERVER" --node-id bench \
    --node-token-file "$W/data/node.token" --cache "$W/dp.cache" --threads "$DP_THREADS" --access-log /dev/null 2>"$W/dp.log" &
DP_PID=$!
DP=$(port_of "$W/dp.log" listening)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$DP/api/bench-v1/static" -H "API-Token: $TOKEN" && break; sleep 0.05; done
# the first quota request waits for a lease: take it before measuring
for t in "$LTOKEN" "$QTOKEN"; do
    curl -sf -o /dev/null "http://127.0.0.1:$DP/api/bench-v1/static" -H "API-Token: $t" || { echo "warm-up request failed" >&2; exit 1; }
done

# the rows, in the order printed (their labels are in the report below)
ROWS=(direct proxy proxyq static limited quota)
# sets ARGS: wrk's arguments for a row
args() {
    local static="http://127.0.0.1:$DP/api/bench-v1/static" proxied="http://127.0.0.1:$DP/api/bench-v1/orders/1"
    case $1 in
    direct) ARGS=("http://127.0.0.1:$UP/orders/1") ;;
    proxy) ARGS=(-H "API-Token: $TOKEN" "$proxied") ;;
    proxyq) ARGS=(-H "API-Token: $QTOKEN" "$proxied") ;;
    static) ARGS=(-H "API-Token: $TOKEN" "$static") ;;
    limited) ARGS=(-H "API-Token: $LTOKEN" "$static") ;;
    quota) ARGS=(-H "API-Token: $QTOKEN" "$static") ;;
    esac
}
# utime + stime of a process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# p99 in ms of a wrk --latency output
p99_of() {
    awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                      print u == "us" ? v / 1000 : u == "ms" ? v : u == "s" ? v * 1000 : u == "m" ? v * 60000 : -1}'
}
# "REQ/S P99_MS CPU_US_PER_REQUEST P99_MS_AT_4_CONNECTIONS" of one row; a
# run with non-2xx answers is a broken row, not a number
measure() {
    local out pid c0 c1 lo
    args "$1"
    pid=$([ "$1" == direct ] && echo "$UP_PID" || echo "$DP_PID")
    c0=$(cpu_ticks "$pid")
    out=$(wrk -t1 -c64 -d"${SECS}s" --latency "${ARGS[@]}")
    c1=$(cpu_ticks "$pid")
    if grep -q 'Non-2xx' <<<"$out"; then
        printf '%s: wrk saw non-2xx answers:\n%s\n' "$1" "$out" >&2
        return 1
    fi
    grep 'Socket errors' <<<"$out" | sed "s/^ */$1: /" >&2 || true
    lo=$(wrk -t1 -c4 -d2s --latency "${ARGS[@]}" | p99_of)
    awk -v ticks=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v lo="$lo" \
        '/Requests\/sec/ {rps = int($2)}
         / requests in / {n = $1}
         $1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                      p99 = u == "us" ? v / 1000 : u == "ms" ? v : u == "s" ? v * 1000 : u == "m" ? v * 60000 : -1}
         END {printf "%d %.3f %.2f %.3f\n", rps, p99, ticks * 1e6 / hz / n, lo}' <<<"$out"
}
# rounds alternate the order (ABBA), so each policy row and its no-policy
# row run next to each other and neither always goes first
for r in $(seq 1 "$ROUNDS"); do
    order=("${ROWS[@]}")
    [ $((r % 2)) -eq 0 ] && for i in "${!ROWS[@]}"; do order[i]=${ROWS[$((${#ROWS[@]} - 1 - i))]}; done
    for row in "${order[@]}"; do
        res=$(measure "$row")
        echo "$r $row $res" >>"$W/results"
    done
done
echo "wrk -t1 -c64 -d${SECS}s --latency (and -c4 -d2s for p99@c4), $ROUNDS interleaved rounds, data plane --threads $DP_THREADS ($(nproc) cores)"
ROWS="${ROWS[*]}" python3 - "$W/results" <<'EOF'
import os, statistics, sys
labels = {
    "direct": "upstream direct",
    "proxy": "data plane -> upstream, no policy",
    "proxyq": "data plane -> upstream, rate+quota",
    "static": "data plane static, no policy",
    "limited": "data plane static, rate limit",
    "quota": "data plane static, rate+quota",
}
rows = os.environ["ROWS"].split()
rps, p99, cpu, lo = {}, {}, {}, {}  # row -> {round: value}
for line in open(sys.argv[1]):
    r, row, q, p, c, l = line.split()
    rps.setdefault(row, {})[r] = float(q)
    p99.setdefault(row, {})[r] = float(p)
    cpu.setdefault(row, {})[r] = float(c)
    lo.setdefault(row, {})[r] = float(l)
med = statistics.median
print(f"{'':36s} {'req/s':>8s} {'p99 ms':>8s} {'cpu us/req':>10s} {'p99@c4 ms':>9s}   per round: req/s | p99 ms | cpu us/req")
for row in rows:
    print(f"{labels[row]:36s} {med(rps[row].values()):8.0f} {med(p99[row].values()):8.3f} "
          f"{med(cpu[row].values()):10.2f} {med(lo[row].values()):9.3f}   "
          + " ".join(f"{v:.0f}" for v in rps[row].values()) + " | "
          + " ".join(f"{v:.3f}" for v in p99[row].values()) + " | "
          + " ".join(f"{v:.2f}" for v in cpu[row].values()))
d, p, s = (med(rps[x].values()) for x in ("direct", "proxy", "static"))
print(f"proxy/direct = {p / d:.2f}   static/direct = {s / d:.2f}")
print("policy vs no policy (target: costs under 5% of throughput, under 0.2 ms at p99);")
print("'paired': the median over rounds of the same-round ratio / difference; 'noise': how")
print("much the no-policy row's rounds differ (max - min, of its median / in ms)")
print("'cpu cost': policy CPU per request / no-policy CPU per request - 1 (median of rounds)")
print("'p99@c4 diff': the same difference at 4 connections, where p99 is the request's own time")
print(f"{'':34s} {'req/s ratio':>11s} {'paired':>6s} {'noise':>6s} {'p99 diff ms':>11s} {'paired':>7s} {'noise':>6s} {'cpu cost':>8s} {'p99@c4 diff':>11s}")
for name, a, b in (("static: rate limit / no policy", "limited", "static"),
                   ("static: rate+quota / no policy", "quota", "static"),
                   ("upstream: rate+quota / no policy", "proxyq", "proxy")):
    base, basep = list(rps[b].values()), list(p99[b].values())
    ratio = med(rps[a].values()) / med(base)
    pratio = med(rps[a][r] / rps[b][r] for r in rps[a])
    noise = (max(base) - min(base)) / med(base)
    diff = med(p99[a].values()) - med(basep)
    pdiff = med(p99[a][r] - p99[b][r] for r in p99[a])
    cost = med(cpu[a].values()) / med(cpu[b].values()) - 1
    lodiff = med(lo[a].values()) - med(lo[b].values())
    ok = "within target" if ratio >= 0.95 and diff < 0.2 else "OUTSIDE target"
    print(f"{name:34s} {ratio:11.3f} {pratio:6.3f} {noise * 100:5.0f}% {diff:+11.3f} {pdiff:+7.3f} "
          f"{max(basep) - min(basep):6.2f} {cost * 100:+7.1f}% {lodiff:+11.3f}   {ok}")
EOF
