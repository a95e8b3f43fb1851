/* Unit tests of controlplane/resource.c over a real store in a fresh
 * temporary directory per test: defaults, unique keys, references by name,
 * route clashes, masked updates with optimistic concurrency, paging, and
 * deletes that refuse, cascade, or take children along. */
#include "resource.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_msg.h"
#include "tmpstore.h"

typedef Apiplatform__V1__Collection collection_t;
typedef Apiplatform__V1__Endpoint endpoint_t;
typedef Apiplatform__V1__Client client_t;
typedef Apiplatform__V1__AccessProfile profile_t;
typedef Apiplatform__V1__AccessPolicy policy_t;
typedef Apiplatform__V1__Token token_t;

static char dir[TMPSTORE_DIR_MAX];
static cp_store_t *s;
static ap_status_t st;

static void setup(void)
{
    s = tmpstore_open("resource_test", dir);
}

static void teardown(void)
{
    tmpstore_remove(s, dir);
    s = NULL;
}

TestSuite(resource, .init = setup, .fini = teardown);

/* Asserts the last call failed with code and a message starting with prefix. */
#define EXPECT_STATUS(code_, prefix_)                                                              \
    do {                                                                                           \
        cr_expect_eq(st.code, code_, "code %s (want %s): %s", ap_status_name(st.code),             \
                     ap_status_name(code_), st.message);                                           \
        cr_expect(strncmp(st.message, prefix_, strlen(prefix_)) == 0,                              \
                  "message \"%s\" does not start with \"%s\"", st.message, prefix_);               \
    } while (0)

static void *create(const cp_kind_t *k, void *in)
{
    memset(&st, 0, sizeof(st));
    return cp_res_create(s, k, in, "tester", &st);
}

static void *must_create(const cp_kind_t *k, void *in)
{
    void *m = create(k, in);
    cr_assert_not_null(m, "create %s: %s %s", k->name, ap_status_name(st.code), st.message);
    return m;
}

static collection_t *collection(const char *name, const char *version)
{
    collection_t c = APIPLATFORM__V1__COLLECTION__INIT;
    c.name = (char *)name;
    c.version = (char *)version;
    return must_create(&CP_KIND_COLLECTION, &c);
}

static endpoint_t endpoint_in(Apiplatform__V1__Target *t, const char *col, const char *method,
                              const char *path)
{
    endpoint_t e = APIPLATFORM__V1__ENDPOINT__INIT;
    t->kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM;
    t->url = "http://backend:8080/";
    e.collection_id = (char *)col;
    e.method = (char *)method;
    e.path = (char *)path;
    e.target = t;
    return e;
}

static endpoint_t *endpoint(const char *col, const char *method, const char *path)
{
    Apiplatform__V1__Target t = APIPLATFORM__V1__TARGET__INIT;
    endpoint_t e = endpoint_in(&t, col, method, path);
    return must_create(&CP_KIND_ENDPOINT, &e);
}

static client_t *client(const char *name)
{
    client_t c = APIPLATFORM__V1__CLIENT__INIT;
    c.name = (char *)name;
    return must_create(&CP_KIND_CLIENT, &c);
}

static policy_t *policy(const char *name)
{
    Apiplatform__V1__RateLimit rl = APIPLATFORM__V1__RATE_LIMIT__INIT;
    rl.count = 10;
    rl.period = APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE;
    policy_t p = APIPLATFORM__V1__ACCESS_POLICY__INIT;
    p.name = (char *)name;
    p.rate_limit = &rl;
    return must_create(&CP_KIND_POLICY, &p);
}

static profile_t profile_in(const char *client_ref, const char *name, char **cols, size_t n_cols,
                            const char *policy_ref)
{
    profile_t p = APIPLATFORM__V1__ACCESS_PROFILE__INIT;
    p.name = (char *)name;
    p.client_id = (char *)client_ref;
    p.collection_ids = cols;
    p.n_collection_ids = n_cols;
    p.policy_id = (char *)(policy_ref ? policy_ref : "");
    return p;
}

static token_t *token(const profile_t *p, const char *name)
{
    token_t t = APIPLATFORM__V1__TOKEN__INIT;
    t.name = (char *)name;
    t.profile_id = p->id;
    t.client_id = p->client_id;
    t.sha256 = "00";
    return must_create(&CP_KIND_TOKEN, &t);
}

