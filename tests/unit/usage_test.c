/* Unit tests of controlplane/usage.c over a real store in a fresh temporary
 * directory per test: node reports land in minute and day buckets, and
 * GetUsage adds a range of them up into totals, ordered top lists and a
 * series, with filters, range boundaries, the granularity it picks, its
 * refusals, deleted resources and the pruning of old minute buckets. */
#include "usage.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_msg.h"
#include "resource.h"
#include "tmpstore.h"

typedef Apiplatform__V1__GetUsageResponse usage_t;
typedef Apiplatform__V1__UsageCounts counts_t;

static char dir[TMPSTORE_DIR_MAX];
static cp_store_t *s;
static ap_status_t st;

/* a day start, and 10:00 UTC that day */
#define D0 ((int64_t)1798675200)
#define T0 (D0 + 10 * 3600)
#define HOUR 3600
#define DAYS(n) ((int64_t)(n)*86400)

/* Fixture: collection shop (GET /a, GET /b), collection admin (GET /c);
 * client acme with profiles p1 and p2, client beta with profile p3. */
static char *shop, *admin, *ep_a, *ep_b, *ep_c, *acme, *beta, *p1, *p2, *p3;

/* Creates a resource from "field=value" texts and returns its id. */
static char *make_(const cp_kind_t *k, const char *const *fields)
{
    ProtobufCMessage *in = ap_msg_new(k->desc);
    char err[256], path[64];
    for (; *fields != NULL; fields++) {
        const char *eq = strchr(*fields, '=');
        snprintf(path, sizeof(path), "%.*s", (int)(eq - *fields), *fields);
        cr_assert_eq(ap_msg_set_text(in, path, eq + 1, err, sizeof(err)), 0, "%s: %s", *fields,
                     err);
    }
    ProtobufCMessage *m = cp_res_create(s, k, in, "test", &st);
    cr_assert_not_null(m, "create %s: %s", k->name, st.message);
    char *id = strdup(ap_msg_get_str(m, "id"));
    ap_msg_free(m);
    ap_msg_free(in);
    return id;
}
#define MAKE(k, ...) make_(k, (const char *const[]){__VA_ARGS__, NULL})
#define ENDPOINT(col, p)                                                                           \
    MAKE(&CP_KIND_ENDPOINT, "collection_id=" col, "method=GET", "path=" p, "target.kind=upstream", \
         "target.url=http://backend:8080/")

static void setup(void)
{
    s = tmpstore_open("usage_test", dir);
    shop = MAKE(&CP_KIND_COLLECTION, "name=shop", "version=v1");
    admin = MAKE(&CP_KIND_COLLECTION, "name=admin", "version=v1");
    ep_a = ENDPOINT("shop", "/a");
    ep_b = ENDPOINT("shop", "/b");
    ep_c = ENDPOINT("admin", "/c");
    acme = MAKE(&CP_KIND_CLIENT, "name=acme");
    beta = MAKE(&CP_KIND_CLIENT, "name=beta");
    p1 = MAKE(&CP_KIND_PROFILE, "name=p1", "client_id=acme", "collection_ids=shop");
    p2 = MAKE(&CP_KIND_PROFILE, "name=p2", "client_id=acme", "collection_ids=admin");
    p3 = MAKE(&CP_KIND_PROFILE, "name=p3", "client_id=beta", "collection_ids=shop");
}

static void teardown(void)
{
    tmpstore_remove(s, dir);
    s = NULL;
    char **ids[] = {&shop, &admin, &ep_a, &ep_b, &ep_c, &acme, &beta, &p1, &p2, &p3};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        free(*ids[i]);
        *ids[i] = NULL;
    }
}

TestSuite(usage, .init = setup, .fini = teardown);

/* One counter: profile, endpoint, then the six outcomes. */
typedef struct {
    const char *profile, *endpoint;
    uint64_t ok, client_errors, server_errors, rate_limited, quota_exceeded, ip_denied;
} row_in_t;

