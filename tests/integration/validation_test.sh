#!/usr/bin/env bash
# Every validation rule, through the real server: apictl exits 1 and the
# error is INVALID_ARGUMENT naming the field. Nothing is written.
source tests/integration/lib.sh

start_cp
apictl collection create shop --version v1 >/dev/null
apictl client create acme >/dev/null
rev=$(apictl revision)

bad() { expect_error "$1" INVALID_ARGUMENT "$2" apictl "${@:3}"; }

bad "collection name required"     "collection.name"     collection create "" --version v1
bad "collection name whitespace"   "collection.name"     collection create " x" --version v1
bad "version too long"             "collection.version"  collection create c1 --version v12345678901
bad "version empty"                "collection.version"  collection create c1
bad "version characters"           "collection.version"  collection create c1 --version "v 1"
bad "path characters"              "collection.path"     collection create c1 --version v1 --path "Bad Path"
bad "path leading slash"           "collection.path"     collection create c1 --version v1 --path /x
bad "path reserved oauth2/"        "collection.path"     collection create c1 --version v1 --path oauth2/x
bad "path dot segments"            "collection.path"     collection create c1 --version v1 --path a/../b
bad "method"                       "endpoint.method"     endpoint create --collection shop --method FETCH --path /a --upstream http://h/a
bad "path template start"          "endpoint.path"       endpoint create --collection shop --method GET --path a --upstream http://h/a
bad "path template param name"     "endpoint.path"       endpoint create --collection shop --method GET --path '/a/{1x}' --upstream http://h/a
bad "path template duplicate"      "endpoint.path"       endpoint create --collection shop --method GET --path '/a/{x}/{x}' --upstream http://h/a
bad "path template empty segment"  "endpoint.path"       endpoint create --collection shop --method GET --path '/a//b' --upstream http://h/a
bad "path template partial param"  "endpoint.path"       endpoint create --collection shop --method GET --path '/a/x{id}' --upstream http://h/a
bad "target required"              "endpoint.target"     endpoint create --collection shop --method GET --path /a
bad "upstream scheme"              "endpoint.target.url" endpoint create --collection shop --method GET --path /a --upstream ftp://h/a
bad "upstream port"                "endpoint.target.url" endpoint create --collection shop --method GET --path /a --upstream http://h:99999/a
bad "upstream unknown param"       "endpoint.target.url" endpoint create --collection shop --method GET --path /a --upstream 'http://h/a/{id}'
bad "static status"                "endpoint.target.status" endpoint create --collection shop --method GET --path /a --static-status 99
bad "timeout max"                  "endpoint.timeout_ms" endpoint create --collection shop --method GET --path /a --upstream http://h/a --timeout-ms 240001
bad "cache ttl max"                "endpoint.cache_ttl_seconds" endpoint create --collection shop --method GET --path /a --upstream http://h/a --cache-ttl 3601
bad "cache only GET"               "endpoint.cache_ttl_seconds" endpoint create --collection shop --method POST --path /a --upstream http://h/a --cache-ttl 60
bad "client name"                  "client.name"         client create ""
bad "profile CIDR"                 "profile.ip_allow"    profile create p --client acme --ip-allow 10.0.0.0/33
bad "profile address"              "profile.ip_allow"    profile create p --client acme --ip-allow 300.1.1.1
bad "profile v6 prefix"            "profile.ip_allow"    profile create p --client acme --ip-allow ::1/129
bad "rate count > 0"               "policy.rate_limit.count" policy create p --rate 0/minute
bad "quota count > 0"              "policy.quota.count"  policy create p --quota 0/day
bad "api prefix characters"        "settings.api_prefix" settings set --api-prefix "A B"
bad "api prefix reserved"          "settings.api_prefix" settings set --api-prefix oauth2
bad "custom domain"                "settings.custom_domains" settings set --custom-domains "bad_host!"
bad "update to an empty name"      "collection.name"     collection update shop --name ""

eq "bad input wrote nothing" "$rev" "$(apictl revision)"
finish