static void release(void *m)
{
    ap_msg_free(m);
}

/* How many keys start with prefix. */
static size_t count(const char *prefix)
{
    return tmpstore_count(s, prefix);
}

static Apiplatform__V1__ChangeSet *changeset(uint64_t rev)
{
    char key[32];
    snprintf(key, sizeof(key), "l/%016" PRIx64, rev);
    return (Apiplatform__V1__ChangeSet *)cp_store_get_msg(s, key,
                                                          &apiplatform__v1__change_set__descriptor);
}

/* ---- create ---- */

Test(resource, create_collection_fills_defaults)
{
    collection_t *c = collection("Sales API", "v1");
    cr_expect(strncmp(c->id, "col_", 4) == 0, "id %s", c->id);
    cr_expect_str_eq(c->name, "Sales API");
    cr_expect_str_eq(c->path, "sales-api-v1");
    cr_expect_eq(c->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    cr_expect(c->active);
    cr_expect_eq(c->revision, 1);
    cr_expect_eq(cp_store_revision(s), 1);
    cr_expect_gt(c->create_time, 0);
    cr_expect_eq(c->update_time, c->create_time);

    /* stored as returned, found by id and by name */
    collection_t *g = (collection_t *)cp_res_get(s, &CP_KIND_COLLECTION, c->id, NULL, &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, c->id);
    cr_expect_str_eq(g->path, "sales-api-v1");
    cr_expect(g->active);
    release(g);
    g = (collection_t *)cp_res_get(s, &CP_KIND_COLLECTION, "Sales API", NULL, &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, c->id);
    release(g);

    /* the change log says what happened */
    Apiplatform__V1__ChangeSet *cs = changeset(1);
    cr_assert_not_null(cs);
    cr_expect_str_eq(cs->actor, "tester");
    cr_assert_eq(cs->n_changes, 1);
    cr_expect_str_eq(cs->changes[0]->kind, "collection");
    cr_expect_str_eq(cs->changes[0]->id, c->id);
    cr_expect_eq(cs->changes[0]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    release(cs);
    release(c);
}

Test(resource, create_keeps_given_path_and_inactive_and_ignores_server_fields)
{
    collection_t in = APIPLATFORM__V1__COLLECTION__INIT;
    in.id = "col_mine";
    in.name = "Billing";
    in.version = "2.0";
    in.path = "billing";
    in.revision = 99;
    in.create_time = 5;
    in.active_set_case = APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE;
    in.active = 0;
    collection_t *c = must_create(&CP_KIND_COLLECTION, &in);
    cr_expect_str_neq(c->id, "col_mine");
    cr_expect_str_eq(c->path, "billing");
    cr_expect_eq(c->active_set_case, APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE);
    cr_expect_not(c->active);
    cr_expect_eq(c->revision, 1);
    cr_expect_neq(c->create_time, 5);
    /* the input was not touched */
    cr_expect_str_eq(in.id, "col_mine");
    release(c);

    c = collection("Web Shop", "1.2");
    cr_expect_str_eq(c->path, "web-shop-1-2");
    release(c);
}

Test(resource, invalid_create_writes_nothing)
{
    collection_t in = APIPLATFORM__V1__COLLECTION__INIT;
    in.name = "Sales API";
    cr_expect_null(create(&CP_KIND_COLLECTION, &in));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "collection.version:");
    in.version = "v1";
    in.path = "oauth2/x";
    cr_expect_null(create(&CP_KIND_COLLECTION, &in));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "collection.path:");
    cr_expect_eq(cp_store_revision(s), 0);
    cr_expect_eq(count("r/"), 0);
    cr_expect_eq(count("n/"), 0);

    /* a message of another kind is refused */
    client_t cl = APIPLATFORM__V1__CLIENT__INIT;
    cl.name = "x";
    cr_expect_null(create(&CP_KIND_COLLECTION, &cl));
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

Test(resource, duplicate_name_or_path_already_exists)
{
    collection_t *c = collection("Sales API", "v1");
    collection_t in = APIPLATFORM__V1__COLLECTION__INIT;
    in.name = "Sales API";
    in.version = "v2";
    cr_expect_null(create(&CP_KIND_COLLECTION, &in));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "collection.name:");

    in.name = "Other";
    in.path = "sales-api-v1";
    cr_expect_null(create(&CP_KIND_COLLECTION, &in));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "collection.path:");

    cr_expect_eq(cp_store_revision(s), 1);
    cr_expect_eq(count("r/collection/"), 1);

    /* names of other kinds are separate */
    client_t *cl = client("Sales API");
    release(cl);
    release(c);
}

