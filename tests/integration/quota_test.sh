#!/usr/bin/env bash
# Exact cluster-wide quotas: three data planes behind one control plane,
# load spread round-robin over all three; a quota of Q admits exactly Q
# (Q = 1,000 and 10,000), then 429 quota_exceeded with Retry-After until the
# period rolls over; the draft-11 headers count down what is admitted; an
# idle node gives its lease back; a node killed mid-test has its unused lease
# returned after the lease ttl and the others use it; with the control plane
# gone a node admits only what it holds, then 503 quota_unavailable.
source tests/integration/lib.sh

start_cp --quota-lease-ttl-ms 2000
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl client create acme >/dev/null
mk() { # NAME QUOTA: a policy, a profile and a token; prints the token
    apictl policy create "$1" --quota "$2" >/dev/null
    apictl profile create "$1" --client acme --collections shop --policy "$1" >/dev/null
    apictl -o json token issue --profile "$1" | json 'j["secret"]'
}
T_SMALL=$(mk small 5/day)
T_1K=$(mk q1k 1000/day)
T_10K=$(mk q10k 10000/month)
T_KILL=$(mk qkill 2000/week)
T_AWAY=$(mk qaway 100000/day)
T_IDLE=$(mk qidle 300/day)
T_PARK=$(mk qpark 100/day)
apictl profile create free --client acme --collections shop >/dev/null
T_FREE=$(apictl -o json token issue --profile free | json 'j["secret"]')
for n in a b c; do start_dp $n --quota-idle-ms 3000; done
rev=$(apictl revision)
for n in a b c; do wait_revision $n "$rev"; done
for _ in $(seq 1 100); do
    [ "$(apictl -o json nodes | json 'len([n for n in j if n["connected"]])')" == 3 ] && break
    sleep 0.05
done
url() { echo "http://127.0.0.1:${DP_PORT[$1]}/api/shop-v1/x"; }
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip"; }
# quota PROFILE: its QuotaStatus (JSON); leases PROFILE NODE: that node's
# leases of it (a JSON list)
quota() { apictl -o json quota list | json "[x for x in j if x['profile_name'] == '$1'][0]"; }
leases() { quota "$1" | json "[l for l in j['leases'] if l['node_id'] == '$2']"; }

# headers on one node: r counts down with every request admitted
for i in 1 2 3 4 5; do
    st=$(curl -s -D "$WORK/h" -o /dev/null -w '%{http_code}' -H "API-Token: $T_SMALL" "$(url a)")
    eq "small quota: request $i admitted" 200 "$st"
    eq "small quota: RateLimit after $i" "\"day\";r=$((5 - i));t=" "$(hdr "$WORK/h" ratelimit | sed 's/t=[0-9]*$/t=/')"
done
eq "RateLimit-Policy of a daily quota" '"day";q=5;w=86400' "$(hdr "$WORK/h" ratelimit-policy)"
t=$(hdr "$WORK/h" ratelimit | sed -n 's/.*;t=\([0-9]*\)$/\1/p')
left=$(( 86400 - $(date -u +%s) % 86400 ))
[ "$t" -ge $((left - 2)) ] && [ "$t" -le $((left + 2)) ] && ok "t = seconds to midnight UTC ($t)" || not_ok "t=$t, want about $left"
st=$(curl -s -D "$WORK/h" -o "$WORK/body" -w '%{http_code}' -H "API-Token: $T_SMALL" "$(url a)")
eq "6th: 429" 429 "$st"
eq "6th: quota_exceeded" quota_exceeded "$(json 'j["code"]' <"$WORK/body")"
ra=$(hdr "$WORK/h" retry-after)
[ "$ra" -ge $((left - 2)) ] && [ "$ra" -le $((left + 2)) ] && ok "Retry-After = to the next period ($ra s)" || not_ok "Retry-After '$ra', want about $left"
for n in b c; do
    eq "other node $n: also exhausted" 429 "$(code $n /api/shop-v1/x -H "API-Token: $T_SMALL")"
done

