/* Unit tests of apictl's bundle library (ctl/bundle.h): the bundle file
 * format read from YAML and JSON into the Bundle message, its errors (file,
 * line, field path), the round trip Bundle -> YAML/JSON -> Bundle, quoting
 * in the YAML written, and OpenAPI documents both ways. */
#define _GNU_SOURCE
#include "ap_msg.h"
#include "bundle.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Apiplatform__V1__Bundle bundle_t;

static const char shop_yaml[] =
    "settings:\n"                                        /* 1 */
    "  api_prefix: api\n"                                /* 2 */
    "  custom_domains: [api.example.com]\n"              /* 3 */
    "policies:\n"                                        /* 4 */
    "  - name: standard\n"                               /* 5 */
    "    labels: {team: payments}\n"                     /* 6 */
    "    description: Standard plan\n"                   /* 7 */
    "    rate_limit: {count: 100, period: minute}\n"     /* 8 */
    "    quota: {count: 10000, period: month}\n"         /* 9 */
    "collections:\n"                                     /* 10 */
    "  - name: Sales API\n"                              /* 11 */
    "    version: v1\n"                                  /* 12 */
    "    active: false\n"                                /* 13 */
    "    labels: {team: payments, env: prod}\n"          /* 14 */
    "    endpoints:\n"                                   /* 15 */
    "      - method: GET\n"                              /* 16 */
    "        path: /orders/{id}\n"                       /* 17 */
    "        upstream: http://orders:8080/orders/{id}\n" /* 18 */
    "        active: true\n"                             /* 19 */
    "        timeout_ms: 5000\n"                         /* 20 */
    "      - method: GET\n"                              /* 21 */
    "        path: /ping\n"                              /* 22 */
    "        name: ping\n"                               /* 23 */
    "        static: {status: 200, content_type: application/json, body: '{\"ok\":true}'}\n"
    "clients:\n"                                        /* 25 */
    "  - name: acme\n"                                  /* 26 */
    "    description: ACME\n"                           /* 27 */
    "    profiles:\n"                                   /* 28 */
    "      - name: default\n"                           /* 29 */
    "        collections: [Sales API]\n"                /* 30 */
    "        policy: standard\n"                        /* 31 */
    "        ip_allow: [10.0.0.0/8, '2001:db8::/32']\n" /* 32 */
    "        enabled: false\n";                         /* 33 */

static const char shop_json[] =
    "{\"settings\": {\"api_prefix\": \"api\", \"custom_domains\": [\"api.example.com\"]},\n"
    " \"policies\": [{\"name\": \"standard\", \"labels\": {\"team\": \"payments\"},\n"
    "   \"description\": \"Standard plan\", \"rate_limit\": {\"count\": 100, \"period\": "
    "\"minute\"},\n"
    "   \"quota\": {\"count\": 10000, \"period\": \"month\"}}],\n"
    " \"collections\": [{\"name\": \"Sales API\", \"version\": \"v1\", \"active\": false,\n"
    "   \"labels\": {\"env\": \"prod\", \"team\": \"payments\"},\n"
    "   \"endpoints\": [{\"method\": \"GET\", \"path\": \"/orders/{id}\",\n"
    "     \"upstream\": \"http://orders:8080/orders/{id}\", \"active\": true, \"timeout_ms\": "
    "5000},\n"
    "    {\"method\": \"GET\", \"path\": \"/ping\", \"name\": \"ping\", \"static\": {\"status\": "
    "200,\n"
    "     \"content_type\": \"application/json\", \"body\": \"{\\\"ok\\\":true}\"}}]}],\n"
    " \"clients\": [{\"name\": \"acme\", \"description\": \"ACME\", \"profiles\": [{\"name\": "
    "\"default\",\n"
    "   \"collections\": [\"Sales API\"], \"policy\": \"standard\",\n"
    "   \"ip_allow\": [\"10.0.0.0/8\", \"2001:db8::/32\"], \"enabled\": false}]}]}\n";

static ap_status_t st;

/* The bundle in text, or NULL with st set. */
static bundle_t *parse(const char *name, const char *text)
{
    ctl_doc_t d;
    bundle_t *b = NULL;
    memset(&st, 0, sizeof(st));
    if (ctl_doc_parse(&d, name, text, strlen(text), &st) != 0) return NULL;
    if (ctl_bundle_from_doc(&d, &b, &st) != 0) b = NULL;
    ctl_doc_free(&d);
    return b;
}