Test(resource, get_unknown_is_not_found)
{
    cr_expect_null(cp_res_get(s, &CP_KIND_COLLECTION, "nope", NULL, &st));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "collection \"nope\"");
    cr_expect_null(cp_res_get(s, &CP_KIND_COLLECTION, "col_00000000000000000000", NULL, &st));
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    cr_expect_null(cp_res_get(s, &CP_KIND_COLLECTION, "", NULL, &st));
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

/* ---- endpoints ---- */

Test(resource, endpoint_names_its_collection_by_name)
{
    collection_t *c = collection("Sales API", "v1");
    endpoint_t *e = endpoint("Sales API", "get", "/orders/{id}");
    cr_expect(strncmp(e->id, "ep_", 3) == 0, "id %s", e->id);
    cr_expect_str_eq(e->collection_id, c->id);
    cr_expect_str_eq(e->method, "GET");
    cr_expect_str_eq(e->name, "GET /orders/{id}");
    cr_expect_eq(e->timeout_ms, 30000);
    cr_expect_not(e->active);

    /* by id too */
    endpoint_t *e2 = endpoint(c->id, "POST", "/orders");
    cr_expect_str_eq(e2->collection_id, c->id);

    /* found by name within the collection (given by name or id) or alone */
    endpoint_t *g = (endpoint_t *)cp_res_get(s, &CP_KIND_ENDPOINT, "GET /orders/{id}", "Sales API", &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, e->id);
    release(g);
    g = (endpoint_t *)cp_res_get(s, &CP_KIND_ENDPOINT, "POST /orders", c->id, &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, e2->id);
    release(g);
    g = (endpoint_t *)cp_res_get(s, &CP_KIND_ENDPOINT, "GET /orders/{id}", NULL, &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, e->id);
    release(g);

    /* an unknown collection names the field */
    Apiplatform__V1__Target t = APIPLATFORM__V1__TARGET__INIT;
    endpoint_t in = endpoint_in(&t, "Nope API", "GET", "/x");
    cr_expect_null(create(&CP_KIND_ENDPOINT, &in));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "endpoint.collection_id:");
    in = endpoint_in(&t, "", "GET", "/x");
    cr_expect_null(create(&CP_KIND_ENDPOINT, &in));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "endpoint.collection_id:");
    release(e2);
    release(e);
    release(c);
}

Test(resource, endpoint_route_clash_already_exists)
{
    collection_t *c = collection("Sales API", "v1");
    collection_t *c2 = collection("Other API", "v1");
    endpoint_t *e = endpoint("Sales API", "GET", "/a/{x}");
    uint64_t rev = cp_store_revision(s);

    Apiplatform__V1__Target t = APIPLATFORM__V1__TARGET__INIT;
    endpoint_t in = endpoint_in(&t, "Sales API", "GET", "/a/{y}");
    cr_expect_null(create(&CP_KIND_ENDPOINT, &in));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "endpoint.path:");
    cr_expect_eq(cp_store_revision(s), rev);

    /* another method, or another collection, is a different route */
    endpoint_t *p = endpoint("Sales API", "POST", "/a/{y}");
    endpoint_t *o = endpoint("Other API", "GET", "/a/{y}");
    /* a literal segment differs from a param */
    endpoint_t *l = endpoint("Sales API", "GET", "/a/b");

    /* the same name in one collection clashes too */
    in = endpoint_in(&t, "Sales API", "GET", "/z");
    in.name = "POST /a/{y}";
    cr_expect_null(create(&CP_KIND_ENDPOINT, &in));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "endpoint.name:");

    release(l);
    release(o);
    release(p);
    release(e);
    release(c2);
    release(c);
}

