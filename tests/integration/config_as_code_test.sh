#!/usr/bin/env bash
# Configuration as code with the real control plane and apictl: apply is one
# revision and idempotent, export round-trips (same control plane: no-op;
# empty one: the same configuration), diff exit codes, a bundle with one bad
# item changes nothing, prune stays within its selector, stale expected
# revisions fail, OpenAPI output validates against the OpenAPI 3.0 schema and
# imports back, the audit log says who changed what; and a 1,000-endpoint,
# 500-client bundle applies in one transaction (time printed).
source tests/integration/lib.sh
SCHEMA="$PWD/tests/openapi/openapi-3.0-schema.json"

cat >"$WORK/shop.yaml" <<'YAML'
settings:
  api_prefix: api
  custom_domains: [api.example.com]
policies:
  - name: standard
    labels: {team: payments}
    rate_limit: {count: 100, period: minute}
    quota: {count: 10000, period: month}
collections:
  - name: Sales API
    version: v1
    description: Orders and invoices
    labels: {team: payments}
    endpoints:
      - method: GET
        path: /orders/{id}
        upstream: http://127.0.0.1:9000/orders/{id}
        active: true
        labels: {team: payments}
      - method: GET
        path: /health
        static: {status: 200, content_type: application/json, body: '{"ok":true}'}
        active: true
        labels: {team: payments}
clients:
  - name: acme
    labels: {team: payments}
    profiles:
      - name: default
        collections: [Sales API]
        policy: standard
        ip_allow: [10.0.0.0/8]
        labels: {team: payments}
YAML

start_cp
check "apply" apictl apply -f "$WORK/shop.yaml" >"$WORK/apply1.out"
eq "one apply, one revision" 1 "$(apictl revision)"
eq "two endpoints" 2 "$(apictl -o json endpoint list --collection "Sales API" | json 'len(j)')"
eq "profile references the collection" \
    "[\"$(apictl -o json collection get "Sales API" | json 'j["id"]')\"]" \
    "$(apictl -o json profile get default | json 'j["collection_ids"]')"

out=$(apictl apply -f "$WORK/shop.yaml")
eq "second apply changes nothing" 1 "$(apictl revision)"
grep -qi "no changes" <<<"$out" && ok "second apply says so" || not_ok "second apply says so: $out"

rc=0; apictl diff -f "$WORK/shop.yaml" >/dev/null || rc=$?
eq "diff: exit 0 when nothing to do" 0 "$rc"
sed 's/Orders and invoices/Orders, invoices and refunds/' "$WORK/shop.yaml" >"$WORK/shop2.yaml"
rc=0; apictl diff -f "$WORK/shop2.yaml" >"$WORK/diff.out" || rc=$?
eq "diff: exit 2 when there are changes" 2 "$rc"
grep -q "description" "$WORK/diff.out" && ok "diff names the field" || not_ok "diff names the field: $(cat "$WORK/diff.out")"
eq "diff wrote nothing" 1 "$(apictl revision)"
printf 'collections:\n  - name: x\n    versoin: v1\n' >"$WORK/typo.yaml"
rc=0; err=$(apictl diff -f "$WORK/typo.yaml" 2>&1) || rc=$?
eq "diff: exit 1 on error" 1 "$rc"
grep -q "typo.yaml:3" <<<"$err" && ok "schema error names file and line" || not_ok "schema error names file and line: $err"

# field order and explicit defaults cause no spurious change
cat >"$WORK/reordered.json" <<'JSON'
{"clients": [{"profiles": [{"labels": {"team": "payments"}, "enabled": true, "ip_allow": ["10.0.0.0/8"],
   "policy": "standard", "collections": ["Sales API"], "name": "default"}],
   "enabled": true, "labels": {"team": "payments"}, "name": "acme"}],
 "policies": [{"quota": {"period": "month", "count": 10000}, "rate_limit": {"period": "minute", "count": 100},
   "labels": {"team": "payments"}, "name": "standard"}]}
JSON
apictl apply -f "$WORK/reordered.json" >/dev/null
eq "reordered JSON with explicit defaults: no new revision" 1 "$(apictl revision)"

# export | apply is a no-op; export applied to an empty control plane reproduces it
apictl export -o yaml >"$WORK/export.yaml"
apictl apply -f "$WORK/export.yaml" >/dev/null
eq "export | apply: no new revision" 1 "$(apictl revision)"
apictl -o json export >"$WORK/export1.json"
stop_cp
first_data=$DATA
DATA="$WORK/data2"
start_cp
apictl apply -f "$WORK/export.yaml" >/dev/null
apictl -o json export >"$WORK/export2.json"
eq "empty control plane reproduces the configuration" "$(cat "$WORK/export1.json")" "$(cat "$WORK/export2.json")"