# Q = 1,000 and 10,000, six connections round-robin over three nodes
for q in 1k 10k; do
    tok=T_${q^^}; want=$([ $q == 1k ] && echo 1000 || echo 10000)
    "$PY" tests/integration/quota_count.py "${!tok}" /api/shop-v1/x 6 20 $((want * 3)) \
        "${DP_PORT[a]}" "${DP_PORT[b]}" "${DP_PORT[c]}" >"$WORK/q$q.json"
    echo "# Q=$want: $(cat "$WORK/q$q.json")"
    eq "Q=$want admits exactly $want" "$want" "$(json 'j["total"]' <"$WORK/q$q.json")"
    eq "Q=$want: only 200 and 429 quota_exceeded" '["429 quota_exceeded"]' "$(json 'sorted(j["other"])' <"$WORK/q$q.json")"
    eq "Q=$want: every node admitted some" 3 "$(json 'len([v for v in j["admitted"].values() if v > 0])' <"$WORK/q$q.json")"
    for _ in $(seq 1 30); do # the last reports arrive within a second
        used=$(quota "q$q" | json 'j["used"]')
        [ "$used" == "$want" ] && break
        sleep 0.1
    done
    eq "Q=$want: control plane counts $want used" "$want" "$used"
done

# an idle node's lease comes back: c takes a slice, serves 10, goes quiet
for _ in $(seq 1 10); do code c /api/shop-v1/x -H "API-Token: $T_IDLE" >/dev/null; done
sleep 1.2 # c's report
c_held=$(leases qidle c | json 'j[0]["granted"]')
[ "$c_held" -gt 10 ] && ok "c holds a slice of qidle ($c_held)" || not_ok "c holds '$c_held'"
for _ in $(seq 1 60); do
    [ "$(leases qidle c | json 'len(j)')" == 0 ] && break
    sleep 0.1
done
eq "idle for 3 s: c gave its lease back" "0" "$(leases qidle c | json 'len(j)')"
"$PY" tests/integration/quota_count.py "$T_IDLE" /api/shop-v1/x 4 20 3000 "${DP_PORT[a]}" "${DP_PORT[b]}" >"$WORK/idle.json"
eq "a and b use what c gave back: 10 + $(json 'j["total"]' <"$WORK/idle.json") = 300" 290 "$(json 'j["total"]' <"$WORK/idle.json")"

# a node killed with a lease out: its unused part comes back after the ttl
"$PY" tests/integration/quota_count.py "$T_KILL" /api/shop-v1/x 3 20 300 \
    "${DP_PORT[a]}" "${DP_PORT[b]}" "${DP_PORT[c]}" >"$WORK/k1.json"
c_used=$(json 'j["admitted"]["'"${DP_PORT[c]}"'"]' <"$WORK/k1.json")
c_granted=$(leases qkill c | json 'j[0]["granted"]')
kill -9 "${PIDS[c]}"; wait "${PIDS[c]}" 2>/dev/null || true; unset "PIDS[c]"
"$PY" tests/integration/quota_count.py "$T_KILL" /api/shop-v1/x 4 20 10000 \
    "${DP_PORT[a]}" "${DP_PORT[b]}" >"$WORK/k2.json"
early=$(( $(json 'j["total"]' <"$WORK/k1.json") + $(json 'j["total"]' <"$WORK/k2.json") ))
[ "$early" -lt 2000 ] && ok "while c's lease is out the others stop short ($early of 2000; c holds $c_granted, used $c_used)" || not_ok "admitted $early with c's lease out"
leases qkill c | json 'j[0]' >"$WORK/k-lease"
eq "c's lease shows its node gone" False "$(json 'j.get("connected", False)' <"$WORK/k-lease")"
sleep 2.5
eq "after the ttl c holds no lease" "[]" "$(leases qkill c)"
grep -q 'event=quota_lease_reclaimed node=c' "$CP_LOG" && ok "control plane logs the reclaim" || not_ok "no reclaim logged"
"$PY" tests/integration/quota_count.py "$T_KILL" /api/shop-v1/x 4 20 10000 \
    "${DP_PORT[a]}" "${DP_PORT[b]}" >"$WORK/k3.json"
late=$(json 'j["total"]' <"$WORK/k3.json")
total=$((early + late))
echo "# kill: before $(cat "$WORK/k1.json")"
echo "# kill: c killed holding $c_granted (used $c_used); a+b then admitted $((early - $(json 'j["total"]' <"$WORK/k1.json"))), after the reclaim $late more; total $total of 2000"
[ "$late" -gt 0 ] && ok "the returned lease is used by the others ($late)" || not_ok "nothing came back"
written_off=$(sed -n 's/.*event=quota_lease_reclaimed node=c .*written_off=\([0-9]*\).*/\1/p' "$CP_LOG" | head -1)
[ "$total" -le 2000 ] && [ "$total" -ge $((2000 - written_off)) ] && ok "never more than Q; short by at most the written-off run-ahead ($total, written off $written_off)" || not_ok "total $total, written off $written_off"

