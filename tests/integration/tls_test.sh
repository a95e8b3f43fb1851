#!/usr/bin/env bash
# TLS and mTLS on every gRPC hop, with certificates made here by openssl:
# apictl -> control plane needs the CA and a client certificate; a data
# plane is admitted by its certificate's name (--node-cert-cn) with no node
# token; a certificate with another name, or none, is refused.
source tests/integration/lib.sh

P="$WORK/pki"
mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" -keyout "$P/ca.key" -out "$P/ca.crt" 2>/dev/null
mkcert() { # NAME CN [SAN]
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$P/$1.key" -out "$P/$1.csr" 2>/dev/null
    if [ -n "${3:-}" ]; then printf 'subjectAltName=%s\n' "$3" >"$P/$1.ext"; else : >"$P/$1.ext"; fi
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
        -extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
}
mkcert server localhost "IP:127.0.0.1,DNS:localhost"
mkcert admin apictl-admin
mkcert node1 dp-1
mkcert rogue someone-else

start_cp --tls-cert "$P/server.crt" --tls-key "$P/server.key" --tls-ca "$P/ca.crt" --node-cert-cn 'dp-*'
TLS=(--ca "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key")
check "apictl over mTLS" apictl "${TLS[@]}" collection create shop --version v1 >/dev/null
apictl "${TLS[@]}" endpoint create --collection shop --method GET --path /x --static-status 200 --static-body x --active true >/dev/null
apictl "${TLS[@]}" client create acme >/dev/null
apictl "${TLS[@]}" profile create main --client acme --collections shop >/dev/null
TOKEN=$(apictl "${TLS[@]}" -o json token issue --profile main | json 'j["secret"]')
expect_error "plaintext refused" UNAVAILABLE "" apictl revision
expect_error "no client certificate refused" UNAVAILABLE "" apictl --ca "$P/ca.crt" revision
check "still needs the admin token over mTLS" bash -c "! env -u APICTL_TOKEN '$APICTL_BIN' --ca '$P/ca.crt' --cert '$P/admin.crt' --key '$P/admin.key' revision 2>/dev/null"

# a node admitted by its certificate's name alone
NO_NODE_TOKEN=1 start_dp one --cp-ca "$P/ca.crt" --cp-cert "$P/node1.crt" --cp-key "$P/node1.key"
rev=$(apictl "${TLS[@]}" revision)
check "node with a dp-* certificate gets the config" wait_revision one "$rev"
eq "and serves it" 200 "$(code one /api/shop-v1/x -H "API-Token: $TOKEN")"

# the data plane's own HTTPS listener (ALPN h2 and http/1.1)
NO_NODE_TOKEN=1 start_dp web --cp-ca "$P/ca.crt" --cp-cert "$P/node1.crt" --cp-key "$P/node1.key" \
    --node-id dp-web --tls-listen 127.0.0.1:0 --tls-cert "$P/server.crt" --tls-key "$P/server.key"
tls_port=$(wait_port "$WORK/dp-web.log" "${PIDS[web]}" tls_listening)
wait_revision web "$rev"
for v in --http1.1 --http2; do
    got=$(curl -s -o /dev/null -w '%{http_code} %{http_version}' $v --cacert "$P/ca.crt" \
        -H "API-Token: $TOKEN" "https://127.0.0.1:$tls_port/api/shop-v1/x")
    want="200 $([ $v == --http2 ] && echo 2 || echo 1.1)"
    eq "HTTPS $v" "$want" "$got"
done
stop_dp web

# a verified certificate with another name is not a node
NO_NODE_TOKEN=1 start_dp rogue --cp-ca "$P/ca.crt" --cp-cert "$P/rogue.crt" --cp-key "$P/rogue.key"
sleep 1.5
eq "other certificate name refused" 503 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${DP_ADMIN[rogue]}/readyz")"
grep -q "event=sync_refused" "$CP_LOG" && ok "refusal logged" || not_ok "refusal logged"

stop_dp one
stop_dp rogue
stop_cp
finish
