# Shared set-up of the benchmarks (sourced from the repository root): builds
# -c opt, copies the binaries out of Bazel's tree and ends the Bazel server,
# starts a control plane and the demo upstream, and loads the benchmark's
# configuration: collection "bench" with an upstream endpoint /orders/{id}
# and a static one /static; profiles with no policy, a rate limit, and a
# rate limit + quota that are never reached. Sets BIN, W, A (apictl), UP,
# UP_PID, TOKEN, LTOKEN, QTOKEN, APICTL_SERVER; defines port_of.
./scripts/install-deps.sh
bazel build -c opt //controlplane:apiplatform-cp //dataplane:apiplatform-dp //demo:demo-upstream //ctl:apictl >&2
BIN=$(mktemp -d)
cp bazel-bin/controlplane/apiplatform-cp bazel-bin/dataplane/apiplatform-dp bazel-bin/demo/demo-upstream bazel-bin/ctl/apictl "$BIN/"
bazel shutdown >&2
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$W" "$BIN"' EXIT
# port_of LOG EVENT: the port a process logged for EVENT
port_of() { for _ in $(seq 1 600); do p=$(sed -n "s/.*event=$2 addr=[^ ]*:\([0-9]*\).*/\1/p" "$1" | tail -n1); [ -n "$p" ] && { echo "$p"; return; }; sleep 0.05; done; exit 1; }
secret() { "$A" -o json token issue --profile "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])'; }

# a grant cap this large keeps a busy node from asking for leases all the time
"$BIN/apiplatform-cp" --listen 127.0.0.1:0 --data-dir "$W/data" --fsync false --quota-grant-cap 1000000 2>"$W/cp.log" &
export APICTL_SERVER=127.0.0.1:$(port_of "$W/cp.log" listening) APICTL_TOKEN_FILE=$W/data/admin.token
"$BIN/demo-upstream" --listen 127.0.0.1:0 2>"$W/up.log" &
UP_PID=$!
UP=$(port_of "$W/up.log" listening)
A="$BIN/apictl"
$A collection create bench --version v1 >/dev/null
$A endpoint create --collection bench --method GET --path '/orders/{id}' --upstream "http://127.0.0.1:$UP/orders/{id}" --active true >/dev/null
$A endpoint create --collection bench --method GET --path /static --static-status 200 --static-body '{"ok":true}' --active true >/dev/null
$A client create bench >/dev/null
# the same requests under limits they never reach: the cost of the checks
$A policy create roomy --rate 1000000000/second >/dev/null
$A policy create roomyq --rate 1000000000/second --quota 1000000000000/month >/dev/null
$A profile create bench --client bench --collections bench >/dev/null
$A profile create limited --client bench --collections bench --policy roomy >/dev/null
$A profile create quota --client bench --collections bench --policy roomyq >/dev/null
TOKEN=$(secret bench)
LTOKEN=$(secret limited)
QTOKEN=$(secret quota)
