#!/usr/bin/env bash
# Usage reporting end to end: two data planes count every call they answer
# (successes, 404s, 401s, an upstream 503, 403 ip_denied, 429 rate_limited),
# report the counters to the control plane, and `apictl usage` shows exactly
# the calls this test made and saw: totals, top clients and top endpoints in
# order, the --client and --collection filters, an empty range in the
# future, and the human layout.
source tests/integration/lib.sh

start_cp
start_upstream
UP="http://127.0.0.1:$UPSTREAM_PORT"
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path '/orders/{id}' --upstream "$UP/orders/{id}" --active true >/dev/null
apictl endpoint create --collection shop --method GET --path /health --static-status 200 --static-body fine --active true >/dev/null
apictl endpoint create --collection shop --method GET --path /boom --upstream "$UP/status/503" --active true >/dev/null
apictl policy create tight --rate 4/minute >/dev/null
for c in acme beta gamma walled; do apictl client create $c >/dev/null; done
apictl profile create main --client acme --collections shop >/dev/null
apictl profile create second --client beta --collections shop >/dev/null
apictl profile create limited --client gamma --collections shop --policy tight >/dev/null
apictl profile create tenonly --client walled --collections shop --ip-allow 10.0.0.0/8 >/dev/null
declare -A TOK=()
for p in main second limited tenonly; do TOK[$p]=$(apictl -o json token issue --profile $p | json 'j["secret"]'); done

start_dp a
start_dp b
rev=$(apictl revision)
check "node a holds the config" wait_revision a "$rev"
check "node b holds the config" wait_revision b "$rev"

# hit NODE CLIENT ENDPOINT PATH [curl args]: one call; what came back goes
# to the tally as CLIENT<TAB>ENDPOINT<TAB>STATUS<TAB>BODY-FILE.
n=0
hit() {
    local node=$1 client=$2 ep=$3 path=$4; shift 4
    n=$((n + 1))
    local st
    st=$(curl -s -o "$WORK/body.$n" -w '%{http_code}' "$@" "http://127.0.0.1:${DP_PORT[$node]}$path")
    printf '%s\t%s\t%s\t%s\n' "$client" "$ep" "$st" "$WORK/body.$n" >>"$WORK/tally"
}
ORD='GET /orders/{id}' HEALTH='GET /health' BOOM='GET /boom' NOROUTE='(no route)' NOTOKEN='(no token)'
for i in $(seq 1 6); do hit a acme "$ORD" /api/shop-v1/orders/$i -H "API-Token: ${TOK[main]}"; done
for i in $(seq 1 4); do hit b acme "$ORD" /api/shop-v1/orders/$i -H "API-Token: ${TOK[main]}"; done
for node in a a a b b; do hit $node acme "$HEALTH" /api/shop-v1/health -H "API-Token: ${TOK[main]}"; done
for node in a b; do hit $node acme "$BOOM" /api/shop-v1/boom -H "API-Token: ${TOK[main]}"; done
for node in b b b; do hit $node beta "$HEALTH" /api/shop-v1/health -H "API-Token: ${TOK[second]}"; done
# routing comes before the token: a 404 has neither
for node in a b a; do hit $node "$NOTOKEN" "$NOROUTE" /api/shop-v1/nope -H "API-Token: ${TOK[main]}"; done
hit a "$NOTOKEN" "$HEALTH" /api/shop-v1/health
hit b "$NOTOKEN" "$HEALTH" /api/shop-v1/health
hit a "$NOTOKEN" "$HEALTH" /api/shop-v1/health -H 'API-Token: apt_nope'
for node in a b; do hit $node walled "$HEALTH" /api/shop-v1/health -H "API-Token: ${TOK[tenonly]}"; done
# 4/minute shared by two nodes: a burst on one node meets its share
for i in $(seq 1 8); do hit a gamma "$HEALTH" /api/shop-v1/health -H "API-Token: ${TOK[limited]}"; done

# What the test saw, as the control plane should count it; and a checker
# of a GetUsage answer against it (optionally for one client or without
# the calls that matched no route).
"$PY" - "$WORK/tally" >"$WORK/expected.json" <<'EOF'
import json, sys
rows = []
for line in open(sys.argv[1]):
    client, ep, status, body = line.rstrip("\n").split("\t")
    status = int(status)
    try:
        code = json.load(open(body)).get("code", "")
    except Exception:
        code = ""
    if 0 < status < 400: cls = "successful"
    elif code in ("rate_limited", "quota_exceeded", "ip_denied"): cls = code
    elif status >= 500: cls = "server_errors"
    else: cls = "client_errors"
    rows.append([client, ep, cls])
json.dump(rows, sys.stdout)
EOF
cat >"$WORK/check.py" <<'EOF'
import json, sys
FIELDS = ["successful", "client_errors", "server_errors", "rate_limited", "quota_exceeded", "ip_denied"]
rows = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))
only_client = sys.argv[3] if len(sys.argv) > 3 else ""
routed_only = len(sys.argv) > 4 and sys.argv[4] == "routed"
rows = [r for r in rows if (not only_client or r[0] == only_client) and (not routed_only or r[1] != "(no route)")]