/* A node report of the rows, received at `now`. */
static void report_(int64_t now, const row_in_t *rows, size_t n)
{
    Apiplatform__V1__UsageReport r = APIPLATFORM__V1__USAGE_REPORT__INIT;
    Apiplatform__V1__UsageCounter c[16], *pc[16];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++) {
        apiplatform__v1__usage_counter__init(&c[i]);
        c[i].profile_id = (char *)rows[i].profile;
        c[i].endpoint_id = (char *)rows[i].endpoint;
        c[i].successful = rows[i].ok;
        c[i].client_errors = rows[i].client_errors;
        c[i].server_errors = rows[i].server_errors;
        c[i].rate_limited = rows[i].rate_limited;
        c[i].quota_exceeded = rows[i].quota_exceeded;
        c[i].ip_denied = rows[i].ip_denied;
        pc[i] = &c[i];
    }
    r.counters = pc;
    r.n_counters = n;
    cp_usage_record(s, &r, now);
}
#define REPORT(now, ...)                                                                           \
    report_(now, (const row_in_t[]){__VA_ARGS__},                                                  \
            sizeof((const row_in_t[]){__VA_ARGS__}) / sizeof(row_in_t))

/* What the bucket of kind 'm' or 'd' at t holds (NULL = no bucket). */
static counts_t *bucket(char kind, int64_t t, const char *profile, const char *endpoint)
{
    char key[256];
    snprintf(key, sizeof(key), "u/%c/%016" PRIx64 "/%s/%s", kind, (uint64_t)t, profile, endpoint);
    return (counts_t *)cp_store_get_msg(s, key, &apiplatform__v1__usage_counts__descriptor);
}

typedef struct {
    int64_t start, end;
    const char *client, *collection, *granularity;
    uint32_t top;
} q_t;

/* GetUsage at `now`; NULL with st set on refusal. */
static usage_t *query(int64_t now, q_t q)
{
    Apiplatform__V1__GetUsageRequest req = APIPLATFORM__V1__GET_USAGE_REQUEST__INIT;
    req.start_time = q.start;
    req.end_time = q.end;
    req.client = (char *)(q.client ? q.client : "");
    req.collection = (char *)(q.collection ? q.collection : "");
    req.granularity = (char *)(q.granularity ? q.granularity : "");
    req.top = q.top;
    memset(&st, 0, sizeof(st));
    return cp_usage_get(s, &req, now, &st);
}

static usage_t *must_query(int64_t now, q_t q)
{
    usage_t *u = query(now, q);
    cr_assert_not_null(u, "GetUsage: %s %s", ap_status_name(st.code), st.message);
    return u;
}

static uint64_t calls(const counts_t *c)
{
    return c->successful + c->client_errors + c->server_errors + c->rate_limited +
           c->quota_exceeded + c->ip_denied;
}

#define EXPECT_COUNTS(c, ok_, ce_, se_, rl_, qe_, ip_)                                             \
    do {                                                                                           \
        const counts_t *c_ = (c);                                                                  \
        cr_assert_not_null(c_);                                                                    \
        cr_expect_eq(c_->successful, ok_, "successful %" PRIu64 ", want %d", c_->successful, ok_); \
        cr_expect_eq(c_->client_errors, ce_, "client_errors %" PRIu64, c_->client_errors);         \
        cr_expect_eq(c_->server_errors, se_, "server_errors %" PRIu64, c_->server_errors);         \
        cr_expect_eq(c_->rate_limited, rl_, "rate_limited %" PRIu64, c_->rate_limited);            \
        cr_expect_eq(c_->quota_exceeded, qe_, "quota_exceeded %" PRIu64, c_->quota_exceeded);      \
        cr_expect_eq(c_->ip_denied, ip_, "ip_denied %" PRIu64, c_->ip_denied);                     \
    } while (0)

