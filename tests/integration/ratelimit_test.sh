#!/usr/bin/env bash
# Rate limits at the edge: draft-11 RateLimit / RateLimit-Policy headers that
# match what is admitted, 429 rate_limited with Retry-After; and a limit
# shared by three nodes (each enforcing 1/3) admits 0.9R..1.1R per window
# cluster-wide, with the load spread round-robin. Limits are per second here
# so the test takes seconds; minutes and hours run the same code.
source tests/integration/lib.sh

start_cp
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl policy create tiny --rate 10/minute >/dev/null
apictl policy create shared --rate 60/second >/dev/null
apictl client create acme >/dev/null
apictl profile create limited --client acme --collections shop --policy tiny >/dev/null
apictl profile create free --client acme --collections shop >/dev/null
apictl profile create cluster --client acme --collections shop --policy shared >/dev/null
T_LIM=$(apictl -o json token issue --profile limited | json 'j["secret"]')
T_FREE=$(apictl -o json token issue --profile free | json 'j["secret"]')
T_CL=$(apictl -o json token issue --profile cluster | json 'j["secret"]')
start_dp a
rev=$(apictl revision)
wait_revision a "$rev"

# stay clear of a minute boundary so the window does not roll mid-check
while [ "$(date +%-S)" -gt 45 ]; do sleep 1; done
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip"; }
okc=0
for i in $(seq 1 10); do
    st=$(curl -s -D "$WORK/h" -o /dev/null -w '%{http_code}' -H "API-Token: $T_LIM" "http://127.0.0.1:${DP_PORT[a]}/api/shop-v1/x")
    [ "$st" == 200 ] && okc=$((okc + 1))
    r=$(hdr "$WORK/h" ratelimit | sed -n 's/.*;r=\([0-9]*\);.*/\1/p')
    [ "$r" == $((10 - i)) ] || not_ok "request $i: RateLimit r=$r, want $((10 - i))"
done
eq "10 of 10/minute admitted" 10 "$okc"
eq "RateLimit-Policy" '"minute";q=10;w=60' "$(hdr "$WORK/h" ratelimit-policy)"
st=$(curl -s -D "$WORK/h" -o "$WORK/body" -w '%{http_code}' -H "API-Token: $T_LIM" "http://127.0.0.1:${DP_PORT[a]}/api/shop-v1/x")
eq "11th: 429" 429 "$st"
eq "11th: rate_limited" rate_limited "$(json 'j["code"]' <"$WORK/body")"
ra=$(hdr "$WORK/h" retry-after)
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 120 ] && ok "Retry-After $ra s" || not_ok "Retry-After '$ra'"
eq "429 says r=0" 0 "$(hdr "$WORK/h" ratelimit | sed -n 's/.*;r=\([0-9]*\);.*/\1/p')"
curl -s -D "$WORK/h" -o /dev/null -H "API-Token: $T_FREE" "http://127.0.0.1:${DP_PORT[a]}/api/shop-v1/x"
eq "no policy: no RateLimit header" "" "$(hdr "$WORK/h" ratelimit)"
grep -q '"code":"rate_limited"' "$WORK/dp-a.access" && ok "access log records rate_limited" || not_ok "access log records rate_limited"

# three nodes share 60/second: each admits 20
start_dp b
start_dp c
for _ in $(seq 1 100); do
    [ "$(apictl -o json nodes | json 'len([n for n in j if n["connected"] and n["pending_revision"] == 0])')" == 3 ] && break
    sleep 0.05
done
sleep 0.3
if "$PY" tests/integration/ratelimit_count.py 6 6 "$T_CL" /api/shop-v1/x "${DP_PORT[a]}" "${DP_PORT[b]}" "${DP_PORT[c]}" >"$WORK/rl.out"; then
    ok "only 200s and 429s under load"
else
    not_ok "unexpected statuses"
fi
cat "$WORK/rl.out"
mean=$(sed -n 's/.*mean \([0-9.]*\).*/\1/p' "$WORK/rl.out")
"$PY" -c "import sys; sys.exit(0 if 54 <= $mean <= 66 else 1)" && ok "cluster admits 0.9R..1.1R per second (mean $mean of 60)" || not_ok "cluster admitted mean $mean per second, want 54..66"
for n in a b c; do stop_dp $n; done
stop_cp
finish
