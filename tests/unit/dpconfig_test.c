/* Unit tests of dataplane/config.c and tokens.c: what compiling a snapshot
 * copies and resolves (upstream URLs, policies, defaults), each reason it
 * refuses a snapshot, token lookup by SHA-256, IP allow lists, and the
 * reference counting behind the current-config swap. */
#include "ap_token.h"
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define FREED(p) __asan_address_is_poisoned(p)
#endif

/* ---- snapshot fixture over strdup'd strings ---- */

#define FX_MAX 64

typedef struct {
    Apiplatform__V1__Snapshot snap;
    Apiplatform__V1__Settings settings;
    Apiplatform__V1__Collection cols[FX_MAX], *colp[FX_MAX];
    Apiplatform__V1__Endpoint eps[FX_MAX], *epp[FX_MAX];
    Apiplatform__V1__Target tgts[FX_MAX];
    Apiplatform__V1__Client clients[FX_MAX], *clientp[FX_MAX];
    Apiplatform__V1__AccessProfile profiles[FX_MAX], *profilep[FX_MAX];
    char *prof_cols[FX_MAX][8];
    char *prof_ips[FX_MAX][16];
    Apiplatform__V1__AccessPolicy policies[FX_MAX], *policyp[FX_MAX];
    Apiplatform__V1__RateLimit rates[FX_MAX];
    Apiplatform__V1__Quota quotas[FX_MAX];
    Apiplatform__V1__Token *tokenp;
    size_t cap_tokens;
    char *domains[8];
    char **strs;
    size_t n_strs, cap_strs;
} fx_t;

static char *str(fx_t *f, const char *s)
{
    if (f->n_strs == f->cap_strs) {
        f->cap_strs = f->cap_strs ? f->cap_strs * 2 : 256;
        f->strs = realloc(f->strs, f->cap_strs * sizeof(*f->strs));
        cr_assert_not_null(f->strs);
    }
    return f->strs[f->n_strs++] = strdup(s);
}

static fx_t *fx_new(const char *prefix)
{
    fx_t *f = calloc(1, sizeof(*f));
    cr_assert_not_null(f);
    f->snap = (Apiplatform__V1__Snapshot)APIPLATFORM__V1__SNAPSHOT__INIT;
    f->snap.collections = f->colp;
    f->snap.endpoints = f->epp;
    f->snap.clients = f->clientp;
    f->snap.profiles = f->profilep;
    f->snap.policies = f->policyp;
    if (prefix != NULL) {
        f->settings = (Apiplatform__V1__Settings)APIPLATFORM__V1__SETTINGS__INIT;
        f->settings.api_prefix = str(f, prefix);
        f->settings.custom_domains = f->domains;
        f->snap.settings = &f->settings;
    }
    return f;
}

static Apiplatform__V1__Collection *fx_col(fx_t *f, const char *id, const char *path)
{
    size_t i = f->snap.n_collections++;
    Apiplatform__V1__Collection *c = &f->cols[i];
    *c = (Apiplatform__V1__Collection)APIPLATFORM__V1__COLLECTION__INIT;
    c->id = str(f, id);
    c->name = str(f, id);
    c->path = str(f, path);
    return f->colp[i] = c;
}

/* An upstream endpoint (url NULL: a static 200). */
static Apiplatform__V1__Endpoint *fx_ep(fx_t *f, const char *id, const char *col,
                                        const char *method, const char *path, const char *url)
{
    size_t i = f->snap.n_endpoints++;
    Apiplatform__V1__Endpoint *e = &f->eps[i];
    *e = (Apiplatform__V1__Endpoint)APIPLATFORM__V1__ENDPOINT__INIT;
    e->id = str(f, id);
    e->name = str(f, id);
    e->collection_id = str(f, col);
    e->method = str(f, method);
    e->path = str(f, path);
    e->active = 1;
    e->timeout_ms = 30000;
    Apiplatform__V1__Target *t = &f->tgts[i];
    *t = (Apiplatform__V1__Target)APIPLATFORM__V1__TARGET__INIT;
    if (url != NULL) {
        t->kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM;
        t->url = str(f, url);
    } else {
        t->kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC;
        t->status = 200;
    }
    e->target = t;
    return f->epp[i] = e;
}

static Apiplatform__V1__Client *fx_client(fx_t *f, const char *id)
{
    size_t i = f->snap.n_clients++;
    Apiplatform__V1__Client *c = &f->clients[i];
    *c = (Apiplatform__V1__Client)APIPLATFORM__V1__CLIENT__INIT;
    c->id = str(f, id);
    c->name = str(f, id);
    return f->clientp[i] = c;
}

static Apiplatform__V1__AccessPolicy *fx_policy(fx_t *f, const char *id)
{
    size_t i = f->snap.n_policies++;
    Apiplatform__V1__AccessPolicy *p = &f->policies[i];
    *p = (Apiplatform__V1__AccessPolicy)APIPLATFORM__V1__ACCESS_POLICY__INIT;
    p->id = str(f, id);
    p->name = str(f, id);
    return f->policyp[i] = p;
}

static void fx_rate(fx_t *f, Apiplatform__V1__AccessPolicy *p, uint64_t n,
                    Apiplatform__V1__RatePeriod per)
{
    Apiplatform__V1__RateLimit *r = &f->rates[p - f->policies];
    *r = (Apiplatform__V1__RateLimit)APIPLATFORM__V1__RATE_LIMIT__INIT;
    r->count = n;
    r->period = per;
    p->rate_limit = r;
}