#define EXPECT_STATUS(code_, prefix_)                                                              \
    do {                                                                                           \
        cr_expect_eq(st.code, code_, "code %s (want %s): %s", ap_status_name(st.code),             \
                     ap_status_name(code_), st.message);                                           \
        cr_expect(strncmp(st.message, prefix_, strlen(prefix_)) == 0,                              \
                  "message \"%s\" does not start with \"%s\"", st.message, prefix_);               \
    } while (0)

/* ---- recording ---- */

Test(usage, reports_add_into_minute_and_day_buckets)
{
    REPORT(T0 + 5, {p1, ep_a, 3, 1, 0, 0, 0, 0});
    /* the same key twice in one report: both count */
    REPORT(T0 + 30, {p1, ep_a, 2, 0, 0, 0, 0, 0}, {p1, ep_a, 0, 0, 1, 0, 0, 0});
    REPORT(T0 + 65, {p1, ep_a, 1, 0, 0, 4, 5, 6}, {"", "", 0, 7, 0, 0, 0, 0});

    counts_t *m0 = bucket('m', T0, p1, ep_a), *m1 = bucket('m', T0 + 60, p1, ep_a),
             *d = bucket('d', D0, p1, ep_a), *none = bucket('d', D0, "", "");
    EXPECT_COUNTS(m0, 5, 1, 1, 0, 0, 0);
    EXPECT_COUNTS(m1, 1, 0, 0, 4, 5, 6);
    EXPECT_COUNTS(d, 6, 1, 1, 4, 5, 6);
    EXPECT_COUNTS(none, 0, 7, 0, 0, 0, 0);
    cr_expect_null(bucket('m', T0, "", ""), "no-token calls came in the second minute only");
    /* all-zero counters and ids that cannot be key parts are not stored */
    REPORT(T0 + 200, {p2, ep_c, 0, 0, 0, 0, 0, 0}, {"a/b", ep_c, 1, 0, 0, 0, 0, 0});
    cr_expect_null(bucket('d', D0, p2, ep_c));
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "u/m/%016" PRIx64 "/", (uint64_t)(T0 + 180));
    cr_expect_eq(tmpstore_count(s, prefix), 0, "nothing stored in that minute");
    ap_msg_free(&m0->base);
    ap_msg_free(&m1->base);
    ap_msg_free(&d->base);
    ap_msg_free(&none->base);
}

Test(usage, old_minute_buckets_are_pruned_day_buckets_kept)
{
    REPORT(T0, {p1, ep_a, 1, 0, 0, 0, 0, 0});
    REPORT(T0 + DAYS(6), {p1, ep_a, 1, 0, 0, 0, 0, 0});
    counts_t *c = bucket('m', T0, p1, ep_a);
    cr_expect_not_null(c, "kept for 7 days");
    ap_msg_free((ProtobufCMessage *)c);
    REPORT(T0 + DAYS(7) + 60, {p1, ep_a, 1, 0, 0, 0, 0, 0});
    cr_expect_null(bucket('m', T0, p1, ep_a), "a minute bucket older than 7 days is gone");
    c = bucket('m', T0 + DAYS(6), p1, ep_a);
    cr_expect_not_null(c, "a newer one stays");
    ap_msg_free((ProtobufCMessage *)c);
    c = bucket('d', D0, p1, ep_a);
    EXPECT_COUNTS(c, 1, 0, 0, 0, 0, 0);
    ap_msg_free((ProtobufCMessage *)c);

    /* minute buckets of that time are not asked for */
    int64_t now = T0 + DAYS(7) + 60;
    cr_expect_null(query(now, (q_t){T0 - HOUR, T0 + HOUR, .granularity = "minute"}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.granularity:");
    usage_t *u = must_query(now, (q_t){T0 - HOUR, T0 + HOUR});
    cr_expect_str_eq(u->granularity, "day", "a short range past the minute buckets: days");
    ap_msg_free(&u->base);
    u = must_query(now, (q_t){D0, D0 + DAYS(1), .granularity = "day"});
    EXPECT_COUNTS(u->totals, 1, 0, 0, 0, 0, 0);
    ap_msg_free(&u->base);
}

/* ---- queries ---- */

/* Traffic of one hour: acme (p1, p2) calls most, beta (p3) less, and some
 * calls had no token or no route. */
static void traffic(void)
{
    REPORT(T0 + 1, {p1, ep_a, 10, 1, 0, 2, 0, 0}, {p3, ep_a, 3, 0, 1, 0, 0, 0},
           {"", "", 0, 4, 0, 0, 0, 0});
    REPORT(T0 + 61, {p1, ep_b, 5, 0, 0, 0, 1, 0}, {p2, ep_c, 7, 0, 0, 0, 0, 1},
           {p3, ep_b, 2, 0, 0, 0, 0, 0});
    REPORT(T0 + 125, {p3, "", 0, 2, 0, 0, 0, 0}, {"", ep_a, 0, 3, 0, 0, 0, 0});
}

static const Apiplatform__V1__UsageRow *row(Apiplatform__V1__UsageRow **rows, size_t n,
                                            const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i]->name, name) == 0) return rows[i];
    cr_assert_fail("no row named %s", name);
    return NULL;
}