Test(resource, child_name_in_two_parents_needs_the_parent)
{
    collection_t *a = collection("A", "v1");
    collection_t *b = collection("B", "v1");
    endpoint_t *ea = endpoint("A", "GET", "/x");
    endpoint_t *eb = endpoint("B", "GET", "/x");
    cr_expect_null(cp_res_get(s, &CP_KIND_ENDPOINT, "GET /x", NULL, &st));
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT, "%s", st.message);
    endpoint_t *g = (endpoint_t *)cp_res_get(s, &CP_KIND_ENDPOINT, "GET /x", "B", &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, eb->id);
    release(g);
    release(eb);
    release(ea);
    release(b);
    release(a);
}

/* ---- update ---- */

Test(resource, update_with_mask_and_expected_revision)
{
    collection_t *c = collection("Sales API", "v1");
    client_t *other = client("someone"); /* moves the store revision on */
    collection_t patch = APIPLATFORM__V1__COLLECTION__INIT;
    patch.description = "Orders and invoices";
    patch.name = "ignored, not in the mask";
    char *mask[] = {"description"};

    collection_t *u = (collection_t *)cp_res_update(s, &CP_KIND_COLLECTION, "Sales API", NULL,
                                                    &patch.base, mask, 1, c->revision, "editor", &st);
    cr_assert_not_null(u, "%s", st.message);
    cr_expect_str_eq(u->description, "Orders and invoices");
    cr_expect_str_eq(u->name, "Sales API");
    cr_expect_str_eq(u->id, c->id);
    cr_expect_eq(u->revision, 3);
    cr_expect_eq(cp_store_revision(s), 3);
    cr_expect_eq(u->create_time, c->create_time);
    cr_expect_geq(u->update_time, c->update_time);
    Apiplatform__V1__ChangeSet *cs = changeset(3);
    cr_assert_not_null(cs);
    cr_expect_str_eq(cs->actor, "editor");
    cr_assert_eq(cs->n_changes, 1);
    cr_expect_eq(cs->changes[0]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    cr_expect_str_eq(cs->changes[0]->id, c->id);
    release(cs);

    /* the revision read before that update is stale now */
    patch.description = "lost update";
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL, &patch.base, mask, 1,
                                 c->revision, "editor", &st));
    EXPECT_STATUS(GRPC_STATUS_FAILED_PRECONDITION, "expected_revision:");
    cr_expect_eq(cp_store_revision(s), 3);
    collection_t *g = (collection_t *)cp_res_get(s, &CP_KIND_COLLECTION, c->id, NULL, &st);
    cr_assert_not_null(g);
    cr_expect_str_eq(g->description, "Orders and invoices");
    release(g);

    /* expected_revision 0 means any */
    collection_t *u2 = (collection_t *)cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL,
                                                     &patch.base, mask, 1, 0, "editor", &st);
    cr_assert_not_null(u2, "%s", st.message);
    cr_expect_str_eq(u2->description, "lost update");
    release(u2);
    release(u);
    release(other);
    release(c);
}

Test(resource, update_without_mask_replaces_settable_fields)
{
    collection_t *c = collection("Sales API", "v1");
    collection_t patch = APIPLATFORM__V1__COLLECTION__INIT;
    patch.id = "col_other";
    patch.create_time = 1;
    patch.name = "Sales API";
    patch.version = "v2";
    patch.description = "d";
    collection_t *u = (collection_t *)cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL,
                                                    &patch.base, NULL, 0, 0, "e", &st);
    cr_assert_not_null(u, "%s", st.message);
    cr_expect_str_eq(u->id, c->id);
    cr_expect_eq(u->create_time, c->create_time);
    cr_expect_str_eq(u->version, "v2");
    cr_expect_str_eq(u->description, "d");
    cr_expect_str_eq(u->path, "sales-api-v2", "an emptied path is derived again");
    cr_expect_eq(u->revision, 2);
    /* the old path is free, the new one taken */
    collection_t in = APIPLATFORM__V1__COLLECTION__INIT;
    in.name = "Other";
    in.version = "v2";
    in.path = "sales-api-v2";
    cr_expect_null(create(&CP_KIND_COLLECTION, &in));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "collection.path:");
    in.path = "sales-api-v1";
    collection_t *o = must_create(&CP_KIND_COLLECTION, &in);
    release(o);
    release(u);
    release(c);
}

