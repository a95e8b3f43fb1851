#!/usr/bin/env bash
# A snapshot the node must refuse (made by the control plane's test hook,
# which ships an endpoint with a dangling collection) is NACKed: the node
# keeps serving its old config, the refusal shows in `apictl nodes`, and the
# next good change flows again.
source tests/integration/lib.sh

start_cp --test-hooks
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path /ok --static-status 200 --static-body ok --active true >/dev/null
apictl client create acme >/dev/null
apictl profile create main --client acme --collections shop >/dev/null
TOKEN=$(apictl -o json token issue --profile main | json 'j["secret"]')
start_dp a
good=$(apictl revision)
wait_revision a "$good"

apictl endpoint create --collection shop --method GET --path /bad --static-status 200 --static-body bad --active true --description __test_refuse__ >/dev/null
bad=$(apictl revision)
for _ in $(seq 1 100); do
    [ "$(apictl -o json nodes | json 'j[0]["nack_revision"]')" == "$bad" ] && break
    sleep 0.05
done
eq "NACK of the bad revision in apictl nodes" "$bad" "$(apictl -o json nodes | json 'j[0]["nack_revision"]')"
apictl -o json nodes | json 'j[0]["nack_error"]' | grep -q "col_does_not_exist" && ok "NACK error says why" || not_ok "NACK error says why"
apictl nodes | grep -q "col_does_not_exist" && ok "table shows the error" || not_ok "table shows the error"
eq "node still on the good revision" "$good" "$(curl -s "http://127.0.0.1:${DP_ADMIN[a]}/status" | json 'j["revision"]')"
eq "old config keeps serving" 200 "$(code a /api/shop-v1/ok -H "API-Token: $TOKEN")"
eq "refused endpoint not served" 404 "$(code a /api/shop-v1/bad -H "API-Token: $TOKEN")"
sleep 0.5
eq "the refused revision is not re-sent" 1 "$(grep -c "event=config_refused" "$WORK/dp-a.log")"

apictl endpoint delete 'GET /bad' --collection shop >/dev/null
next=$(apictl revision)
check "next change accepted" wait_revision a "$next"
eq "still serving" 200 "$(code a /api/shop-v1/ok -H "API-Token: $TOKEN")"
stop_dp a
stop_cp
finish