Test(usage, totals_top_lists_and_series)
{
    traffic();
    usage_t *u = must_query(T0 + HOUR, (q_t){0});
    cr_expect_eq(u->end_time, T0 + HOUR, "end 0 = now");
    cr_expect_eq(u->start_time, T0 + HOUR - DAYS(1), "start 0 = 24 hours before end");
    cr_expect_str_eq(u->granularity, "minute");
    /* successful 27, client errors 10, server 1, rate 2, quota 1, ip 1 */
    EXPECT_COUNTS(u->totals, 27, 10, 1, 2, 1, 1);

    cr_assert_eq(u->n_top_clients, 3);
    cr_expect_str_eq(u->top_clients[0]->id, acme);
    cr_expect_str_eq(u->top_clients[0]->name, "acme");
    EXPECT_COUNTS(u->top_clients[0]->counts, 22, 1, 0, 2, 1, 1); /* p1 + p2 */
    cr_expect_str_eq(u->top_clients[1]->name, "beta");
    EXPECT_COUNTS(u->top_clients[1]->counts, 5, 2, 1, 0, 0, 0);
    cr_expect_str_eq(u->top_clients[2]->name, "(no token)");
    cr_expect_str_eq(u->top_clients[2]->id, "");
    cr_expect_eq(calls(u->top_clients[2]->counts), 7);

    cr_assert_eq(u->n_top_endpoints, 4);
    /* ties by name */
    const char *order[] = {"GET /a", "GET /b", "GET /c", "(no route)"};
    uint64_t want[] = {20, 8, 8, 6};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_str_eq(u->top_endpoints[i]->name, order[i], "endpoint %zu", i);
        cr_expect_eq(calls(u->top_endpoints[i]->counts), want[i], "%s", order[i]);
    }
    cr_expect_str_eq(u->top_endpoints[0]->id, ep_a);
    cr_expect_str_eq(u->top_endpoints[0]->detail, "shop");
    cr_expect_str_eq(u->top_endpoints[1]->detail, "shop");
    cr_expect_str_eq(u->top_endpoints[2]->detail, "admin");

    cr_assert_eq(u->n_series, 3, "one point per minute with traffic");
    int64_t when[] = {T0, T0 + 60, T0 + 120};
    uint64_t per[] = {21, 16, 5};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(u->series[i]->time, when[i]);
        cr_expect_eq(calls(u->series[i]->counts), per[i], "minute %zu", i);
    }
    ap_msg_free(&u->base);

    u = must_query(T0 + HOUR, (q_t){.top = 1});
    cr_expect_eq(u->n_top_clients, 1);
    cr_expect_eq(u->n_top_endpoints, 1);
    cr_expect_str_eq(u->top_endpoints[0]->name, "GET /a");
    EXPECT_COUNTS(u->totals, 27, 10, 1, 2, 1, 1); /* the cut leaves totals alone */
    ap_msg_free(&u->base);
}

