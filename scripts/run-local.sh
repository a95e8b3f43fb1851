#!/usr/bin/env bash
# Builds the platform and runs it locally: the control plane on
# 127.0.0.1:7400 with its data under .run/, loaded with a demo configuration
# on first start. Ctrl-C stops it (state is kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/.run
ADDR=${APIP_LISTEN:-127.0.0.1:7400}
./scripts/install-deps.sh
bazel build //controlplane:apiplatform-cp //ctl:apictl
mkdir -p "$RUN/bin"
install -m 0755 bazel-bin/controlplane/apiplatform-cp bazel-bin/ctl/apictl "$RUN/bin/"
bazel shutdown

"$RUN/bin/apiplatform-cp" --listen "$ADDR" --data-dir "$RUN/data" 2>>"$RUN/cp.log" &
CP=$!
trap 'kill -TERM $CP 2>/dev/null; wait $CP 2>/dev/null; echo; echo "stopped; data kept in $RUN/data"' EXIT
for _ in $(seq 1 100); do
    grep -q "event=listening" "$RUN/cp.log" 2>/dev/null && [ -f "$RUN/data/admin.token" ] && break
    kill -0 $CP 2>/dev/null || { tail -n 20 "$RUN/cp.log"; exit 1; }
    sleep 0.1
done
export APICTL_SERVER=$ADDR APICTL_TOKEN_FILE=$RUN/data/admin.token
apictl() { "$RUN/bin/apictl" "$@"; }

if [ "$(apictl revision)" == 0 ]; then
    echo "loading the demo configuration..."
    apictl collection create "Sales API" --version v1 --description "Orders of the demo shop" >/dev/null
    apictl endpoint create --collection "Sales API" --method GET --path '/orders/{id}' \
        --upstream 'http://127.0.0.1:9000/orders/{id}' --active true >/dev/null
    apictl endpoint create --collection "Sales API" --method GET --path /health \
        --static-status 200 --static-body '{"status":"ok"}' --active true >/dev/null
    apictl client create acme --description "Demo client" >/dev/null
    apictl policy create standard --rate 100/minute --quota 10000/month >/dev/null
    apictl profile create default --client acme --collections "Sales API" --policy standard >/dev/null
    apictl token issue --profile default --client acme --name demo 2>/dev/null \
        | sed -n 's/^secret: */  demo API token (shown once): /p'
fi

cat <<MSG

API platform control plane is running at $ADDR (log: $RUN/cp.log).
In another shell:

  export PATH=$RUN/bin:\$PATH APICTL_SERVER=$ADDR APICTL_TOKEN_FILE=$RUN/data/admin.token
  apictl collection list
  apictl endpoint list --collection "Sales API"
  apictl profile get default --client acme
  apictl token issue --profile default --client acme --name laptop
  apictl -o json policy list

Ctrl-C stops it; the configuration is kept in $RUN/data.
MSG
wait $CP