Test(resource, update_refuses_bad_masks_and_invalid_results)
{
    collection_t *c = collection("Sales API", "v1");
    collection_t patch = APIPLATFORM__V1__COLLECTION__INIT;
    patch.id = "col_other";
    char *id_mask[] = {"id"};
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL, &patch.base, id_mask, 1, 0,
                                 "e", &st));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "update_mask:");
    char *unknown[] = {"colour"};
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL, &patch.base, unknown, 1, 0,
                                 "e", &st));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "update_mask:");
    char *version[] = {"version"};
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL, &patch.base, version, 1, 0,
                                 "e", &st));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "collection.version:");
    cr_expect_eq(cp_store_revision(s), 1);

    /* an endpoint cannot move to another collection */
    collection_t *c2 = collection("Other", "v1");
    endpoint_t *e = endpoint(c->id, "GET", "/x");
    endpoint_t ep = APIPLATFORM__V1__ENDPOINT__INIT;
    ep.collection_id = c2->id;
    char *parent[] = {"collection_id"};
    cr_expect_null(cp_res_update(s, &CP_KIND_ENDPOINT, e->id, NULL, &ep.base, parent, 1, 0, "e",
                                 &st));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "update_mask:");

    /* unknown resource */
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, "nope", NULL, &patch.base, version, 1, 0,
                                 "e", &st));
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    release(e);
    release(c2);
    release(c);
}

Test(resource, rename_moves_the_unique_key)
{
    collection_t *c = collection("Sales API", "v1");
    collection_t *o = collection("Other", "v1");
    collection_t patch = APIPLATFORM__V1__COLLECTION__INIT;
    char *mask[] = {"name"};
    patch.name = "Other";
    cr_expect_null(cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL, &patch.base, mask, 1, 0, "e",
                                 &st));
    EXPECT_STATUS(GRPC_STATUS_ALREADY_EXISTS, "collection.name:");

    patch.name = "Revenue API";
    collection_t *u = (collection_t *)cp_res_update(s, &CP_KIND_COLLECTION, c->id, NULL,
                                                    &patch.base, mask, 1, 0, "e", &st);
    cr_assert_not_null(u, "%s", st.message);
    cr_expect_str_eq(u->path, "sales-api-v1", "an explicit path stays");
    cr_expect_null(cp_res_get(s, &CP_KIND_COLLECTION, "Sales API", NULL, &st));
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    collection_t *g = (collection_t *)cp_res_get(s, &CP_KIND_COLLECTION, "Revenue API", NULL, &st);
    cr_assert_not_null(g, "%s", st.message);
    cr_expect_str_eq(g->id, c->id);
    release(g);

    /* the old name is free again */
    collection_t in = APIPLATFORM__V1__COLLECTION__INIT;
    in.name = "Sales API";
    in.version = "v2";
    collection_t *n = must_create(&CP_KIND_COLLECTION, &in);
    release(n);
    release(u);
    release(o);
    release(c);
}

/* ---- list ---- */

Test(resource, list_pages_in_creation_order)
{
    static const char *const names[] = {"zeta", "alpha", "mike", "bravo", "yankee"};
    char ids[5][64];
    for (int i = 0; i < 5; i++) {
        client_t *c = client(names[i]);
        strcpy(ids[i], c->id);
        release(c);
    }
    char *token = strdup("");
    size_t got = 0, pages = 0;
    for (;;) {
        ProtobufCMessage **items = NULL;
        size_t n = 0;
        char *next = NULL;
        cr_assert_eq(cp_res_list(s, &CP_KIND_CLIENT, NULL, 2, token, &items, &n, &next, &st), 0,
                     "%s", st.message);
        pages++;
        cr_assert_leq(n, 2);
        for (size_t i = 0; i < n; i++) {
            client_t *c = (client_t *)items[i];
            cr_assert_lt(got, 5, "more than 5 items");
            cr_expect_str_eq(c->name, names[got]);
            cr_expect_str_eq(c->id, ids[got]);
            got++;
            release(c);
        }
        free(items);
        free(token);
        token = next;
        if (token[0] == '\0')
            break;
        cr_assert_lt(pages, 10, "paging does not end");
    }
    free(token);
    cr_expect_eq(got, 5);
    cr_expect_eq(pages, 3);

    /* default page size: everything, no next page */
    ProtobufCMessage **items = NULL;
    size_t n = 0;
    char *next = NULL;
    cr_assert_eq(cp_res_list(s, &CP_KIND_CLIENT, NULL, 0, NULL, &items, &n, &next, &st), 0);
    cr_expect_eq(n, 5);
    cr_expect_str_eq(next, "");
    for (size_t i = 0; i < n; i++)
        release(items[i]);
    free(items);
    free(next);

    /* exactly a page left: no empty extra page */
    cr_assert_eq(cp_res_list(s, &CP_KIND_CLIENT, NULL, 5, NULL, &items, &n, &next, &st), 0);
    cr_expect_eq(n, 5);
    cr_expect_str_eq(next, "");
    for (size_t i = 0; i < n; i++)
        release(items[i]);
    free(items);
    free(next);

    cr_expect_eq(cp_res_list(s, &CP_KIND_CLIENT, NULL, 2, "r/client/x", &items, &n, &next, &st),
                 -1);
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "page_token:");
}