Test(usage, client_and_collection_filters)
{
    traffic();
    int64_t now = T0 + HOUR;
    const char *refs[] = {"beta", beta};
    for (size_t i = 0; i < 2; i++) {
        usage_t *u = must_query(now, (q_t){.client = refs[i]});
        EXPECT_COUNTS(u->totals, 5, 2, 1, 0, 0, 0);
        cr_assert_eq(u->n_top_clients, 1);
        cr_expect_str_eq(u->top_clients[0]->id, beta);
        cr_expect_eq(u->n_top_endpoints, 3); /* /a, /b and no route */
        ap_msg_free(&u->base);
    }

    usage_t *u = must_query(now, (q_t){.collection = "admin"});
    EXPECT_COUNTS(u->totals, 7, 0, 0, 0, 0, 1);
    cr_assert_eq(u->n_top_endpoints, 1);
    cr_expect_str_eq(u->top_endpoints[0]->id, ep_c);
    cr_assert_eq(u->n_top_clients, 1);
    cr_expect_str_eq(u->top_clients[0]->name, "acme");
    ap_msg_free(&u->base);

    u = must_query(now, (q_t){.client = "acme", .collection = shop});
    EXPECT_COUNTS(u->totals, 15, 1, 0, 2, 1, 0);
    ap_msg_free(&u->base);

    cr_expect_null(query(now, (q_t){.client = "nobody"}));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "client \"nobody\" not found");
    cr_expect_null(query(now, (q_t){.collection = "nothing"}));
    EXPECT_STATUS(GRPC_STATUS_NOT_FOUND, "collection \"nothing\" not found");
}

Test(usage, range_start_inclusive_end_exclusive)
{
    traffic();
    int64_t now = T0 + HOUR;
    usage_t *u = must_query(now, (q_t){T0 + 60, T0 + 120});
    cr_expect_eq(calls(u->totals), 16, "only the middle minute");
    cr_expect_eq(u->n_series, 1);
    cr_expect_eq(u->start_time, T0 + 60);
    cr_expect_eq(u->end_time, T0 + 120);
    ap_msg_free(&u->base);
    u = must_query(now, (q_t){T0, T0 + 60});
    cr_expect_eq(calls(u->totals), 21, "a bucket starting at start counts");
    ap_msg_free(&u->base);
    u = must_query(now, (q_t){T0 + 1, T0 + 61});
    cr_expect_eq(calls(u->totals), 37, "the buckets it overlaps count whole: 0 and 60");
    cr_expect_eq(u->start_time, T0, "and the answer says so");
    cr_expect_eq(u->end_time, T0 + 120);
    ap_msg_free(&u->base);
    u = must_query(now, (q_t){T0 + 60, T0 + 61});
    cr_expect_eq(calls(u->totals), 16, "a second of a minute: that minute");
    ap_msg_free(&u->base);
    u = must_query(now, (q_t){T0 - HOUR, T0});
    cr_expect_eq(calls(u->totals), 0, "a bucket starting at end does not");
    cr_expect_eq(u->n_series, 0);
    cr_expect_eq(u->n_top_clients, 0);
    cr_expect_eq(u->n_top_endpoints, 0);
    cr_assert_not_null(u->totals, "totals are there, zero");
    ap_msg_free(&u->base);
}