static void fx_quota(fx_t *f, Apiplatform__V1__AccessPolicy *p, uint64_t n,
                     Apiplatform__V1__QuotaPeriod per)
{
    Apiplatform__V1__Quota *q = &f->quotas[p - f->policies];
    *q = (Apiplatform__V1__Quota)APIPLATFORM__V1__QUOTA__INIT;
    q->count = n;
    q->period = per;
    p->quota = q;
}

/* cols: NULL-terminated ids. policy may be NULL. */
static Apiplatform__V1__AccessProfile *fx_profile(fx_t *f, const char *id, const char *client,
                                                  const char *const *cols, const char *policy)
{
    size_t i = f->snap.n_profiles++;
    Apiplatform__V1__AccessProfile *p = &f->profiles[i];
    *p = (Apiplatform__V1__AccessProfile)APIPLATFORM__V1__ACCESS_PROFILE__INIT;
    p->id = str(f, id);
    p->name = str(f, id);
    p->client_id = str(f, client);
    p->collection_ids = f->prof_cols[i];
    for (; cols != NULL && *cols != NULL; cols++)
        f->prof_cols[i][p->n_collection_ids++] = str(f, *cols);
    if (policy != NULL) p->policy_id = str(f, policy);
    p->ip_allow = f->prof_ips[i];
    return f->profilep[i] = p;
}

static void fx_ip(fx_t *f, Apiplatform__V1__AccessProfile *p, const char *cidr)
{
    p->ip_allow[p->n_ip_allow++] = str(f, cidr);
}

/* A token for the secret (hashed with ap_sha256_hex, as the control plane
 * does). */
static Apiplatform__V1__Token *fx_token(fx_t *f, const char *id, const char *profile,
                                        const char *secret)
{
    if (f->snap.n_tokens == f->cap_tokens) {
        /* tokens move when the array grows: keep pointers in a second array */
        f->cap_tokens = f->cap_tokens ? f->cap_tokens * 2 : 16;
        f->tokenp = realloc(f->tokenp, f->cap_tokens * sizeof(*f->tokenp));
        f->snap.tokens = realloc(f->snap.tokens, f->cap_tokens * sizeof(*f->snap.tokens));
        for (size_t i = 0; i < f->snap.n_tokens; i++)
            f->snap.tokens[i] = &f->tokenp[i];
    }
    size_t i = f->snap.n_tokens++;
    Apiplatform__V1__Token *t = &f->tokenp[i];
    *t = (Apiplatform__V1__Token)APIPLATFORM__V1__TOKEN__INIT;
    t->id = str(f, id);
    t->profile_id = str(f, profile);
    char hex[65];
    ap_sha256_hex(secret, strlen(secret), hex);
    t->sha256 = str(f, hex);
    f->snap.tokens[i] = t;
    return t;
}

static void fx_free(fx_t *f)
{
    for (size_t i = 0; i < f->n_strs; i++) {
        memset(f->strs[i], 'X', strlen(f->strs[i]));
        free(f->strs[i]);
    }
    free(f->strs);
    free(f->tokenp);
    free(f->snap.tokens);
    free(f);
}

/* A small valid installation: one collection, two endpoints, a client with
 * a profile, a policy and a token. Tests break one thing in it. */
static fx_t *fx_base(void)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "sales-v1");
    fx_ep(f, "ep_1", "col_1", "GET", "/orders/{id}", "http://orders.internal:8080/orders/{id}");
    fx_ep(f, "ep_2", "col_1", "POST", "/orders", NULL);
    fx_client(f, "cli_1");
    fx_policy(f, "pol_1");
    const char *cols[] = {"col_1", NULL};
    fx_profile(f, "prof_1", "cli_1", cols, "pol_1");
    fx_token(f, "tok_1", "prof_1", "apt_secret_one");
    return f;
}

static dp_config_t *compile(fx_t *f, uint64_t rev)
{
    char err[512] = "";
    dp_config_t *c = dp_config_compile(&f->snap, rev, err, sizeof(err));
    cr_assert_not_null(c, "compile failed: %s", err);
    cr_assert_eq(dp_config_revision(c), rev);
    return c;
}

/* Asserts compile refuses f and that err mentions each of the NULL-
 * terminated strings; frees f. */
static void refuse(fx_t *f, const char *const *needles)
{
    char err[512] = "";
    dp_config_t *c = dp_config_compile(&f->snap, 1, err, sizeof(err));
    cr_assert_null(c, "compile should have failed (needle \"%s\")", needles[0]);
    cr_assert_neq(err[0], '\0', "a refusal must say why");
    for (; *needles; needles++)
        cr_assert_not_null(strstr(err, *needles), "err \"%s\" lacks \"%s\"", err, *needles);
    fx_free(f);
}
#define REFUSE(f, ...) refuse((f), (const char *const[]){__VA_ARGS__, NULL})

static const dp_endpoint_t *route_ep(const dp_config_t *c, const char *method, const char *path)
{
    dp_match_t m;
    char allow[64];
    if (dp_config_route(c, "h", 1, method, strlen(method), path, strlen(path), &m, allow,
                        sizeof(allow)) != DP_ROUTE_OK)
        return NULL;
    return m.endpoint;
}

/* ---- what compile copies ---- */