static const char *error_of(const char *name, const char *text)
{
    bundle_t *b = parse(name, text);
    cr_assert_null(b, "%s parsed, expected an error", name);
    cr_assert_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    return st.message;
}

/* The bundle written as a file (malloc'd). */
static char *written(const bundle_t *b, int yaml)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    json_t *j = ctl_bundle_to_json(b);
    cr_assert_eq(ctl_doc_write(out, j, yaml, &st), 0, "%s", st.message);
    json_decref(j);
    fclose(out);
    return text;
}

static void assert_same(const bundle_t *a, const bundle_t *b)
{
    size_t la = protobuf_c_message_get_packed_size(&a->base);
    size_t lb = protobuf_c_message_get_packed_size(&b->base);
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
    protobuf_c_message_pack(&a->base, pa);
    protobuf_c_message_pack(&b->base, pb);
    json_t *ja = ap_msg_to_json(&a->base), *jb = ap_msg_to_json(&b->base);
    char *sa = json_dumps(ja, JSON_COMPACT), *sb = json_dumps(jb, JSON_COMPACT);
    cr_assert(la == lb && memcmp(pa, pb, la) == 0, "bundles differ:\n%s\n%s", sa, sb);
    free(sa);
    free(sb);
    json_decref(ja);
    json_decref(jb);
    free(pa);
    free(pb);
}

