/* Unit tests of Apply and Export (controlplane/apply.c) over a real store:
 * one revision per apply, idempotence, export round trips, all-or-nothing
 * on a bad item, prune limited to the selector, stale expected revisions,
 * prunes that would leave a dangling reference, and a large bundle. */
#define _GNU_SOURCE /* nftw */
#include "apply.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_msg.h"
#include "resource.h"

static char dir[512];
static cp_store_t *s;
static ap_status_t st;

static cp_store_t *open_store(const char *suffix)
{
    char d[600], *err = NULL;
    snprintf(d, sizeof(d), "%s%s", dir, suffix);
    cp_store_t *x = cp_store_open(d, 0, &err);
    cr_assert_not_null(x, "%s", err ? err : "");
    return x;
}

static void setup(void)
{
    const char *base = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/apply_test.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    s = open_store("/a");
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void teardown(void)
{
    cp_store_close(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(apply, .init = setup, .fini = teardown);

/* ---- bundle builders (heap, freed with the bundle) ---- */

#define APPEND(arr, n, x)                                                                          \
    do {                                                                                           \
        (arr) = realloc((arr), ((n) + 1) * sizeof(*(arr)));                                        \
        (arr)[(n)++] = (x);                                                                        \
    } while (0)

static Apiplatform__V1__Bundle *bundle(void)
{
    return (Apiplatform__V1__Bundle *)ap_msg_new(&apiplatform__v1__bundle__descriptor);
}

static void label(ProtobufCMessage *m, const char *k, const char *v)
{
    Apiplatform__V1__Label *l =
        (Apiplatform__V1__Label *)ap_msg_new(&apiplatform__v1__label__descriptor);
    ap_msg_set_str(&l->base, "key", k);
    ap_msg_set_str(&l->base, "value", v);
    const ProtobufCFieldDescriptor *fd = ap_msg_field(m->descriptor, "labels");
    size_t *n = (size_t *)((char *)m + fd->quantifier_offset);
    Apiplatform__V1__Label ***arr = (Apiplatform__V1__Label ***)((char *)m + fd->offset);
    APPEND(*arr, *n, l);
}

static Apiplatform__V1__BundleCollection *add_collection(Apiplatform__V1__Bundle *b,
                                                         const char *name, const char *version)
{
    Apiplatform__V1__BundleCollection *bc = (Apiplatform__V1__BundleCollection *)ap_msg_new(
        &apiplatform__v1__bundle_collection__descriptor);
    bc->collection =
        (Apiplatform__V1__Collection *)ap_msg_new(&apiplatform__v1__collection__descriptor);
    ap_msg_set_str(&bc->collection->base, "name", name);
    ap_msg_set_str(&bc->collection->base, "version", version);
    APPEND(b->collections, b->n_collections, bc);
    return bc;
}

static void add_endpoint(Apiplatform__V1__BundleCollection *bc, const char *method,
                         const char *path)
{
    Apiplatform__V1__Endpoint *e =
        (Apiplatform__V1__Endpoint *)ap_msg_new(&apiplatform__v1__endpoint__descriptor);
    char err[128];
    ap_msg_set_str(&e->base, "method", method);
    ap_msg_set_str(&e->base, "path", path);
    cr_assert_eq(ap_msg_set_text(&e->base, "target.kind", "static", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(ap_msg_set_text(&e->base, "target.status", "200", err, sizeof(err)), 0, "%s", err);
    APPEND(bc->endpoints, bc->n_endpoints, e);
}

static void add_policy(Apiplatform__V1__Bundle *b, const char *name)
{
    Apiplatform__V1__AccessPolicy *p =
        (Apiplatform__V1__AccessPolicy *)ap_msg_new(&apiplatform__v1__access_policy__descriptor);
    char err[128];
    ap_msg_set_str(&p->base, "name", name);
    cr_assert_eq(ap_msg_set_text(&p->base, "rate_limit.count", "100", err, sizeof(err)), 0);
    cr_assert_eq(ap_msg_set_text(&p->base, "rate_limit.period", "minute", err, sizeof(err)), 0);
    APPEND(b->policies, b->n_policies, p);
}

static Apiplatform__V1__BundleClient *add_client(Apiplatform__V1__Bundle *b, const char *name)
{
    Apiplatform__V1__BundleClient *bc =
        (Apiplatform__V1__BundleClient *)ap_msg_new(&apiplatform__v1__bundle_client__descriptor);
    bc->client = (Apiplatform__V1__Client *)ap_msg_new(&apiplatform__v1__client__descriptor);
    ap_msg_set_str(&bc->client->base, "name", name);
    APPEND(b->clients, b->n_clients, bc);
    return bc;
}

static Apiplatform__V1__AccessProfile *add_profile(Apiplatform__V1__BundleClient *bc,
                                                   const char *name, const char *col,
                                                   const char *policy)
{
    Apiplatform__V1__AccessProfile *p =
        (Apiplatform__V1__AccessProfile *)ap_msg_new(&apiplatform__v1__access_profile__descriptor);
    char err[128];
    ap_msg_set_str(&p->base, "name", name);
    if (col) cr_assert_eq(ap_msg_set_text(&p->base, "collection_ids", col, err, sizeof(err)), 0);
    if (policy) ap_msg_set_str(&p->base, "policy_id", policy);
    APPEND(bc->profiles, bc->n_profiles, p);
    return p;
}

/* The demo bundle: a policy, a collection with two endpoints, a client with
 * a profile naming both. */
static Apiplatform__V1__Bundle *demo(void)
{
    Apiplatform__V1__Bundle *b = bundle();
    add_policy(b, "standard");
    Apiplatform__V1__BundleCollection *c = add_collection(b, "Sales API", "v1");
    add_endpoint(c, "GET", "/orders/{id}");
    add_endpoint(c, "POST", "/orders");
    add_profile(add_client(b, "acme"), "default", "Sales API", "standard");
    return b;
}

static Apiplatform__V1__ApplyResponse *run(cp_store_t *x, Apiplatform__V1__Bundle *b, int prune,
                                           const char *selk, const char *selv, uint64_t expect)
{
    Apiplatform__V1__ApplyRequest req = APIPLATFORM__V1__APPLY_REQUEST__INIT;
    Apiplatform__V1__Label sel = APIPLATFORM__V1__LABEL__INIT, *selp = &sel;
    req.bundle = b;
    req.prune = prune;
    req.expected_revision = expect;
    if (selk) {
        sel.key = (char *)selk;
        sel.value = (char *)selv;
        req.n_selector = 1;
        req.selector = &selp;
    }
    return cp_apply(x, &req, "test", &st);
}

static size_t count(cp_store_t *x, const cp_kind_t *k)
{
    ProtobufCMessage **items;
    size_t n;
    char *next;
    cr_assert_eq(cp_res_list(x, k, NULL, 1000, NULL, &items, &n, &next, &st), 0);
    for (size_t i = 0; i < n; i++)
        ap_msg_free(items[i]);
    free(items);
    free(next);
    return n;
}

Test(apply, creates_everything_in_one_revision)
{
    Apiplatform__V1__Bundle *b = demo();
    Apiplatform__V1__ApplyResponse *r = run(s, b, 0, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(r->n_changes, 6);
    cr_expect_eq(r->revision, 1);
    cr_expect_eq(cp_store_revision(s), 1);
    cr_expect_eq(count(s, &CP_KIND_ENDPOINT), 2);
    ProtobufCMessage *p = cp_res_get(s, &CP_KIND_PROFILE, "default", "acme", &st);
    cr_assert_not_null(p, "%s", st.message);
    ProtobufCMessage *c = cp_res_get(s, &CP_KIND_COLLECTION, "Sales API", NULL, &st);
    cr_expect_str_eq(ap_msg_get_str_at(p, "collection_ids", 0), ap_msg_get_str(c, "id"));
    ap_msg_free(p);
    ap_msg_free(c);
    ap_msg_free(&r->base);
    ap_msg_free(&b->base);
}

Test(apply, twice_is_a_no_op)
{
    Apiplatform__V1__Bundle *b = demo();
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    Apiplatform__V1__ApplyResponse *r = run(s, b, 0, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(r->n_changes, 0, "second apply planned %zu changes, first: %s %s (%s)",
                 r->n_changes, r->n_changes ? r->changes[0]->kind : "",
                 r->n_changes ? r->changes[0]->name : "",
                 r->n_changes && r->changes[0]->n_fields ? r->changes[0]->fields[0] : "");
    cr_expect_eq(r->revision, 0);
    cr_expect_eq(cp_store_revision(s), 1, "no new revision");
    ap_msg_free(&r->base);
    ap_msg_free(&b->base);
}

Test(apply, an_update_names_the_fields)
{
    Apiplatform__V1__Bundle *b = demo();
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    ap_msg_set_str(&b->collections[0]->collection->base, "description", "changed");
    Apiplatform__V1__ApplyResponse *r = run(s, b, 0, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_assert_eq(r->n_changes, 1);
    cr_expect_eq(r->changes[0]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    cr_assert_eq(r->changes[0]->n_fields, 1);
    cr_expect_str_eq(r->changes[0]->fields[0], "description");
    ap_msg_free(&r->base);
    ap_msg_free(&b->base);
}

Test(apply, export_round_trips)
{
    Apiplatform__V1__Bundle *b = demo();
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    Apiplatform__V1__Bundle *e = cp_export(s, NULL, 0, &st);
    cr_assert_not_null(e, "%s", st.message);
    Apiplatform__V1__ApplyResponse *r = run(s, e, 0, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(r->n_changes, 0, "export | apply changed %zu things", r->n_changes);
    ap_msg_free(&r->base);
    cp_store_t *empty = open_store("/b");
    r = run(empty, e, 0, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(count(empty, &CP_KIND_ENDPOINT), 2);
    cr_expect_eq(count(empty, &CP_KIND_PROFILE), 1);
    ap_msg_free(&r->base);
    Apiplatform__V1__Bundle *e2 = cp_export(empty, NULL, 0, &st);
    size_t n1 = protobuf_c_message_get_packed_size(&e->base),
           n2 = protobuf_c_message_get_packed_size(&e2->base);
    cr_expect_eq(n1, n2, "the two exports differ");
    cp_store_close(empty);
    ap_msg_free(&e2->base);
    ap_msg_free(&e->base);
    ap_msg_free(&b->base);
}

Test(apply, one_bad_item_changes_nothing)
{
    Apiplatform__V1__Bundle *b = demo();
    add_collection(b, "Broken", "version-too-long");
    Apiplatform__V1__ApplyResponse *r = run(s, b, 0, NULL, NULL, 0);
    cr_expect_null(r);
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(st.message, "collections[1]") && strstr(st.message, "collection.version"),
              "%s", st.message);
    cr_expect_eq(cp_store_revision(s), 0);
    ap_msg_free(&b->base);
}

Test(apply, unknown_reference_is_not_found)
{
    Apiplatform__V1__Bundle *b = demo();
    add_profile(b->clients[0], "other", "Nope API", NULL);
    cr_expect_null(run(s, b, 0, NULL, NULL, 0));
    cr_expect_eq(st.code, GRPC_STATUS_NOT_FOUND);
    cr_expect(strstr(st.message, "clients[0].profiles[1].collections") != NULL, "%s", st.message);
    ap_msg_free(&b->base);
}

Test(apply, stale_expected_revision)
{
    Apiplatform__V1__Bundle *b = demo();
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    cr_expect_null(run(s, b, 0, NULL, NULL, 7));
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION);
    ap_msg_free(&b->base);
}

Test(apply, prune_removes_only_what_the_selector_owns)
{
    Apiplatform__V1__Bundle *b = bundle();
    Apiplatform__V1__BundleClient *mine = add_client(b, "mine");
    label(&mine->client->base, "team", "payments");
    add_client(b, "theirs");
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    ap_msg_free(&b->base);

    Apiplatform__V1__Bundle *none = bundle();
    Apiplatform__V1__ApplyResponse *r = run(s, none, 1, "team", "payments", 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(r->n_changes, 1);
    cr_expect_eq(count(s, &CP_KIND_CLIENT), 1);
    ProtobufCMessage *left = cp_res_get(s, &CP_KIND_CLIENT, "theirs", NULL, &st);
    cr_expect_not_null(left, "the unlabeled client stays");
    ap_msg_free(left);
    ap_msg_free(&r->base);
    ap_msg_free(&none->base);
}

Test(apply, bundle_items_must_carry_the_selector)
{
    Apiplatform__V1__Bundle *b = bundle();
    add_client(b, "unlabeled");
    cr_expect_null(run(s, b, 1, "team", "payments", 0));
    cr_expect_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    cr_expect(strstr(st.message, "clients[0]") != NULL, "%s", st.message);
    ap_msg_free(&b->base);
}

Test(apply, prune_refuses_to_leave_a_dangling_reference)
{
    /* the collection is owned by team=a; the client and its profile are not */
    Apiplatform__V1__Bundle *b = demo();
    label(&b->collections[0]->collection->base, "team", "a");
    ap_msg_free(&run(s, b, 0, NULL, NULL, 0)->base);
    Apiplatform__V1__Bundle *none = bundle();
    cr_expect_null(run(s, none, 1, "team", "a", 0));
    cr_expect_eq(st.code, GRPC_STATUS_FAILED_PRECONDITION);
    cr_expect(strstr(st.message, "profile \"default\"") != NULL, "%s", st.message);
    cr_expect_eq(count(s, &CP_KIND_COLLECTION), 1, "nothing deleted");
    /* once the profile lets go (a bundle that owns everything), it goes */
    Apiplatform__V1__Bundle *c = bundle();
    add_policy(c, "standard");
    add_profile(add_client(c, "acme"), "default", NULL, "standard");
    Apiplatform__V1__ApplyResponse *r = run(s, c, 1, NULL, NULL, 0);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(count(s, &CP_KIND_COLLECTION), 0);
    cr_expect_eq(count(s, &CP_KIND_ENDPOINT), 0, "endpoints go with their collection");
    ap_msg_free(&r->base);
    ap_msg_free(&c->base);
    ap_msg_free(&none->base);
    ap_msg_free(&b->base);
}

Test(apply, a_thousand_endpoints_and_five_hundred_clients_in_one_revision)
{
    Apiplatform__V1__Bundle *b = bundle();
    char name[64], path[64];
    for (int c = 0; c < 10; c++) {
        snprintf(name, sizeof(name), "api-%d", c);
        Apiplatform__V1__BundleCollection *bc = add_collection(b, name, "v1");
        for (int e = 0; e < 100; e++) {
            snprintf(path, sizeof(path), "/things/%d/{id}", e);
            add_endpoint(bc, "GET", path);
        }
    }
    for (int c = 0; c < 500; c++) {
        snprintf(name, sizeof(name), "client-%d", c);
        add_profile(add_client(b, name), "default", "api-1", NULL);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Apiplatform__V1__ApplyResponse *r = run(s, b, 0, NULL, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_not_null(r, "%s", st.message);
    cr_expect_eq(r->n_changes, 10 + 1000 + 500 + 500);
    cr_expect_eq(cp_store_revision(s), 1);
    fprintf(stderr,
            "# apply of 10 collections, 1000 endpoints, 500 clients, 500 profiles: %.3f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    ap_msg_free(&r->base);
    ap_msg_free(&b->base);
}