Test(resource, list_of_one_parent)
{
    collection_t *a = collection("A", "v1");
    collection_t *b = collection("B", "v1");
    endpoint_t *e1 = endpoint("A", "GET", "/1");
    endpoint_t *e2 = endpoint("B", "GET", "/2");
    endpoint_t *e3 = endpoint("A", "GET", "/3");
    ProtobufCMessage **items = NULL;
    size_t n = 0;
    char *next = NULL;
    cr_assert_eq(cp_res_list(s, &CP_KIND_ENDPOINT, "A", 0, NULL, &items, &n, &next, &st), 0, "%s",
                 st.message);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(((endpoint_t *)items[0])->id, e1->id);
    cr_expect_str_eq(((endpoint_t *)items[1])->id, e3->id);
    for (size_t i = 0; i < n; i++)
        release(items[i]);
    free(items);
    free(next);

    cr_expect_eq(cp_res_list(s, &CP_KIND_ENDPOINT, "Nope", 0, NULL, &items, &n, &next, &st), -1);
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    cr_expect_eq(cp_res_list(s, &CP_KIND_CLIENT, "A", 0, NULL, &items, &n, &next, &st), -1);
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    release(e3);
    release(e2);
    release(e1);
    release(b);
    release(a);
}

/* ---- references ---- */

Test(resource, profile_references_resolve_by_name)
{
    client_t *cl = client("acme");
    collection_t *a = collection("A", "v1");
    collection_t *b = collection("B", "v1");
    policy_t *pol = policy("gold");
    char *cols[] = {"A", b->id};
    profile_t in = profile_in("acme", "default", cols, 2, "gold");
    profile_t *p = must_create(&CP_KIND_PROFILE, &in);
    cr_expect(strncmp(p->id, "prf_", 4) == 0, "id %s", p->id);
    cr_expect_str_eq(p->client_id, cl->id);
    cr_assert_eq(p->n_collection_ids, 2);
    cr_expect_str_eq(p->collection_ids[0], a->id);
    cr_expect_str_eq(p->collection_ids[1], b->id);
    cr_expect_str_eq(p->policy_id, pol->id);
    cr_expect(p->enabled);
    cr_expect_eq(p->auth_method, APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_API_TOKEN);

    /* the same collection twice, by name and id */
    char *twice[] = {"A", a->id};
    in = profile_in("acme", "second", twice, 2, NULL);
    cr_expect_null(create(&CP_KIND_PROFILE, &in));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "profile.collection_ids:");

    /* no policy is fine */
    in = profile_in(cl->id, "free", NULL, 0, NULL);
    profile_t *f = must_create(&CP_KIND_PROFILE, &in);
    cr_expect_str_eq(f->policy_id, "");
    release(f);
    release(p);
    release(pol);
    release(b);
    release(a);
    release(cl);
}

Test(resource, unknown_reference_is_not_found_naming_the_field)
{
    client_t *cl = client("acme");
    collection_t *a = collection("A", "v1");
    uint64_t rev = cp_store_revision(s);
    char *cols[] = {"A"};

    profile_t in = profile_in("acme", "p", cols, 1, "no-such-policy");
    cr_expect_null(create(&CP_KIND_PROFILE, &in));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "profile.policy_id:");
    cr_expect(strstr(st.message, "no-such-policy") != NULL, "%s", st.message);

    in = profile_in("acme", "p", cols, 1, "pol_0000000000000000dead");
    cr_expect_null(create(&CP_KIND_PROFILE, &in));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "profile.policy_id:");

    char *bad_cols[] = {"A", "Z"};
    in = profile_in("acme", "p", bad_cols, 2, NULL);
    cr_expect_null(create(&CP_KIND_PROFILE, &in));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "profile.collection_ids:");

    in = profile_in("nobody", "p", cols, 1, NULL);
    cr_expect_null(create(&CP_KIND_PROFILE, &in));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "profile.client_id:");

    cr_expect_eq(cp_store_revision(s), rev);
    cr_expect_eq(count("r/profile/"), 0);
    release(a);
    release(cl);
}

