#!/usr/bin/env bash
# Builds the platform and runs it locally: the control plane on
# 127.0.0.1:7400, two data planes (HTTP on 8080 and 8081, admin on 9901 and
# 9902) and a demo upstream on 9000, with state under .run/. On first start
# it loads a demo configuration; every start issues a fresh demo token (shown
# once, never stored). Ctrl-C stops everything; the configuration is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
./scripts/install-deps.sh
bazel build //controlplane:apiplatform-cp //dataplane:apiplatform-dp //demo:demo-upstream //ctl:apictl
mkdir -p "$RUN/bin"
install -m 0755 bazel-bin/controlplane/apiplatform-cp bazel-bin/dataplane/apiplatform-dp \
    bazel-bin/demo/demo-upstream bazel-bin/ctl/apictl "$RUN/bin/"
bazel shutdown

pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait 2>/dev/null; echo; echo "stopped; configuration kept in $RUN/data"' EXIT
wait_log() { # FILE EVENT PID
    for _ in $(seq 1 100); do
        grep -q "event=$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { tail -n 20 "$1"; exit 1; }
        sleep 0.1
    done
    tail -n 20 "$1"; exit 1
}

"$RUN/bin/apiplatform-cp" --listen 127.0.0.1:7400 --data-dir "$RUN/data" 2>"$RUN/cp.log" &
pids+=($!); wait_log "$RUN/cp.log" listening $!
"$RUN/bin/demo-upstream" --listen 127.0.0.1:9000 2>"$RUN/upstream.log" &
pids+=($!); wait_log "$RUN/upstream.log" listening $!
export APICTL_SERVER=127.0.0.1:7400 APICTL_TOKEN_FILE=$RUN/data/admin.token
apictl() { "$RUN/bin/apictl" "$@"; }

if [ "$(apictl revision)" == 0 ]; then
    echo "loading the demo configuration..."
    apictl collection create "Sales API" --version v1 --description "Orders of the demo shop" >/dev/null
    apictl endpoint create --collection "Sales API" --method GET --path '/orders/{id}' \
        --upstream 'http://127.0.0.1:9000/orders/{id}' --active true >/dev/null
    apictl endpoint create --collection "Sales API" --method GET --path /health \
        --static-status 200 --static-body '{"status":"ok"}' --active true >/dev/null
    apictl collection create "Internal API" --version v1 >/dev/null
    apictl endpoint create --collection "Internal API" --method GET --path /secrets \
        --static-status 200 --static-body '{"internal":true}' --active true >/dev/null
    apictl client create acme --description "Demo client" >/dev/null
    apictl policy create standard --rate 100/minute --quota 10000/month >/dev/null
    apictl profile create default --client acme --collections "Sales API" --policy standard >/dev/null
fi
issued=$(apictl -o json token issue --profile default --client acme --name "demo $(date -u +%FT%TZ)")
TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' <<<"$issued")
TOKEN_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"]["id"])' <<<"$issued")

for n in 1 2; do
    "$RUN/bin/apiplatform-dp" --listen 127.0.0.1:808$((n - 1)) --admin-listen 127.0.0.1:990$n \
        --cp 127.0.0.1:7400 --node-id "local-$n" --node-token-file "$RUN/data/node.token" \
        --cache "$RUN/dp$n.cache" --access-log "$RUN/dp$n.access.log" 2>"$RUN/dp$n.log" &
    pids+=($!); wait_log "$RUN/dp$n.log" listening $!
done
for n in 1 2; do
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:990$n/readyz" && break
        sleep 0.1
    done
done

cat <<MSG

The API platform is running (logs in $RUN/):
  control plane  127.0.0.1:7400   (Admin gRPC; apictl talks to it)
  data planes    http://127.0.0.1:8080  http://127.0.0.1:8081   (admin: :9901, :9902)
  demo upstream  http://127.0.0.1:9000

A fresh demo API token (shown once): $TOKEN

Try, in another shell:
  # 200, proxied to the demo upstream (either node):
  curl -i -H 'API-Token: $TOKEN' http://127.0.0.1:8080/api/sales-api-v1/orders/42
  curl -i -u 'api-token:$TOKEN' http://127.0.0.1:8081/api/sales-api-v1/health
  # 401, no token:
  curl -i http://127.0.0.1:8080/api/sales-api-v1/orders/42
  # 403, the profile does not include "Internal API":
  curl -i -H 'API-Token: $TOKEN' http://127.0.0.1:8080/api/internal-api-v1/secrets

  export PATH=$RUN/bin:\$PATH APICTL_SERVER=127.0.0.1:7400 APICTL_TOKEN_FILE=$RUN/data/admin.token
  apictl nodes                      # both data planes, the revision they hold
  apictl quota list                 # the demo policy's 10000/month: used, leased to each node
  apictl usage --since 15m          # calls by outcome, top clients and endpoints
  apictl token revoke $TOKEN_ID     # then the first curl answers 401 on both nodes
  apictl collection list

  The demo profile's policy allows 100 calls/minute and 10000/month: every
  answer carries RateLimit-Policy and RateLimit headers for both; the 101st
  call within a minute gets 429 rate_limited.

Ctrl-C stops everything; the configuration is kept in $RUN/data.
MSG
wait