# a request waiting for its first lease does not hold up the node: with the
# control plane stopped (SIGSTOP: the stream stays up, no answer comes), a
# request of a quota profile waits on a one-thread node while others pass
start_dp w --threads 1 --quota-wait-ms 4000
wait_revision w "$(apictl revision)"
kill -STOP "$CP_PID"
t0=$(date +%s%N)
curl -s -o "$WORK/park.body" -w '%{http_code}' -H "API-Token: $T_PARK" "$(url w)" >"$WORK/park.code" &
park_pid=$!
sleep 0.3
st=$(code w /api/shop-v1/x -H "API-Token: $T_FREE")
t1=$(date +%s%N)
eq "while a quota request waits, another request on the same thread passes" 200 "$st"
[ -z "$(cat "$WORK/park.code")" ] && ok "the quota request is still waiting ($(( (t1 - t0) / 1000000 )) ms)" || not_ok "the quota request was answered without the control plane: $(cat "$WORK/park.code")"
kill -CONT "$CP_PID"
wait $park_pid
t2=$(date +%s%N)
eq "control plane answers: the waiting request is admitted" 200 "$(cat "$WORK/park.code")"
echo "# parked request answered $(( (t2 - t0) / 1000000 )) ms after it came (control plane stopped for ~$(( (t1 - t0) / 1000000 )) ms)"
stop_dp w

# control plane away: a node admits from what it holds, never more, then 503
eq "away: first request" 200 "$(code a /api/shop-v1/x -H "API-Token: $T_AWAY")"
sleep 1.2 # a report: the control plane has acknowledged that use
held=$(leases qaway a | json 'j[0]["granted"] - j[0]["used"]')
cp_port=${APICTL_SERVER##*:}
kill9_cp
SECONDS=1.5 "$PY" tests/integration/quota_count.py "$T_AWAY" /api/shop-v1/x 2 1000000 10000000 "${DP_PORT[a]}" >"$WORK/away.json"
away=$(json 'j["total"]' <"$WORK/away.json")
"$PY" tests/integration/quota_count.py "$T_AWAY" /api/shop-v1/x 1 1 20 "${DP_PORT[a]}" >"$WORK/away2.json"
echo "# control plane away (lease ttl 2 s): node a held $held; in the next 1.5 s it admitted $away, then $(json 'j["other"]' <"$WORK/away2.json")"
[ "$away" -gt 0 ] && [ "$away" -le "$held" ] && ok "away: keeps admitting from its lease, within what it held ($away <= $held)" || not_ok "away: admitted $away, held $held"
eq "after ttl/2 without the control plane: 503 quota_unavailable" '{"503 quota_unavailable": 20}' "$(json 'j["other"]' <"$WORK/away2.json")"
st=$(curl -s -D "$WORK/h" -o /dev/null -w '%{http_code}' -H "API-Token: $T_AWAY" "$(url a)")
eq "503 quota_unavailable says Retry-After: 1" 1 "$(hdr "$WORK/h" retry-after)"
eq "away: profiles without a quota still pass" 200 "$(code a /api/shop-v1/x -H "API-Token: $T_FREE")"
# back: same port, same data; the node reconnects (backoff up to 5 s) and
# gets a fresh slice (if it took longer than the ttl, its old lease was
# reclaimed meanwhile, its run-ahead written off)
CP_LISTEN=127.0.0.1:$cp_port start_cp --quota-lease-ttl-ms 2000
for _ in $(seq 1 200); do
    [ "$(code a /api/shop-v1/x -H "API-Token: $T_AWAY")" == 200 ] && break
    sleep 0.05
done
st=$(code a /api/shop-v1/x -H "API-Token: $T_AWAY")
eq "control plane back: admitted again" 200 "$st"
[ "$st" == 200 ] || { tail -20 "$WORK/dp-a.log"; grep -v admin_call "$CP_LOG" | tail -30; }
for _ in $(seq 1 30); do
    used=$(quota qaway | json 'j["used"]')
    [ "$used" -ge $((away + 3)) ] && break
    sleep 0.1
done
[ "$used" -ge $((away + 3)) ] && ok "the control plane counts at least what was admitted while it was away ($used >= $((away + 3)))" || not_ok "used $used after restart, admitted $((away + 3))"
for n in a b; do stop_dp $n; done
eq "stopped nodes give their leases back" 0 "$(apictl -o json quota list | json "sum(len(x['leases']) for x in j)")"
stop_cp
finish