Test(bundle, yaml_maps_to_the_proto)
{
    bundle_t *b = parse("shop.yaml", shop_yaml);
    cr_assert_not_null(b, "%s", st.message);

    cr_assert_str_eq(b->settings->api_prefix, "api");
    cr_assert_eq(b->settings->n_custom_domains, 1);
    cr_assert_str_eq(b->settings->custom_domains[0], "api.example.com");

    cr_assert_eq(b->n_policies, 1);
    Apiplatform__V1__AccessPolicy *p = b->policies[0];
    cr_assert_str_eq(p->name, "standard");
    cr_assert_eq(p->rate_limit->count, 100);
    cr_assert_eq(p->rate_limit->period, APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE);
    cr_assert_eq(p->quota->period, APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH);
    cr_assert_eq(p->n_labels, 1);
    cr_assert_str_eq(p->labels[0]->key, "team");

    Apiplatform__V1__BundleCollection *bc = b->collections[0];
    cr_assert_str_eq(bc->collection->name, "Sales API");
    cr_assert_eq(bc->collection->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    cr_assert_eq(bc->collection->active, 0);
    /* labels sorted by key */
    cr_assert_eq(bc->collection->n_labels, 2);
    cr_assert_str_eq(bc->collection->labels[0]->key, "env");
    cr_assert_str_eq(bc->collection->labels[1]->value, "payments");

    cr_assert_eq(bc->n_endpoints, 2);
    Apiplatform__V1__Endpoint *e = bc->endpoints[0];
    cr_assert_str_eq(e->collection_id, "");
    cr_assert_str_eq(e->name, "");
    cr_assert_eq(e->target->kind, APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM);
    cr_assert_str_eq(e->target->url, "http://orders:8080/orders/{id}");
    cr_assert(e->active);
    cr_assert_eq(e->timeout_ms, 5000);
    e = bc->endpoints[1];
    cr_assert_eq(e->target->kind, APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC);
    cr_assert_eq(e->target->status, 200);
    cr_assert_eq(e->target->body.len, strlen("{\"ok\":true}"));
    cr_assert_eq(memcmp(e->target->body.data, "{\"ok\":true}", e->target->body.len), 0);
    cr_assert_not(e->active);

    Apiplatform__V1__BundleClient *bcl = b->clients[0];
    cr_assert_str_eq(bcl->client->name, "acme");
    cr_assert_eq(bcl->client->enabled_set_case, APIPLATFORM__V1__CLIENT__ENABLED_SET__NOT_SET);
    Apiplatform__V1__AccessProfile *pr = bcl->profiles[0];
    cr_assert_str_eq(pr->client_id, "");
    cr_assert_eq(pr->n_collection_ids, 1);
    cr_assert_str_eq(pr->collection_ids[0], "Sales API");
    cr_assert_str_eq(pr->policy_id, "standard");
    cr_assert_eq(pr->n_ip_allow, 2);
    cr_assert_str_eq(pr->ip_allow[1], "2001:db8::/32");
    cr_assert_eq(pr->enabled_set_case, APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET_ENABLED);
    cr_assert_not(pr->enabled);
    ap_msg_free(&b->base);
}

Test(bundle, json_reads_as_the_same_bundle)
{
    bundle_t *y = parse("shop.yaml", shop_yaml);
    bundle_t *j = parse("-", shop_json); /* stdin: detected by its '{' */
    cr_assert_not_null(j, "%s", st.message);
    assert_same(y, j);
    ap_msg_free(&y->base);
    ap_msg_free(&j->base);
}

Test(bundle, absent_sections_and_nulls_are_left_out)
{
    bundle_t *b = parse("min.yaml", "collections:\n"
                                    "  - name: x\n"
                                    "    version: v1\n"
                                    "    description: ~\n"
                                    "    endpoints:\n");
    cr_assert_not_null(b, "%s", st.message);
    cr_assert_null(b->settings);
    cr_assert_eq(b->n_policies, 0);
    cr_assert_str_eq(b->collections[0]->collection->description, "");
    cr_assert_eq(b->collections[0]->n_endpoints, 0);
    ap_msg_free(&b->base);

    /* settings: {} is given and empty, not absent */
    b = parse("s.yaml", "settings: {}\n");
    cr_assert_not_null(b->settings);
    ap_msg_free(&b->base);
}

Test(bundle, errors_name_file_line_and_path)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"collections:\n  - name: x\n    version: v1\n    endpoints:\n"
         "      - {method: GET, path: /a, upstream: 'http://u/a'}\n"
         "      - path: /b\n        upstream: http://u/b\n",
         "f.yaml:6: collections[0].endpoints[1].method: required"},
        {"collections:\n  - name: x\n    versoin: v1\n",
         "f.yaml:3: collections[0].versoin: unknown key (expected name, version, description, "
         "path, active, labels, endpoints)"},
        {"policies:\n  - name: p\n    rate_limit: {count: 1, period: fortnight}\n",
         "f.yaml:3: policies[0].rate_limit.period: \"fortnight\" is not one of second minute "
         "hour"},
        {"policies:\n  - name: p\n    quota: {count: 1}\n",
         "f.yaml:3: policies[0].quota.period: required"},
        {"collections:\n  - name: x\n    version: v1\n    endpoints:\n"
         "      - method: GET\n        path: /a\n        upstream: http://u\n"
         "        static: {status: 200}\n",
         "f.yaml:5: collections[0].endpoints[0]: give exactly one of upstream or static"},
        {"collections:\n  - name: x\n    version: v1\n    endpoints: [{method: GET, path: /a}]\n",
         "f.yaml:4: collections[0].endpoints[0]: give exactly one of upstream or static"},
        {"collections:\n  - name: x\n    version: v1\n    active: maybe\n",
         "f.yaml:4: collections[0].active: \"maybe\" is not a boolean (true or false)"},
        {"clients:\n  - name: c\n    profiles:\n      - name: p\n        collections: Sales\n",
         "f.yaml:5: clients[0].profiles[0].collections: expected a list"},
        {"clients:\n  - name: c\n    profiles:\n      - name: p\n        ip_allow: [[1]]\n",
         "f.yaml:5: clients[0].profiles[0].ip_allow[0]: expected a string"},
        {"collections:\n  - name: [x]\n", "f.yaml:2: collections[0].name: expected a single "
                                          "value, not a list"},
        {"collections:\n  - name: ''\n    version: v1\n",
         "f.yaml:2: collections[0].name: must not be empty"},
        {"collections:\n  - name: x\n    name: y\n    version: v1\n",
         "f.yaml:3: collections[0].name: given twice"},
        {"policies:\n  - name: p\n    labels: {a: 1, b: {c: d}}\n",
         "f.yaml:3: policies[0].labels.b: expected a string"},
        {"collections: {name: x}\n", "f.yaml:1: collections: expected a list"},
        {"- a\n", "f.yaml:1: expected a mapping"},
        {"policies:\n  - name: p\n   labels: {}\n",
         "f.yaml:3: did not find expected '-' indicator while parsing a block collection"},
        {"policies: []\n---\nclients: []\n", "f.yaml:3: more than one YAML document"},
        {"# nothing\n", "f.yaml: empty document"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_str_eq(error_of("f.yaml", cases[i].text), cases[i].error, "case %zu", i);
}

