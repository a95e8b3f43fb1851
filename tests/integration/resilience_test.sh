#!/usr/bin/env bash
# The control plane goes away: nodes keep serving with zero failed requests
# under steady load; a node (re)started while it is down serves from its
# cache; a corrupt cache is detected and not used; when the control plane is
# back the nodes resync and deltas flow again.
source tests/integration/lib.sh

start_cp --log-level debug
cp_port=${APICTL_SERVER##*:}
start_upstream
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path '/orders/{id}' --upstream "http://127.0.0.1:$UPSTREAM_PORT/orders/{id}" --active true >/dev/null
apictl client create acme >/dev/null
apictl profile create main --client acme --collections shop >/dev/null
TOKEN=$(apictl -o json token issue --profile main | json 'j["secret"]')
start_dp a
start_dp b
rev=$(apictl revision)
wait_revision a "$rev"; wait_revision b "$rev"

"$PY" tests/integration/load.py 6 8 "$TOKEN" /api/shop-v1/orders/1 "${DP_PORT[a]}" "${DP_PORT[b]}" >"$WORK/load.out" &
load=$!
sleep 2
kill9_cp
if wait "$load"; then ok "zero failed requests while the control plane died"; else not_ok "requests failed: $(cat "$WORK/load.out")"; fi
cat "$WORK/load.out"

# a node restarted while the control plane is down serves from its cache
stop_dp a
start_dp a
check "restarted node ready from cache" wait_revision a "$rev"
eq "restarted node serves" 200 "$(code a /api/shop-v1/orders/7 -H "API-Token: $TOKEN")"
grep -q "event=cache_loaded" "$WORK/dp-a.log" && ok "cache_loaded logged" || not_ok "cache_loaded logged"

# a corrupt cache is detected, reported and not used
cp "$WORK/dp-a.cache" "$WORK/dp-c.cache"
printf '\xff' | dd of="$WORK/dp-c.cache" bs=1 seek=100 conv=notrunc 2>/dev/null
start_dp c
grep -q "event=cache_corrupt" "$WORK/dp-c.log" && ok "corrupt cache reported" || not_ok "corrupt cache reported"
eq "corrupt cache not served: not ready" 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${DP_ADMIN[c]}/readyz")"
eq "no config: 503 for callers" 503 "$(code c /api/shop-v1/orders/7 -H "API-Token: $TOKEN")"

# the control plane comes back on the same address: resync, then deltas
CP_LISTEN=127.0.0.1:$cp_port start_cp --log-level debug
for _ in $(seq 1 100); do
    [ "$(apictl -o json nodes | json 'len([n for n in j if n["connected"]])')" == 3 ] && break
    sleep 0.1
done
eq "all three nodes reconnected" 3 "$(apictl -o json nodes | json 'len([n for n in j if n["connected"]])')"
check "node c got a snapshot" wait_revision c "$rev"
apictl client update acme --enabled false >/dev/null
rev2=$(apictl revision)
wait_revision a "$rev2"; wait_revision b "$rev2"
eq "change enforced after resync" 401 "$(code b /api/shop-v1/orders/7 -H "API-Token: $TOKEN")"
grep -q "event=config_applied revision=$rev2 kind=delta" "$WORK/dp-b.log" && ok "a delta, not a snapshot" || not_ok "delta after resync"

for n in a b c; do stop_dp $n; done
stop_cp
finish