Test(compile, copies_and_resolves_everything)
{
    fx_t *f = fx_base();
    f->settings.custom_domains[f->settings.n_custom_domains++] = str(f, "Api.Example.COM");
    Apiplatform__V1__Endpoint *st = f->epp[1];
    st->target->status = 418;
    st->target->content_type = str(f, "text/plain");
    static const uint8_t body[] = {'t', 'e', 'a', 0, 'p', 'o', 't'};
    st->target->body.data = (uint8_t *)body;
    st->target->body.len = sizeof(body);
    st->cache_ttl_seconds = 0;
    st->timeout_ms = 1234;
    f->epp[0]->cache_ttl_seconds = 60;
    f->epp[0]->active = 0;
    dp_config_t *c = compile(f, 42);
    fx_free(f); /* everything below reads the config's own copies */

    const dp_endpoint_t *e = route_ep(c, "GET", "/api/sales-v1/orders/9");
    cr_assert_not_null(e);
    cr_assert_str_eq(e->id, "ep_1");
    cr_assert_str_eq(e->name, "ep_1");
    cr_assert_str_eq(e->method, "GET");
    cr_assert_str_eq(e->path, "/orders/{id}");
    cr_assert_eq(e->n_params, 1);
    cr_assert_str_eq(e->params[0], "id");
    cr_assert_eq(e->active, 0);
    cr_assert_eq(e->timeout_ms, 30000);
    cr_assert_eq(e->cache_ttl_seconds, 60);
    cr_assert_eq(e->target, DP_TARGET_UPSTREAM);
    cr_assert_str_eq(e->up_scheme, "http");
    cr_assert_str_eq(e->up_host, "orders.internal");
    cr_assert_eq(e->up_port, 8080);
    cr_assert_str_eq(e->up_path, "/orders/{id}");
    cr_assert_str_eq(e->collection->id, "col_1");
    cr_assert_str_eq(e->collection->name, "col_1");
    cr_assert_str_eq(e->collection->path, "sales-v1");
    cr_assert_eq(e->collection->active, 1, "active_set NOT_SET means active");

    e = route_ep(c, "POST", "/api/sales-v1/orders");
    cr_assert_not_null(e);
    cr_assert_eq(e->target, DP_TARGET_STATIC);
    cr_assert_eq(e->static_status, 418);
    cr_assert_str_eq(e->static_content_type, "text/plain");
    cr_assert_eq(e->static_body_len, sizeof(body));
    cr_assert(memcmp(e->static_body, body, sizeof(body)) == 0);
    cr_assert_neq((const void *)e->static_body, (const void *)body, "the body must be copied");
    cr_assert_eq(e->timeout_ms, 1234);

    /* custom domains are compared case-insensitively */
    dp_match_t m;
    cr_assert_eq(
        dp_config_route(c, "api.example.com", 15, "POST", 4, "/sales-v1/orders", 16, &m, NULL, 0),
        DP_ROUTE_OK);

    uint8_t sha[32];
    SHA256((const unsigned char *)"apt_secret_one", 14, sha);
    const dp_token_t *t = dp_config_token(c, sha);
    cr_assert_not_null(t);
    cr_assert_str_eq(t->id, "tok_1");
    cr_assert(memcmp(t->sha256, sha, 32) == 0);
    const dp_profile_t *p = t->profile;
    cr_assert_str_eq(p->id, "prof_1");
    cr_assert_str_eq(p->name, "prof_1");
    cr_assert_eq(p->enabled, 1, "enabled_set NOT_SET means enabled");
    cr_assert_str_eq(p->client->id, "cli_1");
    cr_assert_eq(p->client->enabled, 1);
    cr_assert_not_null(p->policy);
    cr_assert_str_eq(p->policy->id, "pol_1");
    cr_assert_eq(p->policy->rate_count, 0);
    cr_assert_eq(p->policy->quota_count, 0);
    cr_assert_eq(p->n_collections, 1);
    cr_assert_eq(p->collections[0], e->collection);
    cr_assert(dp_profile_has_collection(p, e->collection));
    cr_assert_eq(p->n_ip_allow, 0);
    dp_config_release(c);
}

Test(compile, upstream_urls_are_split)
{
    static const struct {
        const char *url, *scheme, *host;
        unsigned port;
        const char *path;
    } cases[] = {
        {"http://orders.internal:8080/orders/{id}", "http", "orders.internal", 8080,
         "/orders/{id}"},
        {"http://orders.internal/orders/{id}?x=1&y={id}", "http", "orders.internal", 80,
         "/orders/{id}?x=1&y={id}"},
        {"https://api.example.com", "https", "api.example.com", 443, "/"},
        {"https://api.example.com:8443/", "https", "api.example.com", 8443, "/"},
        {"http://h?q=1", "http", "h", 80, "/?q=1"},
        {"http://[::1]:9000/x?q=1", "http", "::1", 9000, "/x?q=1"},
        {"https://[2001:db8::1]", "https", "2001:db8::1", 443, "/"},
        {"http://[fe80::1]/v", "http", "fe80::1", 80, "/v"},
        {"http://10.0.0.1:65535/a/b", "http", "10.0.0.1", 65535, "/a/b"},
    };
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "c");
    char id[16], path[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(id, sizeof(id), "ep_%zu", i);
        snprintf(path, sizeof(path), "/e%zu/{id}", i);
        fx_ep(f, id, "col_1", "GET", path, cases[i].url);
    }
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[64];
        snprintf(req, sizeof(req), "/api/c/e%zu/1", i);
        const dp_endpoint_t *e = route_ep(c, "GET", req);
        cr_assert_not_null(e, "%s", req);
        cr_expect_str_eq(e->up_scheme, cases[i].scheme, "%s", cases[i].url);
        cr_expect_str_eq(e->up_host, cases[i].host, "%s", cases[i].url);
        cr_expect_eq(e->up_port, cases[i].port, "%s: port %u", cases[i].url, e->up_port);
        cr_expect_str_eq(e->up_path, cases[i].path, "%s", cases[i].url);
    }
    dp_config_release(c);
}

