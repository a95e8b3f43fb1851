#!/usr/bin/env bash
# IP allow lists over IPv4 and IPv6 loopback, and X-Forwarded-For believed
# only from configured proxy ranges (the rightmost untrusted address is the
# caller).
source tests/integration/lib.sh

start_cp
apictl collection create shop --version v1 >/dev/null
apictl endpoint create --collection shop --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl client create acme >/dev/null
apictl profile create v4 --client acme --collections shop --ip-allow 127.0.0.1/32 >/dev/null
apictl profile create v6 --client acme --collections shop --ip-allow ::1 >/dev/null
apictl profile create office --client acme --collections shop --ip-allow 203.0.113.0/24,2001:db8::/32 >/dev/null
T4=$(apictl -o json token issue --profile v4 | json 'j["secret"]')
T6=$(apictl -o json token issue --profile v6 | json 'j["secret"]')
TO=$(apictl -o json token issue --profile office | json 'j["secret"]')
rev=$(apictl revision)

start_dp plain --listen '[::1]:0'
p4=$(sed -n 's/.*event=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/dp-plain.log" | head -n1)
p6=$(sed -n 's/.*event=listening addr=\[::1\]:\([0-9]*\).*/\1/p' "$WORK/dp-plain.log" | head -n1)
wait_revision plain "$rev"
c4() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" -H "API-Token: $1" "http://127.0.0.1:$p4/api/shop-v1/x"; }
c6() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" -H "API-Token: $1" "http://[::1]:$p6/api/shop-v1/x"; }
eq "v4 allow, v4 caller" 200 "$(c4 "$T4")"
eq "v4 allow, v6 caller" 403 "$(c6 "$T4")"
eq "v6 allow, v6 caller" 200 "$(c6 "$T6")"
eq "v6 allow, v4 caller" 403 "$(c4 "$T6")"
eq "untrusted peer: X-Forwarded-For ignored" 403 "$(c4 "$TO" -H 'X-Forwarded-For: 203.0.113.7')"
body=$(curl -s -H "API-Token: $T6" "http://127.0.0.1:$p4/api/shop-v1/x")
eq "ip_denied code" ip_denied "$(json 'j["code"]' <<<"$body")"

start_dp proxied --trusted-proxies 127.0.0.0/8,::1
wait_revision proxied "$rev"
pp=${DP_PORT[proxied]}
cp_() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" -H "API-Token: $1" "http://127.0.0.1:$pp/api/shop-v1/x"; }
eq "trusted peer, XFF caller in range" 200 "$(cp_ "$TO" -H 'X-Forwarded-For: 203.0.113.7')"
eq "trusted peer, XFF v6 caller in range" 200 "$(cp_ "$TO" -H 'X-Forwarded-For: 2001:db8::5')"
eq "trusted peer, no XFF: the peer is the caller" 403 "$(cp_ "$TO")"
eq "rightmost untrusted address decides" 403 "$(cp_ "$TO" -H 'X-Forwarded-For: 203.0.113.7, 198.51.100.1')"
eq "trusted hops are skipped" 200 "$(cp_ "$TO" -H 'X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.9')"
eq "across several headers" 200 "$(cp_ "$TO" -H 'X-Forwarded-For: 198.51.100.1' -H 'X-Forwarded-For: 203.0.113.7')"
eq "garbage is not an address" 403 "$(cp_ "$TO" -H 'X-Forwarded-For: not-an-ip')"
expect_error "bad --trusted-proxies" "trusted-proxies" "" "$DP_BIN" --trusted-proxies 10.0.0.0/99

stop_dp plain
stop_dp proxied
stop_cp
finish