# a bundle with one invalid item changes nothing at all
sed 's/version: v1/version: version-way-too-long/' "$WORK/shop2.yaml" >"$WORK/bad.yaml"
rev=$(apictl revision)
expect_error "one bad item" INVALID_ARGUMENT "collection.version" apictl apply -f "$WORK/bad.yaml"
eq "nothing written" "$rev" "$(apictl revision)"
eq "description unchanged" "Orders and invoices" "$(apictl -o json collection get "Sales API" | json 'j["description"]')"

# stale expected revision
expect_error "stale expected revision" FAILED_PRECONDITION "expected_revision" apictl apply -f "$WORK/shop2.yaml" --expected-revision $((rev + 5))
check "current expected revision" apictl apply -f "$WORK/shop2.yaml" --expected-revision "$rev" >/dev/null

# prune removes only what the selector owns
apictl client create outsider >/dev/null
cat >"$WORK/payments-min.yaml" <<'YAML'
policies:
  - name: standard
    labels: {team: payments}
    rate_limit: {count: 100, period: minute}
YAML
apictl apply -f "$WORK/payments-min.yaml" --prune --selector team=payments >"$WORK/prune.out"
eq "owned collection pruned" 0 "$(apictl -o json collection list | json 'len(j)')"
eq "owned client pruned, outsider kept" '["outsider"]' "$(apictl -o json client list | json '[c["name"] for c in j]')"
eq "policy updated (quota gone)" "None" "$(apictl -o json policy get standard | json 'j.get("quota")')"

# OpenAPI: valid against the OpenAPI 3.0 schema, and imports back
apictl apply -f "$WORK/shop.yaml" >/dev/null
apictl collection openapi "Sales API" >"$WORK/oas.json"
if "$PY" -c "
import json, sys, jsonschema
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
jsonschema.Draft4Validator(schema).validate(doc)
assert doc['components']['securitySchemes']['ApiToken']['name'] == 'API-Token', 'security scheme'
assert '/orders/{id}' in doc['paths'] and 'get' in doc['paths']['/orders/{id}'], 'paths'
" "$SCHEMA" "$WORK/oas.json"; then ok "OpenAPI document validates"; else not_ok "OpenAPI document validates"; fi
check "import-openapi" apictl collection import-openapi "$WORK/oas.json" --upstream http://127.0.0.1:9100 --name "Sales Copy" --version v2
eq "imported the same operations" \
    "$(apictl -o json endpoint list --collection "Sales API" | json 'sorted((e["method"], e["path"]) for e in j)')" \
    "$(apictl -o json endpoint list --collection "Sales Copy" | json 'sorted((e["method"], e["path"]) for e in j)')"
eq "imported upstream" "http://127.0.0.1:9100/orders/{id}" \
    "$(apictl -o json endpoint list --collection "Sales Copy" | json '[e["target"]["url"] for e in j if e["path"] == "/orders/{id}"][0]')"

# the audit log: who, when, what, which revision
apictl -o json audit >"$WORK/audit.json"
eq "audit has every revision" "$(apictl revision)" "$(json 'len(j)' <"$WORK/audit.json")"
json 'all(c["actor"].startswith("admin:") and c["time"] > 0 for c in j)' <"$WORK/audit.json" | grep -q True && ok "audit says who and when" || not_ok "audit says who and when"
apictl audit | grep -q "collection" && ok "audit table" || not_ok "audit table"

# scale: 1,000 endpoints and 500 clients in one transaction
"$PY" - "$WORK/big.json" <<'PYEOF'
import json, sys
cols = [{"name": f"api-{c}", "version": "v1",
         "endpoints": [{"method": "GET", "path": f"/things/{e}/{{id}}", "upstream": f"http://127.0.0.1:9000/t/{e}/{{id}}"}
                       for e in range(100)]} for c in range(10)]
clients = [{"name": f"client-{i}", "profiles": [{"name": "default", "collections": ["api-1"]}]} for i in range(500)]
json.dump({"collections": cols, "clients": clients}, open(sys.argv[1], "w"))
PYEOF
rev=$(apictl revision)
t0=$(date +%s.%N)
check "big bundle applies" apictl --timeout 60000 apply -f "$WORK/big.json" >/dev/null
t1=$(date +%s.%N)
eq "big bundle: one revision" $((rev + 1)) "$(apictl revision)"
echo "# apictl apply of 10 collections, 1000 endpoints, 500 clients, 500 profiles: $("$PY" -c "print(round($t1-$t0,3))") s"
stop_cp
finish