/* ---- delete ---- */

static int has_change(Apiplatform__V1__Change **cs, size_t n, const char *kind, const char *id,
                      Apiplatform__V1__ChangeOp op)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cs[i]->kind, kind) == 0 && strcmp(cs[i]->id, id) == 0 && cs[i]->op == op)
            return 1;
    return 0;
}

static void free_changes(Apiplatform__V1__Change **cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        release(cs[i]);
    free(cs);
}

Test(resource, delete_referenced_collection_needs_cascade)
{
    client_t *cl = client("acme");
    collection_t *a = collection("A", "v1");
    collection_t *b = collection("B", "v1");
    endpoint_t *ea = endpoint("A", "GET", "/x");
    char *cols[] = {"A", "B"};
    profile_t in = profile_in("acme", "default", cols, 2, NULL);
    profile_t *p = must_create(&CP_KIND_PROFILE, &in);
    uint64_t rev = cp_store_revision(s);

    Apiplatform__V1__Change **cs = NULL;
    size_t n = 0;
    cr_expect_eq(cp_res_delete(s, &CP_KIND_COLLECTION, "A", NULL, 0, 0, "e", &cs, &n, &st), 0);
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION, "%s %s", ap_status_name(st.code),
                 st.message);
    cr_expect(strstr(st.message, "default") != NULL, "should name the profile: %s", st.message);
    cr_expect_eq(cp_store_revision(s), rev);
    collection_t *g = (collection_t *)cp_res_get(s, &CP_KIND_COLLECTION, a->id, NULL, &st);
    cr_expect_not_null(g, "refused delete removed the collection");
    release(g);

    uint64_t drev = cp_res_delete(s, &CP_KIND_COLLECTION, "A", NULL, 0, 1, "e", &cs, &n, &st);
    cr_assert_neq(drev, 0, "%s", st.message);
    cr_expect_eq(drev, rev + 1);
    cr_expect(has_change(cs, n, "collection", a->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "endpoint", ea->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "profile", p->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE));
    cr_expect_eq(n, 3);
    free_changes(cs, n);

    cr_expect_null(cp_res_get(s, &CP_KIND_COLLECTION, a->id, NULL, &st));
    cr_expect_null(cp_res_get(s, &CP_KIND_ENDPOINT, ea->id, NULL, &st));
    profile_t *gp = (profile_t *)cp_res_get(s, &CP_KIND_PROFILE, p->id, NULL, &st);
    cr_assert_not_null(gp, "%s", st.message);
    cr_assert_eq(gp->n_collection_ids, 1);
    cr_expect_str_eq(gp->collection_ids[0], b->id);
    cr_expect_eq(gp->revision, drev);
    release(gp);

    /* the change log matches */
    Apiplatform__V1__ChangeSet *set = changeset(drev);
    cr_assert_not_null(set);
    cr_expect_eq(set->n_changes, 3);
    release(set);

    /* name, path and routes are free again */
    cr_expect_eq(count("n/endpoint/"), 0);
    collection_t *a2 = collection("A", "v1");
    cr_expect_str_eq(a2->path, "a-v1");
    release(a2);
    release(p);
    release(ea);
    release(b);
    release(a);
    release(cl);
}

Test(resource, delete_policy_with_cascade_clears_the_reference)
{
    client_t *cl = client("acme");
    policy_t *pol = policy("gold");
    profile_t in = profile_in("acme", "default", NULL, 0, "gold");
    profile_t *p = must_create(&CP_KIND_PROFILE, &in);
    cr_expect_eq(cp_res_delete(s, &CP_KIND_POLICY, "gold", NULL, 0, 0, "e", NULL, NULL, &st), 0);
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION);
    cr_assert_neq(cp_res_delete(s, &CP_KIND_POLICY, "gold", NULL, 0, 1, "e", NULL, NULL, &st), 0,
                  "%s", st.message);
    profile_t *gp = (profile_t *)cp_res_get(s, &CP_KIND_PROFILE, p->id, NULL, &st);
    cr_assert_not_null(gp);
    cr_expect_str_eq(gp->policy_id, "");
    release(gp);
    release(p);
    release(pol);
    release(cl);
}