Test(compile, policies_map_periods)
{
    fx_t *f = fx_base();
    static const struct {
        Apiplatform__V1__RatePeriod rp;
        uint32_t window;
        Apiplatform__V1__QuotaPeriod qp;
        int period;
    } rows[] = {
        {APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_SECOND, 1,
         APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY, 1},
        {APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE, 60,
         APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK, 2},
        {APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_HOUR, 3600,
         APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH, 3},
    };
    char id[16];
    for (size_t i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "pol_r%zu", i);
        Apiplatform__V1__AccessPolicy *p = fx_policy(f, id);
        fx_rate(f, p, 100 + i, rows[i].rp);
        fx_quota(f, p, 1000 + i, rows[i].qp);
        char pid[16];
        snprintf(pid, sizeof(pid), "prof_r%zu", i);
        const char *cols[] = {"col_1", NULL};
        fx_profile(f, pid, "cli_1", cols, id);
        char tid[16], secret[32];
        snprintf(tid, sizeof(tid), "tok_r%zu", i);
        snprintf(secret, sizeof(secret), "apt_r%zu", i);
        fx_token(f, tid, pid, secret);
    }
    fx_profile(f, "prof_nopol", "cli_1", NULL, NULL);
    fx_token(f, "tok_nopol", "prof_nopol", "apt_nopol");
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    for (size_t i = 0; i < 3; i++) {
        char secret[32];
        uint8_t sha[32];
        snprintf(secret, sizeof(secret), "apt_r%zu", i);
        SHA256((const unsigned char *)secret, strlen(secret), sha);
        const dp_token_t *t = dp_config_token(c, sha);
        cr_assert_not_null(t);
        const dp_policy_t *p = t->profile->policy;
        cr_assert_not_null(p);
        cr_expect_eq(p->rate_count, 100 + i);
        cr_expect_eq(p->rate_window, rows[i].window);
        cr_expect_eq(p->quota_count, 1000 + i);
        cr_expect_eq(p->quota_period, rows[i].period);
    }
    uint8_t sha[32];
    SHA256((const unsigned char *)"apt_nopol", 9, sha);
    const dp_token_t *t = dp_config_token(c, sha);
    cr_assert_not_null(t);
    cr_assert_null(t->profile->policy, "empty policy_id means no limits");
    cr_assert_eq(t->profile->n_collections, 0);
    dp_config_release(c);
}

Test(compile, enabled_and_active_flags)
{
    fx_t *f = fx_base();
    Apiplatform__V1__Client *cl = fx_client(f, "cli_off");
    cl->enabled_set_case = APIPLATFORM__V1__CLIENT__ENABLED_SET_ENABLED;
    cl->enabled = 0;
    Apiplatform__V1__Client *cl_on = fx_client(f, "cli_on");
    cl_on->enabled_set_case = APIPLATFORM__V1__CLIENT__ENABLED_SET_ENABLED;
    cl_on->enabled = 1;
    Apiplatform__V1__AccessProfile *p = fx_profile(f, "prof_off", "cli_off", NULL, NULL);
    p->enabled_set_case = APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET_ENABLED;
    p->enabled = 0;
    fx_profile(f, "prof_on", "cli_on", NULL, "");
    Apiplatform__V1__Collection *col = fx_col(f, "col_off", "off");
    col->active_set_case = APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE;
    col->active = 0;
    fx_ep(f, "ep_off", "col_off", "GET", "/", NULL);
    fx_token(f, "tok_off", "prof_off", "apt_off");
    fx_token(f, "tok_on", "prof_on", "apt_on");
    dp_config_t *c = compile(f, 1);
    fx_free(f);

    uint8_t sha[32];
    SHA256((const unsigned char *)"apt_off", 7, sha);
    const dp_token_t *t = dp_config_token(c, sha);
    cr_assert_not_null(t);
    cr_assert_eq(t->profile->enabled, 0);
    cr_assert_eq(t->profile->client->enabled, 0);
    SHA256((const unsigned char *)"apt_on", 6, sha);
    t = dp_config_token(c, sha);
    cr_assert_not_null(t);
    cr_assert_eq(t->profile->enabled, 1);
    cr_assert_eq(t->profile->client->enabled, 1);
    cr_assert_null(t->profile->policy);
    const dp_endpoint_t *e = route_ep(c, "GET", "/api/off");
    cr_assert_not_null(e);
    cr_assert_eq(e->collection->active, 0);
    dp_config_release(c);
}