def counts(sel):
    c = dict.fromkeys(FIELDS, 0)
    for r in sel: c[r[2]] += 1
    return c

def top(index):
    names = sorted(set(r[index] for r in rows))
    out = [(n, counts([r for r in rows if r[index] == n])) for n in names]
    out.sort(key=lambda x: (-sum(x[1].values()), x[0]))
    return [(n, [c[f] for f in FIELDS]) for n, c in out]

want = {"totals": [counts(rows)[f] for f in FIELDS], "clients": top(0), "endpoints": top(1)}
have = {"totals": [got["totals"][f] for f in FIELDS],
        "clients": [(r["name"], [r["counts"][f] for f in FIELDS]) for r in got["top_clients"]],
        "endpoints": [(r["name"], [r["counts"][f] for f in FIELDS]) for r in got["top_endpoints"]]}
what = sys.argv[5] if len(sys.argv) > 5 else "all"
for k in ("totals", "clients", "endpoints"):
    if what in ("all", k) and json.dumps(want[k]) != json.dumps(have[k]):
        print(f"{k}: want {want[k]}\n{' ' * len(k)}  got  {have[k]}", file=sys.stderr)
        sys.exit(1)
EOF
made=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/expected.json")
eq "the test made 36 calls" 36 "$made"
saw() { "$PY" -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1])) if r[2] == sys.argv[2]))' "$WORK/expected.json" "$1"; }
limited=$(saw rate_limited)
[ "$limited" -ge 4 ] && ok "the burst was rate limited ($limited of 8)" || not_ok "only $limited of 8 rate limited"
eq "403 ip_denied seen" 2 "$(saw ip_denied)"
eq "503 seen" 2 "$(saw server_errors)"

# the reports arrive within a second or two
arrived=0
for _ in $(seq 1 100); do
    apictl usage -o json >"$WORK/usage.json"
    if "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/usage.json" "" "" totals 2>/dev/null; then
        arrived=1
        break
    fi
    sleep 0.1
done
[ "$arrived" == 1 ] && ok "totals match the calls made" || {
    not_ok "totals match the calls made"
    "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/usage.json" || true
}
check "top clients: order and counts" "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/usage.json" "" "" clients
check "top endpoints: order and counts" "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/usage.json" "" "" endpoints
eq "top endpoint's collection" shop "$(json 'j["top_endpoints"][0]["detail"]' <"$WORK/usage.json")"
eq "granularity of the last 24 hours" minute "$(json 'j["granularity"]' <"$WORK/usage.json")"

apictl usage --client acme -o json >"$WORK/acme.json"
check "--client acme: its calls only" "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/acme.json" acme
apictl usage --collection shop --since 15m -o json >"$WORK/shop.json"
check "--collection shop --since 15m: no unrouted calls" "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/shop.json" "" routed
apictl usage --top 1 -o json >"$WORK/top1.json"
eq "--top 1" "1 1" "$(json '"%d %d" % (len(j["top_clients"]), len(j["top_endpoints"]))' <"$WORK/top1.json")"
now=$(date +%s)
apictl usage --since $((now + 3600)) --until "$(date -u -d @$((now + 7200)) +%Y-%m-%dT%H:%M:%SZ)" -o json >"$WORK/future.json"
eq "a range in the future: zeros" "0 0 0" "$(json '"%d %d %d" % (sum(j["totals"].values()), len(j["top_clients"]), len(j["series"]))' <"$WORK/future.json")"
apictl usage --since 7d -o json >"$WORK/week.json"
eq "--since 7d: day buckets" day "$(json 'j["granularity"]' <"$WORK/week.json")"
check "--since 7d: the same calls" "$PY" "$WORK/check.py" "$WORK/expected.json" "$WORK/week.json"

apictl usage >"$WORK/human.txt"
cat "$WORK/human.txt"
for h in "successful:" "errors:" "policy violations:" "TOP CLIENTS" "TOP ENDPOINTS" "acme" "GET /orders/{id}"; do
    grep -qF -- "$h" "$WORK/human.txt" && ok "human output shows $h" || not_ok "human output lacks $h"
done
total_ok=$(saw successful)
eq "human successful count" "$total_ok" "$(sed -n 's/^successful: *\([0-9]*\).*/\1/p' "$WORK/human.txt")"
expect_error "granularity must be minute or day" INVALID_ARGUMENT "usage.granularity" apictl usage --granularity hour
expect_error "unknown client" NOT_FOUND 'client "nobody" not found' apictl usage --client nobody
expect_error "bad --since" INVALID_ARGUMENT "--since" apictl usage --since yesterday

check "quota list answers" apictl quota list
eq "quota list -o json is a list" list "$(apictl quota list -o json | json 'type(j).__name__')"

stop_dp a
stop_dp b
stop_cp
finish