Test(bundle, json_errors)
{
    /* syntax errors have jansson's line; schema errors a path only */
    cr_assert_str_eq(error_of("f.json", "{\"policies\": [\n{\"name\": \"p\",, }]}"),
                     "f.json:2: string or '}' expected near ','");
    cr_assert_str_eq(error_of("f.json", "{\"collections\": [{\"name\": \"x\"}]}"),
                     "f.json: collections[0].version: required");
    cr_assert_str_eq(error_of("f.json", "{\"policies\": [{\"name\": \"p\", \"name\": \"q\"}]}"),
                     "f.json:1: duplicate object key near '\"name\"'");
    /* null is the key left out */
    cr_assert_str_eq(error_of("f.json", "{\"clients\": [{\"name\": null}]}"),
                     "f.json: clients[0].name: required");
    /* a number is its text, as in YAML */
    bundle_t *b = parse("f.json", "{\"collections\": [{\"name\": \"x\", \"version\": 2}]}");
    cr_assert_not_null(b, "%s", st.message);
    cr_assert_str_eq(b->collections[0]->collection->version, "2");
    ap_msg_free(&b->base);
}

Test(bundle, round_trip_yaml_and_json)
{
    bundle_t *b = parse("shop.yaml", shop_yaml);
    for (int yaml = 0; yaml <= 1; yaml++) {
        char *text = written(b, yaml);
        bundle_t *again = parse(yaml ? "out.yaml" : "out.json", text);
        cr_assert_not_null(again, "%s\n%s", st.message, text);
        assert_same(b, again);
        ap_msg_free(&again->base);
        free(text);
    }
    ap_msg_free(&b->base);
}

Test(bundle, writer_leaves_out_what_the_server_assumes)
{
    bundle_t *b = parse("d.yaml", "collections:\n"
                                  "  - name: x\n"
                                  "    version: v1\n"
                                  "    active: true\n"
                                  "    endpoints:\n"
                                  "      - method: GET\n"
                                  "        path: /a\n"
                                  "        name: GET /a\n"
                                  "        upstream: http://u/a\n"
                                  "        timeout_ms: 30000\n"
                                  "        active: false\n"
                                  "        description: ''\n");
    char *text = written(b, 1);
    cr_assert_str_eq(text, "collections:\n"
                           "- name: x\n"
                           "  version: v1\n"
                           "  endpoints:\n"
                           "  - method: GET\n"
                           "    path: /a\n"
                           "    upstream: http://u/a\n");
    free(text);
    ap_msg_free(&b->base);
}

Test(bundle, yaml_quotes_strings_that_read_as_other_types)
{
    bundle_t *b = parse("q.yaml", "collections:\n"
                                  "  - name: 'true'\n"
                                  "    version: '1.0'\n"
                                  "    description: \"null\"\n"
                                  "    labels: {'no': 'yes', tier: '007', note: ''}\n"
                                  "    endpoints:\n"
                                  "      - method: GET\n"
                                  "        path: '/a: b # c'\n"
                                  "        static: {status: 200, body: \"line 1\\nline 2\\n\"}\n");
    cr_assert_not_null(b, "%s", st.message);
    char *text = written(b, 1);
    cr_assert(strstr(text, "name: 'true'") != NULL, "%s", text);
    cr_assert(strstr(text, "version: '1.0'") != NULL, "%s", text);
    cr_assert(strstr(text, "description: 'null'") != NULL, "%s", text);
    cr_assert(strstr(text, "'no': 'yes'") != NULL, "%s", text);
    cr_assert(strstr(text, "tier: '007'") != NULL, "%s", text);
    cr_assert(strstr(text, "note: ''") != NULL, "%s", text);
    cr_assert(strstr(text, "body: |\n        line 1\n        line 2\n") != NULL, "%s", text);
    bundle_t *again = parse("q.yaml", text);
    cr_assert_not_null(again, "%s\n%s", st.message, text);
    assert_same(b, again);
    ap_msg_free(&again->base);
    ap_msg_free(&b->base);
    free(text);
}