Test(compile, null_settings_mean_prefix_api_and_empty_snapshot_compiles)
{
    fx_t *f = fx_new(NULL);
    fx_col(f, "col_1", "c");
    fx_ep(f, "ep_1", "col_1", "GET", "/x", NULL);
    dp_config_t *c = compile(f, 3);
    fx_free(f);
    cr_assert_not_null(route_ep(c, "GET", "/api/c/x"));
    dp_config_release(c);

    f = fx_new(NULL);
    c = compile(f, 0);
    fx_free(f);
    uint8_t sha[32] = {0};
    cr_assert_null(dp_config_token(c, sha));
    cr_assert_null(route_ep(c, "GET", "/api/c/x"));
    dp_config_release(c);
}

/* ---- refusals ---- */

Test(refuse, dangling_references)
{
    fx_t *f = fx_base();
    fx_ep(f, "ep_123", "col_9", "GET", "/x", NULL);
    char err[512];
    cr_assert_null(dp_config_compile(&f->snap, 1, err, sizeof(err)));
    cr_assert_str_eq(err, "endpoint ep_123: collection col_9 not in snapshot");
    fx_free(f);

    f = fx_base();
    fx_profile(f, "prof_9", "cli_missing", NULL, NULL);
    REFUSE(f, "profile prof_9", "client cli_missing");

    f = fx_base();
    const char *cols[] = {"col_1", "col_missing", NULL};
    fx_profile(f, "prof_9", "cli_1", cols, NULL);
    REFUSE(f, "profile prof_9", "collection col_missing");

    f = fx_base();
    fx_profile(f, "prof_9", "cli_1", NULL, "pol_missing");
    REFUSE(f, "profile prof_9", "policy pol_missing");

    f = fx_base();
    fx_token(f, "tok_9", "prof_missing", "apt_x");
    REFUSE(f, "token tok_9", "profile prof_missing");

    /* a reference must be by id: a name is not resolved here */
    f = fx_base();
    f->cols[0].name = str(f, "Sales");
    fx_ep(f, "ep_9", "Sales", "GET", "/y", NULL);
    REFUSE(f, "endpoint ep_9", "collection Sales");
}

Test(refuse, duplicate_ids)
{
    fx_t *f = fx_base();
    fx_col(f, "col_1", "other");
    REFUSE(f, "collection col_1", "duplicate id");

    f = fx_base();
    fx_ep(f, "ep_2", "col_1", "GET", "/other", NULL);
    REFUSE(f, "endpoint ep_2", "duplicate id");

    f = fx_base();
    fx_client(f, "cli_1");
    REFUSE(f, "client cli_1", "duplicate id");

    f = fx_base();
    fx_profile(f, "prof_1", "cli_1", NULL, NULL);
    REFUSE(f, "profile prof_1", "duplicate id");

    f = fx_base();
    fx_policy(f, "pol_1");
    REFUSE(f, "policy pol_1", "duplicate id");

    f = fx_base();
    fx_token(f, "tok_1", "prof_1", "apt_other");
    REFUSE(f, "token tok_1", "duplicate id");

    f = fx_base();
    fx_client(f, "");
    REFUSE(f, "client #2", "no id");
}

Test(refuse, bad_templates_methods_and_targets)
{
    fx_t *f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/orders/{id", NULL);
    REFUSE(f, "endpoint ep_bad", "path");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "orders", NULL);
    REFUSE(f, "endpoint ep_bad", "path");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/orders/", NULL);
    REFUSE(f, "endpoint ep_bad", "path");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/a/{x}/{x}", NULL);
    REFUSE(f, "endpoint ep_bad", "path");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "FETCH", "/x", NULL);
    REFUSE(f, "endpoint ep_bad", "method");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "get", "/x", NULL);
    REFUSE(f, "endpoint ep_bad", "method");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x", "ftp://h/x");
    REFUSE(f, "endpoint ep_bad", "target.url");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x", "http://h:99999/x");
    REFUSE(f, "endpoint ep_bad", "target.url");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x/{id}", "http://h/x/{other}");
    REFUSE(f, "endpoint ep_bad", "target.url", "{other}");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x", "http://[::1/x");
    REFUSE(f, "endpoint ep_bad", "target.url");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x", NULL)->target = NULL;
    REFUSE(f, "endpoint ep_bad", "target");

    f = fx_base();
    fx_ep(f, "ep_bad", "col_1", "GET", "/x", NULL)->target->status = 99;
    REFUSE(f, "endpoint ep_bad", "status");
}

Test(refuse, duplicate_routes)
{
    fx_t *f = fx_base();
    /* same as ep_1 but for the parameter's name */
    fx_ep(f, "ep_dup", "col_1", "GET", "/orders/{oid}", NULL);
    REFUSE(f, "endpoint ep_dup", "ep_1", "/orders/{}");

    f = fx_base();
    fx_ep(f, "ep_dup", "col_1", "POST", "/orders", NULL);
    REFUSE(f, "endpoint ep_dup", "ep_2");

    /* same template, other method or other collection: fine */
    f = fx_base();
    fx_ep(f, "ep_put", "col_1", "PUT", "/orders/{oid}", NULL);
    fx_col(f, "col_2", "sales-v2");
    fx_ep(f, "ep_other_col", "col_2", "GET", "/orders/{id}", NULL);
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    cr_assert_str_eq(route_ep(c, "PUT", "/api/sales-v1/orders/1")->id, "ep_put");
    cr_assert_str_eq(route_ep(c, "GET", "/api/sales-v2/orders/1")->id, "ep_other_col");
    dp_config_release(c);
}