Test(usage, granularity_follows_the_range)
{
    traffic();
    REPORT(T0 + DAYS(1), {p1, ep_a, 100, 0, 0, 0, 0, 0});
    int64_t now = T0 + DAYS(2);
    usage_t *u = must_query(now, (q_t){now - 48 * HOUR, now});
    cr_expect_str_eq(u->granularity, "minute", "48 hours: minutes");
    cr_expect_eq(u->n_series, 4);
    ap_msg_free(&u->base);

    u = must_query(now, (q_t){T0 - 60, now + 1});
    cr_expect_str_eq(u->granularity, "day", "over 48 hours: days");
    cr_expect_eq(u->start_time, D0);
    cr_expect_eq(u->end_time, D0 + DAYS(3));
    cr_assert_eq(u->n_series, 2, "days with traffic");
    cr_expect_eq(u->series[0]->time, D0);
    cr_expect_eq(u->series[1]->time, D0 + DAYS(1));
    cr_expect_eq(calls(u->totals), 142);
    ap_msg_free(&u->base);

    u = must_query(now, (q_t){D0 + DAYS(1), D0 + DAYS(4)});
    cr_expect_str_eq(u->granularity, "day");
    cr_expect_eq(calls(u->totals), 100, "the day before the range is out");
    ap_msg_free(&u->base);

    u = must_query(now, (q_t){D0, now, .granularity = "day"});
    cr_expect_str_eq(u->granularity, "day");
    cr_assert_eq(u->n_series, 2);
    cr_expect_eq(u->series[0]->time, D0);
    cr_expect_eq(calls(u->series[0]->counts), 42);
    cr_expect_eq(u->series[1]->time, D0 + DAYS(1));
    cr_expect_eq(calls(u->totals), 142);
    cr_expect_eq(calls(u->top_clients[0]->counts), 127);
    ap_msg_free(&u->base);

    u = must_query(now, (q_t){D0, now, .granularity = "minute"});
    cr_expect_str_eq(u->granularity, "minute", "asked for: kept");
    cr_expect_eq(calls(u->totals), 142, "minutes and days agree");
    ap_msg_free(&u->base);
}

Test(usage, bad_requests_name_the_field)
{
    cr_expect_null(query(T0, (q_t){.granularity = "hour"}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.granularity: \"hour\"");
    cr_expect_null(query(T0, (q_t){.top = 1001}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.top:");
    usage_t *u = must_query(T0, (q_t){.top = 1000});
    ap_msg_free(&u->base);
    cr_expect_null(query(T0, (q_t){T0, T0}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.start_time:");
    cr_expect_null(query(T0, (q_t){T0 + HOUR}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.start_time:");
    cr_expect_null(query(T0, (q_t){-5, T0}));
    EXPECT_STATUS(GRPC_STATUS_INVALID_ARGUMENT, "usage.start_time:");
}

Test(usage, deleted_resources_keep_their_ids)
{
    traffic();
    cr_assert_neq(cp_res_delete(s, &CP_KIND_ENDPOINT, ep_b, NULL, 0, 0, "test", NULL, NULL, &st), 0,
                  "%s", st.message);
    cr_assert_neq(cp_res_delete(s, &CP_KIND_PROFILE, p2, NULL, 0, 0, "test", NULL, NULL, &st), 0,
                  "%s", st.message);
    usage_t *u = must_query(T0 + HOUR, (q_t){0});
    EXPECT_COUNTS(u->totals, 27, 10, 1, 2, 1, 1);
    const Apiplatform__V1__UsageRow *r = row(u->top_endpoints, u->n_top_endpoints, "(deleted)");
    cr_expect_str_eq(r->id, ep_b);
    cr_expect_eq(calls(r->counts), 8);
    r = row(u->top_clients, u->n_top_clients, "(deleted)");
    cr_expect_str_eq(r->id, p2, "a deleted profile's id stands for its client");
    cr_expect_eq(calls(r->counts), 8);
    EXPECT_COUNTS(row(u->top_clients, u->n_top_clients, "acme")->counts, 15, 1, 0, 2, 1, 0);
    ap_msg_free(&u->base);

    /* a filter cannot place what is gone */
    u = must_query(T0 + HOUR, (q_t){.collection = "shop"});
    cr_expect_eq(calls(u->totals), 20, "/a only: /b is gone");
    ap_msg_free(&u->base);
}
