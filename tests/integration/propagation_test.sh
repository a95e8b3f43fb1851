#!/usr/bin/env bash
# 50 profile changes made with apictl, each enforced by both data planes:
# prints p50/p99 of apictl-return-to-enforced (target p99 < 50 ms on
# loopback; reported, not asserted: the machine is shared).
source tests/integration/lib.sh

start_cp
apictl collection create shop --version v1 >/dev/null
apictl collection create other --version v1 >/dev/null
apictl endpoint create --collection other --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl client create acme >/dev/null
apictl profile create main --client acme --collections shop >/dev/null
TOKEN=$(apictl -o json token issue --profile main | json 'j["secret"]')
start_dp a
start_dp b
rev=$(apictl revision)
wait_revision a "$rev"; wait_revision b "$rev"
if "$PY" tests/integration/propagation.py 50 "$TOKEN" "$APICTL_BIN" "${DP_PORT[a]}" "${DP_PORT[b]}"; then
    ok "50 changes enforced on both nodes"
else
    not_ok "50 changes enforced on both nodes"
fi
eq "both nodes acknowledged the last revision" 2 "$(apictl -o json nodes | json "len([n for n in j if n['revision'] == $(apictl revision)])")"
stop_dp a
stop_dp b
stop_cp
finish