Test(resource, delete_client_takes_profiles_and_tokens)
{
    client_t *cl = client("acme");
    client_t *keep = client("other");
    collection_t *a = collection("A", "v1");
    char *cols[] = {"A"};
    profile_t in = profile_in("acme", "default", cols, 1, NULL);
    profile_t *p1 = must_create(&CP_KIND_PROFILE, &in);
    in = profile_in("acme", "second", NULL, 0, NULL);
    profile_t *p2 = must_create(&CP_KIND_PROFILE, &in);
    in = profile_in("other", "default", NULL, 0, NULL);
    profile_t *pk = must_create(&CP_KIND_PROFILE, &in);
    token_t *t1 = token(p1, "t1");
    token_t *t2 = token(p2, "t2");
    token_t *tk = token(pk, "tk");
    cr_expect(strncmp(t1->id, "tok_", 4) == 0, "id %s", t1->id);

    Apiplatform__V1__Change **cs = NULL;
    size_t n = 0;
    uint64_t rev = cp_res_delete(s, &CP_KIND_CLIENT, "acme", NULL, cl->revision, 0, "e", &cs, &n,
                                 &st);
    cr_assert_neq(rev, 0, "%s", st.message);
    cr_expect_eq(n, 5);
    cr_expect(has_change(cs, n, "client", cl->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "profile", p1->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "profile", p2->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "token", t1->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    cr_expect(has_change(cs, n, "token", t2->id, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE));
    free_changes(cs, n);

    cr_expect_null(cp_res_get(s, &CP_KIND_CLIENT, cl->id, NULL, &st));
    cr_expect_null(cp_res_get(s, &CP_KIND_PROFILE, p1->id, NULL, &st));
    cr_expect_null(cp_res_get(s, &CP_KIND_PROFILE, p2->id, NULL, &st));
    cr_expect_null(cp_res_get(s, &CP_KIND_TOKEN, t1->id, NULL, &st));
    cr_expect_null(cp_res_get(s, &CP_KIND_TOKEN, t2->id, NULL, &st));
    cr_expect_eq(count("r/profile/"), 1);
    cr_expect_eq(count("r/token/"), 1);
    cr_expect_eq(count("n/profile/"), 1, "index entries of deleted profiles remain");
    cr_expect_eq(count("n/client/"), 1);

    /* the other client's things are untouched, and the collection too */
    void *g = cp_res_get(s, &CP_KIND_TOKEN, tk->id, NULL, &st);
    cr_expect_not_null(g);
    release(g);
    g = cp_res_get(s, &CP_KIND_PROFILE, "default", "other", &st);
    cr_expect_not_null(g, "%s", st.message);
    release(g);
    g = cp_res_get(s, &CP_KIND_COLLECTION, a->id, NULL, &st);
    cr_expect_not_null(g);
    release(g);

    release(tk);
    release(t2);
    release(t1);
    release(pk);
    release(p2);
    release(p1);
    release(a);
    release(keep);
    release(cl);
}

Test(resource, delete_checks_expected_revision_and_existence)
{
    client_t *cl = client("acme");
    client_t *other = client("other");
    cr_expect_eq(cp_res_delete(s, &CP_KIND_CLIENT, "acme", NULL, cl->revision + 1, 0, "e", NULL,
                               NULL, &st),
                 0);
    EXPECT_STATUS(GRPC_STATUS_FAILED_PRECONDITION, "expected_revision:");
    cr_expect_eq(cp_res_delete(s, &CP_KIND_CLIENT, "nobody", NULL, 0, 0, "e", NULL, NULL, &st), 0);
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    cr_expect_eq(cp_store_revision(s), 2);
    cr_expect_eq(cp_res_delete(s, &CP_KIND_CLIENT, "acme", NULL, cl->revision, 0, "e", NULL, NULL,
                               &st),
                 3);
    release(other);
    release(cl);
}
