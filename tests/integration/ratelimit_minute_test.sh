#!/usr/bin/env bash
# A real per-minute rate limit shared by three nodes: 600/minute, load spread
# round-robin over the three, admits 0.9R..1.1R (540..660) in a whole
# calendar minute, answering only 200 or 429 (with Retry-After). The flood
# starts a few seconds before the minute so the limiter slides over a full
# previous window; a node enforcing the whole R alone would admit ~3R.
# Waits for the next minute boundary: 65..125 s in all.
source tests/integration/lib.sh

R=600
start_cp
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl policy create perminute --rate "$R/minute" >/dev/null
apictl client create acme >/dev/null
apictl profile create cluster --client acme --collections shop --policy perminute >/dev/null
T=$(apictl -o json token issue --profile cluster | json 'j["secret"]')
for n in a b c; do start_dp $n; done
for _ in $(seq 1 100); do
    [ "$(apictl -o json nodes | json 'len([n for n in j if n["connected"] and n["pending_revision"] == 0])')" == 3 ] && break
    sleep 0.05
done
eq "three nodes connected" 3 "$(apictl -o json nodes | json 'len([n for n in j if n["connected"]])')"

# each node shares R three ways: a first request leaves (R/3 - 1) * 3 in the
# RateLimit header (R - 1 if the node thought it was alone)
for n in a b c; do
    r=""
    for _ in $(seq 1 20); do
        r=$(curl -s -D - -o /dev/null -H "API-Token: $T" "http://127.0.0.1:${DP_PORT[$n]}/api/shop-v1/x" |
            tr -d '\r' | sed -n 's/^ratelimit: .*;r=\([0-9]*\);.*/\1/Ip')
        [ "$r" == $(((R / 3 - 1) * 3)) ] && break
        sleep 0.1
    done
    eq "node $n counts three nodes (RateLimit r)" $(((R / 3 - 1) * 3)) "$r"
done

# six keep-alive connections, two per node, each at most ~50 requests/s:
# thirty times what the limit admits, and light on a shared CI machine
if "$PY" tests/integration/ratelimit_count.py --window 60 --lead 3 --pace 0.02 1 6 "$T" /api/shop-v1/x \
    "${DP_PORT[a]}" "${DP_PORT[b]}" "${DP_PORT[c]}" >"$WORK/rl.out"; then
    ok "only 200s and 429s with Retry-After under load"
else
    not_ok "unexpected statuses or a 429 without Retry-After"
fi
cat "$WORK/rl.out"
admitted=$(sed -n 's/.*per minute .*: \[\([0-9]*\)\].*/\1/p' "$WORK/rl.out")
if [ -n "$admitted" ] && [ "$admitted" -ge $((R * 9 / 10)) ] && [ "$admitted" -le $((R * 11 / 10)) ]; then
    ok "cluster admits 0.9R..1.1R in a minute ($admitted of $R)"
else
    not_ok "cluster admitted '$admitted' in a minute, want $((R * 9 / 10))..$((R * 11 / 10))"
fi
rejected=$(sed -n 's/^# 429s: \([0-9]*\) .*/\1/p' "$WORK/rl.out")
if [ "${rejected:-0}" -gt 0 ]; then ok "the flood was refused ($rejected 429s)"; else not_ok "no 429s: the flood never reached the limit"; fi
read -r ra_min ra_max < <(sed -n 's/.*Retry-After \([0-9]*\)\.\.\([0-9]*\) s.*/\1 \2/p' "$WORK/rl.out") || true
if [ -n "${ra_min:-}" ] && [ "$ra_min" -ge 1 ] && [ "$ra_max" -le 120 ]; then
    ok "Retry-After within 1..120 s ($ra_min..$ra_max)"
else
    not_ok "Retry-After '${ra_min:-}..${ra_max:-}', want within 1..120 s"
fi
for n in a b c; do stop_dp $n; done
stop_cp
finish