Test(refuse, collection_paths)
{
    fx_t *f = fx_base();
    fx_col(f, "col_2", "sales-v1");
    REFUSE(f, "collection col_2", "col_1", "sales-v1");

    f = fx_base();
    fx_col(f, "col_2", "/sales");
    REFUSE(f, "collection col_2", "path");

    f = fx_base();
    fx_col(f, "col_2", "");
    REFUSE(f, "collection col_2", "path");

    f = fx_base();
    fx_col(f, "col_2", "a//b");
    REFUSE(f, "collection col_2", "path");

    /* a prefix of another collection's path is a different path */
    f = fx_base();
    fx_col(f, "col_2", "sales-v1/extra");
    fx_col(f, "col_3", "sales");
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    dp_config_release(c);
}

Test(refuse, settings)
{
    fx_t *f = fx_base();
    f->settings.api_prefix = str(f, "");
    REFUSE(f, "settings.api_prefix");

    f = fx_base();
    f->settings.api_prefix = str(f, "/api");
    REFUSE(f, "settings.api_prefix");

    f = fx_base();
    f->settings.api_prefix = str(f, "API");
    REFUSE(f, "settings.api_prefix");

    f = fx_base();
    f->settings.api_prefix = NULL;
    REFUSE(f, "settings.api_prefix");

    f = fx_base();
    f->settings.custom_domains[f->settings.n_custom_domains++] = str(f, "api.example.com:443");
    REFUSE(f, "settings.custom_domains", "api.example.com:443");
}

Test(refuse, bad_cidrs)
{
    static const char *bad[] = {"10.0.0.0/33", "bogus", "10.0.0/8", "2001:db8::/129",
                                "10.0.0.1/",   "",      "/8",       "::1/-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fx_t *f = fx_base();
        fx_ip(f, f->profilep[0], "10.0.0.0/8");
        fx_ip(f, f->profilep[0], bad[i]);
        REFUSE(f, "profile prof_1", "ip_allow");
    }
}

Test(refuse, bad_tokens_and_policies)
{
    fx_t *f = fx_base();
    fx_token(f, "tok_short", "prof_1", "x")->sha256 = str(f, "abcd");
    REFUSE(f, "token tok_short", "sha256");

    f = fx_base();
    char hex[65];
    ap_sha256_hex("x", 1, hex);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    fx_token(f, "tok_upper", "prof_1", "x")->sha256 = str(f, hex);
    REFUSE(f, "token tok_upper", "sha256");

    f = fx_base();
    fx_token(f, "tok_same", "prof_1", "apt_secret_one");
    REFUSE(f, "token tok_same", "tok_1", "sha256");

    f = fx_base();
    fx_rate(f, f->policyp[0], 10, APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_UNSPECIFIED);
    REFUSE(f, "policy pol_1", "rate_limit.period");

    f = fx_base();
    fx_quota(f, f->policyp[0], 10, (Apiplatform__V1__QuotaPeriod)7);
    REFUSE(f, "policy pol_1", "quota.period");
}

Test(refuse, null_snapshot_and_null_err)
{
    char err[64];
    cr_assert_null(dp_config_compile(NULL, 1, err, sizeof(err)));
    cr_assert_neq(err[0], '\0');
    fx_t *f = fx_base();
    fx_ep(f, "ep_123", "col_9", "GET", "/x", NULL);
    cr_assert_null(dp_config_compile(&f->snap, 1, NULL, 0));
    /* a short buffer still gets a terminated, truncated reason */
    char tiny[10];
    cr_assert_null(dp_config_compile(&f->snap, 1, tiny, sizeof(tiny)));
    cr_assert_str_eq(tiny, "endpoint ");
    fx_free(f);
}

/* ---- tokens ---- */

Test(tokens, lookup_by_sha256)
{
    enum { N = 1000 };
    fx_t *f = fx_base();
    char id[32], secret[64];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "tok_n%d", i);
        snprintf(secret, sizeof(secret), "apt_secret_%d", i);
        Apiplatform__V1__Token *t = fx_token(f, id, "prof_1", secret);
        t->expire_time = 1000 + i;
        t->revoke_time = i % 2 ? 2000 + i : 0;
    }
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    uint8_t sha[32];
    for (int i = 0; i < N; i++) {
        snprintf(secret, sizeof(secret), "apt_secret_%d", i);
        SHA256((const unsigned char *)secret, strlen(secret), sha);
        const dp_token_t *t = dp_config_token(c, sha);
        cr_assert_not_null(t, "%s", secret);
        snprintf(id, sizeof(id), "tok_n%d", i);
        cr_assert_str_eq(t->id, id);
        cr_assert_eq(t->expire_time, 1000 + i);
        cr_assert_eq(t->revoke_time, i % 2 ? 2000 + i : 0);
        cr_assert_str_eq(t->profile->id, "prof_1");
        /* one flipped bit is another token */
        sha[31] ^= 1;
        cr_assert_null(dp_config_token(c, sha));
    }
    SHA256((const unsigned char *)"apt_secret_one", 14, sha);
    cr_assert_str_eq(dp_config_token(c, sha)->id, "tok_1");
    SHA256((const unsigned char *)"apt_unknown", 11, sha);
    cr_assert_null(dp_config_token(c, sha));
    memset(sha, 0, sizeof(sha));
    cr_assert_null(dp_config_token(c, sha));
    cr_assert_null(dp_config_token(NULL, sha));
    dp_config_release(c);
}

/* ---- IP allow lists ---- */

static int allows4(const dp_profile_t *p, const char *ip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(1234)};
    cr_assert_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1, "%s", ip);
    return dp_profile_allows(p, (const struct sockaddr *)&sin);
}

