#!/usr/bin/env bash
# The README walkthrough, end to end: a collection with two endpoints, a
# client, a policy, a profile and a token made with apictl survive a restart
# of the control plane; references, cascades, revisions and auth behave.
source tests/integration/lib.sh

start_cp

check "collection create" apictl collection create "Sales API" --version v1 --description "Orders and invoices" >/dev/null
eq "collection path defaults to slug-version" "sales-api-v1" "$(apictl -o json collection get "Sales API" | json 'j["path"]')"
check "endpoint create (upstream)" apictl endpoint create --collection "Sales API" --method GET --path '/orders/{id}' --upstream 'http://127.0.0.1:9000/orders/{id}' >/dev/null
check "endpoint create (static)" apictl endpoint create --collection "Sales API" --method post --path /health --static-status 200 --static-body '{"ok":true}' --name health >/dev/null
eq "new endpoints start inactive" "False" "$(apictl -o json endpoint get health | json 'j["active"]')"
eq "method normalised" "POST" "$(apictl -o json endpoint get health | json 'j["method"]')"
check "endpoint activate" apictl endpoint update health --collection "Sales API" --active true >/dev/null
eq "endpoint active after update" "True" "$(apictl -o json endpoint get health | json 'j["active"]')"
check "client create" apictl client create acme --description "ACME Corp" >/dev/null
check "policy create" apictl policy create standard --rate 100/minute --quota 10000/month >/dev/null
eq "policy rate period" "RATE_PERIOD_MINUTE" "$(apictl -o json policy get standard | json 'j["rate_limit"]["period"]')"
check "profile create" apictl profile create default --client acme --collections "Sales API" --policy standard --ip-allow 127.0.0.1,::1,10.0.0.0/8 >/dev/null
col_id=$(apictl -o json collection get "Sales API" | json 'j["id"]')
eq "profile references collection by id" "[\"$col_id\"]" "$(apictl -o json profile get default | json 'j["collection_ids"]')"

issue_json=$(apictl -o json token issue --profile default --client acme --name ci)
secret=$(json 'j["secret"]' <<<"$issue_json")
tok_id=$(json 'j["token"]["id"]' <<<"$issue_json")
case "$secret" in apt_*) ok "token secret has the apt_ prefix" ;; *) not_ok "token secret: $secret" ;; esac
eq "token length" 53 "${#secret}"
hash=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
eq "stored hash is SHA-256 of the secret" "$hash" "$(json 'j["token"]["sha256"]' <<<"$issue_json")"
if apictl -o json token get "$tok_id" | grep -qF "$secret"; then not_ok "token get must not show the secret"; else ok "token get hides the secret"; fi
if grep -qF "$secret" "$CP_LOG"; then not_ok "secret in the control plane log"; else ok "secret never logged"; fi

rev=$(apictl revision)
dump() {
    for noun in collection endpoint client policy profile token; do apictl -o json "$noun" list; done
    apictl -o json settings get
}
before=$(dump)

stop_cp
start_cp
eq "revision survives restart" "$rev" "$(apictl revision)"
eq "every resource survives restart" "$before" "$(dump)"
eq "two endpoints after restart" 2 "$(apictl -o json endpoint list --collection "Sales API" | json 'len(j)')"

# optimistic concurrency
crev=$(apictl -o json collection get "Sales API" | json 'j["revision"]')
expect_error "stale expected revision" FAILED_PRECONDITION "expected_revision" apictl collection update "Sales API" --description x --expected-revision $((crev + 100))
check "matching expected revision" apictl collection update "Sales API" --description y --expected-revision "$crev" >/dev/null
eq "revision grows by one per write" $((rev + 1)) "$(apictl revision)"

# names are unique per kind, and per parent for children
expect_error "duplicate collection name" ALREADY_EXISTS "collection.name" apictl collection create "Sales API" --version v2
expect_error "duplicate route" ALREADY_EXISTS "endpoint.path" apictl endpoint create --collection "Sales API" --method GET --path '/orders/{order}' --upstream http://127.0.0.1:9000/x
expect_error "unknown collection" NOT_FOUND "endpoint.collection_id" apictl endpoint create --collection nope --method GET --path /x --upstream http://127.0.0.1:9000/x
expect_error "unknown policy" NOT_FOUND "profile.policy_id" apictl profile create p2 --client acme --policy nope
expect_error "get unknown" NOT_FOUND "not found" apictl collection get nope

# referential integrity
expect_error "collection in use" FAILED_PRECONDITION "profile" apictl collection delete "Sales API"
expect_error "policy in use" FAILED_PRECONDITION "profile" apictl policy delete standard
check "policy delete --cascade" apictl policy delete standard --cascade >/dev/null
eq "cascade cleared the profile's policy" "" "$(apictl -o json profile get default | json 'j["policy_id"]')"

# tokens: refresh with grace, revoke
ref_json=$(apictl -o json token refresh "$tok_id" --grace 1h)
new_id=$(json 'j["token"]["id"]' <<<"$ref_json")
eq "old token replaced_by the new one" "$new_id" "$(apictl -o json token get "$tok_id" | json 'j["replaced_by"]')"
check "revoke" apictl token revoke "$new_id" >/dev/null
[ "$(apictl -o json token get "$new_id" | json 'j["revoke_time"] > 0')" == True ] && ok "revoked token has revoke_time" || not_ok "revoke_time"

# settings
check "settings set" apictl settings set --api-prefix gw --custom-domains API.Example.com,b.example.org >/dev/null
eq "custom domains lowercased" '["api.example.com", "b.example.org"]' "$(apictl -o json settings get | json 'j["custom_domains"]')"
expect_error "reserved prefix" INVALID_ARGUMENT "settings.api_prefix" apictl settings set --api-prefix oauth2

# deleting a client takes its profiles and tokens
check "client delete" apictl client delete acme >/dev/null
eq "no profiles left" 0 "$(apictl -o json profile list | json 'len(j)')"
eq "no tokens left" 0 "$(apictl -o json token list | json 'len(j)')"
check "collection delete (no more references)" apictl collection delete "Sales API" >/dev/null
eq "endpoints went with the collection" 0 "$(apictl -o json endpoint list | json 'len(j)')"

# admin auth
expect_error "no admin token" UNAUTHENTICATED "admin token" env -u APICTL_TOKEN "$APICTL_BIN" collection list
expect_error "wrong admin token" UNAUTHENTICATED "not accepted" apictl --token apa_wrongwrongwrongwrong collection list
if grep -qF "$APICTL_TOKEN" "$CP_LOG"; then not_ok "admin token in the log"; else ok "admin token never logged"; fi
[ "$(stat -c %a "$DATA/admin.token")" == 600 ] && ok "admin.token is 0600" || not_ok "admin.token mode"

stop_cp
finish