Test(openapi, from_collection)
{
    Apiplatform__V1__Collection c = APIPLATFORM__V1__COLLECTION__INIT;
    Apiplatform__V1__Endpoint e1 = APIPLATFORM__V1__ENDPOINT__INIT,
                              e2 = APIPLATFORM__V1__ENDPOINT__INIT;
    Apiplatform__V1__Settings s = APIPLATFORM__V1__SETTINGS__INIT;
    Apiplatform__V1__Endpoint *eps[] = {&e1, &e2};
    char *domains[] = {"api.example.com"};
    c.name = "Sales API", c.version = "v1", c.path = "sales-api-v1";
    e1.name = "GET /orders/{id}/items/{item}", e1.method = "GET",
    e1.path = "/orders/{id}/items/{item}", e1.active = 1;
    e2.name = "delete order", e2.method = "DELETE", e2.path = "/orders/{id}/items/{item}";
    e2.description = "Deletes it";
    s.api_prefix = "api", s.n_custom_domains = 1, s.custom_domains = domains;

    json_t *doc = ctl_openapi_from_collection(&c, eps, 2, &s);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    json_t *servers = json_object_get(doc, "servers");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(servers, 0), "url")),
                     "https://{gateway-host}/api/sales-api-v1");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(servers, 1), "url")),
                     "https://api.example.com/sales-api-v1");
    json_t *item = json_object_get(json_object_get(doc, "paths"), "/orders/{id}/items/{item}");
    json_t *get = json_object_get(item, "get"), *del = json_object_get(item, "delete");
    cr_assert_str_eq(json_string_value(json_object_get(get, "operationId")),
                     "GET_orders_id_items_item");
    cr_assert_eq(json_array_size(json_object_get(get, "parameters")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(get, "parameters"), 1), "name")),
                     "item");
    cr_assert_null(json_object_get(get, "x-apiplatform-active"));
    cr_assert_str_eq(json_string_value(json_object_get(get, "x-apiplatform-name")),
                     "GET /orders/{id}/items/{item}");
    cr_assert_str_eq(json_string_value(json_object_get(del, "operationId")), "delete_order");
    cr_assert_str_eq(json_string_value(json_object_get(del, "summary")), "Deletes it");
    cr_assert(json_is_false(json_object_get(del, "x-apiplatform-active")));
    cr_assert_not_null(json_object_get(json_object_get(get, "responses"), "429"));
    json_decref(doc);
}

Test(openapi, to_bundle)
{
    static const char oas[] = "openapi: 3.0.3\n"
                              "info: {title: Pets, version: 1.0.0, description: All pets}\n"
                              "paths:\n"
                              "  /pets/{id}:\n"
                              "    parameters: []\n"
                              "    get: {operationId: getPet, summary: One pet}\n"
                              "    put: {operationId: x, x-apiplatform-name: put a pet}\n"
                              "    delete: {}\n";
    ctl_doc_t d;
    bundle_t *b;
    cr_assert_eq(ctl_doc_parse(&d, "pets.yaml", oas, strlen(oas), &st), 0, "%s", st.message);
    cr_assert_eq(ctl_openapi_to_bundle(&d, "http://pets:80/", NULL, "v2", &b, &st), 0, "%s",
                 st.message);
    Apiplatform__V1__BundleCollection *bc = b->collections[0];
    cr_assert_str_eq(bc->collection->name, "Pets");
    cr_assert_str_eq(bc->collection->version, "v2");
    cr_assert_str_eq(bc->collection->description, "All pets");
    cr_assert_eq(bc->n_endpoints, 3);
    cr_assert_str_eq(bc->endpoints[0]->method, "GET");
    cr_assert_str_eq(bc->endpoints[0]->name, "getPet");
    cr_assert_str_eq(bc->endpoints[0]->description, "One pet");
    cr_assert_str_eq(bc->endpoints[0]->target->url, "http://pets:80/pets/{id}");
    cr_assert(bc->endpoints[0]->active);
    cr_assert_str_eq(bc->endpoints[1]->name, "put a pet");
    cr_assert_str_eq(bc->endpoints[2]->method, "DELETE");
    cr_assert_str_eq(bc->endpoints[2]->name, "");
    ap_msg_free(&b->base);

    cr_assert_eq(ctl_openapi_to_bundle(&d, "http://pets", "P", NULL, &b, &st), 0);
    cr_assert_str_eq(b->collections[0]->collection->version, "1.0.0");
    ap_msg_free(&b->base);
    ctl_doc_free(&d);

    static const char swagger[] = "{\"swagger\": \"2.0\", \"info\": {\"title\": \"x\"}}";
    cr_assert_eq(ctl_doc_parse(&d, "old.json", swagger, strlen(swagger), &st), 0);
    cr_assert_eq(ctl_openapi_to_bundle(&d, "http://u", NULL, NULL, &b, &st), -1);
    cr_assert_str_eq(st.message, "old.json: openapi: not an OpenAPI 3 document");
    ctl_doc_free(&d);
}