static int allows6(const dp_profile_t *p, const char *ip)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
    cr_assert_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1, "%s", ip);
    return dp_profile_allows(p, (const struct sockaddr *)&sin6);
}

/* Compiles base + one profile "prof_ip" with the given entries; returns its
 * token's profile. */
static const dp_profile_t *ip_profile(dp_config_t **cp, const char *const *entries)
{
    fx_t *f = fx_base();
    Apiplatform__V1__AccessProfile *p = fx_profile(f, "prof_ip", "cli_1", NULL, NULL);
    for (; *entries; entries++)
        fx_ip(f, p, *entries);
    fx_token(f, "tok_ip", "prof_ip", "apt_ip");
    *cp = compile(f, 1);
    fx_free(f);
    uint8_t sha[32];
    SHA256((const unsigned char *)"apt_ip", 6, sha);
    const dp_token_t *t = dp_config_token(*cp, sha);
    cr_assert_not_null(t);
    return t->profile;
}

Test(ip_allow, empty_list_allows_everyone)
{
    dp_config_t *c;
    const dp_profile_t *p = ip_profile(&c, (const char *const[]){NULL});
    cr_assert(allows4(p, "1.2.3.4"));
    cr_assert(allows6(p, "2001:db8::1"));
    cr_assert(allows6(p, "::ffff:1.2.3.4"));
    cr_assert(dp_profile_allows(p, NULL));
    dp_config_release(c);
}

Test(ip_allow, v4_and_v6_entries_and_cidr_edges)
{
    dp_config_t *c;
    const dp_profile_t *p = ip_profile(
        &c, (const char *const[]){"10.0.0.0/8", "192.168.1.7", "172.16.0.4/31", "2001:db8::/32",
                                  "::1", "fd00::10/127", "100.64.0.0/10", NULL});
    cr_assert_eq(p->n_ip_allow, 7);
    cr_assert_eq(p->ip_allow[0].family, AF_INET);
    cr_assert_eq(p->ip_allow[0].bits, 8);
    cr_assert_eq(p->ip_allow[1].bits, 32);
    cr_assert_eq(p->ip_allow[3].family, AF_INET6);
    cr_assert_eq(p->ip_allow[4].bits, 128);

    cr_expect(allows4(p, "10.0.0.0"));
    cr_expect(allows4(p, "10.255.255.255"));
    cr_expect(!allows4(p, "9.255.255.255"));
    cr_expect(!allows4(p, "11.0.0.0"));
    cr_expect(allows4(p, "192.168.1.7"));
    cr_expect(!allows4(p, "192.168.1.6"));
    cr_expect(!allows4(p, "192.168.1.8"));
    cr_expect(!allows4(p, "172.16.0.3"));
    cr_expect(allows4(p, "172.16.0.4"));
    cr_expect(allows4(p, "172.16.0.5"));
    cr_expect(!allows4(p, "172.16.0.6"));
    /* /10: the prefix ends inside the second byte */
    cr_expect(allows4(p, "100.64.0.0"));
    cr_expect(allows4(p, "100.127.255.255"));
    cr_expect(!allows4(p, "100.128.0.0"));
    cr_expect(!allows4(p, "100.63.255.255"));

    cr_expect(allows6(p, "2001:db8::"));
    cr_expect(allows6(p, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    cr_expect(!allows6(p, "2001:db9::"));
    cr_expect(!allows6(p, "2001:db7:ffff::1"));
    cr_expect(allows6(p, "::1"));
    cr_expect(!allows6(p, "::2"));
    cr_expect(!allows6(p, "fd00::f"));
    cr_expect(allows6(p, "fd00::10"));
    cr_expect(allows6(p, "fd00::11"));
    cr_expect(!allows6(p, "fd00::12"));

    /* IPv4-mapped IPv6 peers are checked as IPv4 */
    cr_expect(allows6(p, "::ffff:10.1.2.3"));
    cr_expect(allows6(p, "::ffff:192.168.1.7"));
    cr_expect(!allows6(p, "::ffff:11.1.2.3"));
    cr_expect(!allows6(p, "::ffff:192.168.1.8"));
    /* an IPv4-compatible (not mapped) address is plain IPv6 */
    cr_expect(!allows6(p, "::10.1.2.3"));

    /* no address, or a family without addresses, is not on any list */
    cr_expect(!dp_profile_allows(p, NULL));
    struct sockaddr un = {.sa_family = AF_UNIX};
    cr_expect(!dp_profile_allows(p, &un));
    dp_config_release(c);
}

Test(ip_allow, zero_length_prefixes_and_mapped_entries)
{
    dp_config_t *c;
    const dp_profile_t *p = ip_profile(&c, (const char *const[]){"0.0.0.0/0", NULL});
    cr_expect(allows4(p, "1.2.3.4"));
    cr_expect(allows4(p, "255.255.255.255"));
    cr_expect(allows6(p, "::ffff:8.8.8.8"));
    cr_expect(!allows6(p, "2001:db8::1"), "a v4 /0 does not admit IPv6");
    dp_config_release(c);

    p = ip_profile(&c, (const char *const[]){"::/0", NULL});
    cr_expect(allows6(p, "2001:db8::1"));
    cr_expect(allows6(p, "::"));
    cr_expect(!allows4(p, "1.2.3.4"), "a v6 /0 does not admit IPv4");
    dp_config_release(c);

    /* a v4-mapped entry behaves as the IPv4 entry it maps */
    p = ip_profile(&c, (const char *const[]){"::ffff:172.16.0.0/108", "::ffff:192.0.2.1", NULL});
    cr_expect(allows4(p, "172.16.0.1"));
    cr_expect(allows4(p, "172.31.255.255"));
    cr_expect(!allows4(p, "172.32.0.0"));
    cr_expect(allows6(p, "::ffff:172.20.1.1"));
    cr_expect(allows4(p, "192.0.2.1"));
    cr_expect(!allows4(p, "192.0.2.2"));
    dp_config_release(c);
}

Test(profile, has_collection)
{
    fx_t *f = fx_base();
    fx_col(f, "col_2", "two");
    fx_col(f, "col_3", "three");
    fx_ep(f, "ep_two", "col_2", "GET", "/x", NULL);
    fx_ep(f, "ep_three", "col_3", "GET", "/x", NULL);
    const char *cols[] = {"col_1", "col_3", NULL};
    fx_profile(f, "prof_2", "cli_1", cols, NULL);
    fx_token(f, "tok_2", "prof_2", "apt_two");
    dp_config_t *c = compile(f, 1);
    fx_free(f);
    uint8_t sha[32];
    SHA256((const unsigned char *)"apt_two", 7, sha);
    const dp_profile_t *p = dp_config_token(c, sha)->profile;
    cr_assert(dp_profile_has_collection(p, route_ep(c, "GET", "/api/three/x")->collection));
    cr_assert(
        dp_profile_has_collection(p, route_ep(c, "GET", "/api/sales-v1/orders/1")->collection));
    cr_assert(!dp_profile_has_collection(p, route_ep(c, "GET", "/api/two/x")->collection));
    dp_config_release(c);
}

/* ---- reference counting and the current config ---- */

static dp_config_t *small_config(uint64_t rev)
{
    fx_t *f = fx_base();
    dp_config_t *c = compile(f, rev);
    fx_free(f);
    return c;
}

Test(refcount, old_config_lives_until_its_holder_releases)
{
    cr_assert_null(dp_current_acquire(), "no config before the first set");

    dp_config_t *c1 = small_config(1);
    dp_current_set(c1); /* takes our reference */
    dp_config_t *held = dp_current_acquire();
    cr_assert_eq(held, c1);

    dp_config_t *c2 = small_config(2);
    dp_current_set(c2); /* drops the current pointer's reference to c1 */

    /* the request that started on c1 still reads it */
    cr_assert_eq(dp_config_revision(held), 1);
    cr_assert_not_null(route_ep(held, "GET", "/api/sales-v1/orders/1"));
#ifdef FREED
    cr_assert(!FREED(held), "c1 freed while held");
#endif

    dp_config_t *now = dp_current_acquire();
    cr_assert_eq(now, c2);
    cr_assert_eq(dp_config_revision(now), 2);
    dp_config_release(now);

    dp_config_release(held); /* the last reference: c1 is freed */
#ifdef FREED
    cr_assert(FREED(held), "c1 should be freed after its last release");
    cr_assert(!FREED(c2));
#endif

    /* retain/release pairs leave the count where it was */
    cr_assert_eq(dp_config_retain(c2), c2);
    dp_config_release(c2);
    now = dp_current_acquire();
    cr_assert_eq(dp_config_revision(now), 2);
    dp_config_release(now);

    dp_current_set(NULL); /* drops c2 */
#ifdef FREED
    cr_assert(FREED(c2), "c2 should be freed once nobody holds it");
#endif
    cr_assert_null(dp_current_acquire());
    dp_config_release(NULL); /* a no-op */
}

Test(refcount, set_without_holders_frees_the_old_config)
{
    dp_config_t *c1 = small_config(1);
    dp_current_set(c1);
    dp_current_set(small_config(2));
#ifdef FREED
    cr_assert(FREED(c1));
#endif
    dp_config_t *now = dp_current_acquire();
    cr_assert_eq(dp_config_revision(now), 2);
    dp_config_release(now);
    dp_current_set(NULL);
}

/* Readers route on whatever is current while the main thread swaps
 * configs; under ASan any use after free or double free aborts. */
static volatile int stop_readers;

static void *reader(void *arg)
{
    long *routed = arg;
    while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
        dp_config_t *c = dp_current_acquire();
        if (c == NULL) continue;
        if (route_ep(c, "GET", "/api/sales-v1/orders/1") != NULL) (*routed)++;
        uint64_t rev = dp_config_revision(c);
        if (rev == 0 || rev > 200) abort();
        dp_config_release(c);
    }
    return NULL;
}

Test(refcount, concurrent_acquire_and_swap)
{
    enum { READERS = 4, SWAPS = 200 };
    pthread_t th[READERS];
    long routed[READERS] = {0};
    dp_current_set(small_config(1));
    for (int i = 0; i < READERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, reader, &routed[i]), 0);
    for (uint64_t rev = 2; rev <= SWAPS; rev++)
        dp_current_set(small_config(rev));
    __atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < READERS; i++)
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    long total = 0;
    for (int i = 0; i < READERS; i++)
        total += routed[i];
    cr_assert_gt(total, 0);
    dp_config_t *c = dp_current_acquire();
    cr_assert_eq(dp_config_revision(c), SWAPS);
    dp_config_release(c);
    dp_current_set(NULL);
}
