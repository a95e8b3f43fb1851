/* Unit tests of dataplane/router.c through dp_config_route: templates and
 * captured values, literal-over-param precedence, 404 against 405 with the
 * exact Allow value, the API prefix against custom domains, collection
 * paths holding '/', and the trailing-slash and root-template rules. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- snapshot fixture: collections and endpoints over strdup'd strings ---- */

#define FX_MAX 64

typedef struct {
    Apiplatform__V1__Snapshot snap;
    Apiplatform__V1__Settings settings;
    Apiplatform__V1__Collection cols[FX_MAX], *colp[FX_MAX];
    Apiplatform__V1__Endpoint eps[FX_MAX], *epp[FX_MAX];
    Apiplatform__V1__Target tgts[FX_MAX];
    char *domains[8];
    char *strs[1024];
    size_t n_strs;
} fx_t;

static char *str(fx_t *f, const char *s)
{
    cr_assert_lt(f->n_strs, 1024);
    return f->strs[f->n_strs++] = strdup(s);
}

/* prefix NULL: no settings at all (prefix "api"). */
static fx_t *fx_new(const char *prefix)
{
    fx_t *f = calloc(1, sizeof(*f));
    cr_assert_not_null(f);
    f->snap = (Apiplatform__V1__Snapshot)APIPLATFORM__V1__SNAPSHOT__INIT;
    f->snap.collections = f->colp;
    f->snap.endpoints = f->epp;
    if (prefix != NULL) {
        f->settings = (Apiplatform__V1__Settings)APIPLATFORM__V1__SETTINGS__INIT;
        f->settings.api_prefix = str(f, prefix);
        f->settings.custom_domains = f->domains;
        f->snap.settings = &f->settings;
    }
    return f;
}

static void fx_domain(fx_t *f, const char *d)
{
    f->domains[f->settings.n_custom_domains++] = str(f, d);
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

static Apiplatform__V1__Endpoint *fx_ep(fx_t *f, const char *id, const char *col,
                                        const char *method, const char *path)
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
    f->tgts[i] = (Apiplatform__V1__Target)APIPLATFORM__V1__TARGET__INIT;
    f->tgts[i].kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC;
    f->tgts[i].status = 200;
    e->target = &f->tgts[i];
    return f->epp[i] = e;
}

/* Scribbles over every string before freeing, so a config that kept a
 * pointer into the snapshot reads garbage even without ASan. */
static void fx_free(fx_t *f)
{
    for (size_t i = 0; i < f->n_strs; i++) {
        memset(f->strs[i], 'X', strlen(f->strs[i]));
        free(f->strs[i]);
    }
    free(f);
}

/* Compiles and frees the fixture: every test routes on a config whose
 * snapshot is gone. */
static dp_config_t *fx_compile(fx_t *f)
{
    char err[512] = "";
    dp_config_t *c = dp_config_compile(&f->snap, 7, err, sizeof(err));
    cr_assert_not_null(c, "compile failed: %s", err);
    fx_free(f);
    return c;
}

/* ---- routing helpers ---- */

static char allow[64];
static dp_match_t m;

static dp_route_result_t route_on(const dp_config_t *c, const char *host, const char *method,
                                  const char *path)
{
    memset(allow, '?', sizeof(allow));
    memset(&m, 0, sizeof(m));
    return dp_config_route(c, host, host ? strlen(host) : 0, method, strlen(method), path,
                           strlen(path), &m, allow, sizeof(allow));
}

static dp_route_result_t route(const dp_config_t *c, const char *method, const char *path)
{
    return route_on(c, "gw.example.net", method, path);
}

/* Asserts the request routes to endpoint id. */
#define expect_ep(c, method, path, want_id)                                                        \
    do {                                                                                           \
        dp_route_result_t r_ = route((c), (method), (path));                                       \
        cr_assert_eq(r_, DP_ROUTE_OK, "%s %s: result %d, allow \"%s\"", (method), (path), r_,      \
                     r_ == DP_ROUTE_WRONG_METHOD ? allow : "");                                    \
        cr_assert_not_null(m.endpoint);                                                            \
        cr_assert_str_eq(m.endpoint->id, (want_id), "%s %s", (method), (path));                    \
    } while (0)

#define expect_404(c, method, path)                                                                \
    do {                                                                                           \
        cr_assert_eq(route((c), (method), (path)), DP_ROUTE_NOT_FOUND, "%s %s", (method), (path)); \
        cr_assert_null(m.endpoint);                                                                \
        cr_assert_str_eq(allow, "");                                                               \
    } while (0)

#define expect_405(c, method, path, allowed)                                                       \
    do {                                                                                           \
        cr_assert_eq(route((c), (method), (path)), DP_ROUTE_WRONG_METHOD, "%s %s", (method),       \
                     (path));                                                                      \
        cr_assert_null(m.endpoint);                                                                \
        cr_assert_str_eq(allow, (allowed), "%s %s", (method), (path));                             \
    } while (0)

static void expect_value(size_t i, const char *want)
{
    cr_assert_gt(m.n_values, i);
    cr_assert_eq(m.value_lens[i], strlen(want), "value %zu: %.*s", i, (int)m.value_lens[i],
                 m.values[i]);
    cr_assert(memcmp(m.values[i], want, strlen(want)) == 0, "value %zu: %.*s, want %s", i,
              (int)m.value_lens[i], m.values[i], want);
}

/* ---- templates and captures ---- */

Test(router, literal_templates_and_params_capture_values)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop-v1");
    fx_ep(f, "ep_list", "col_1", "GET", "/orders");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    fx_ep(f, "ep_item", "col_1", "GET", "/orders/{order_id}/items/{item}");
    dp_config_t *c = fx_compile(f);

    expect_ep(c, "GET", "/api/shop-v1/orders", "ep_list");
    cr_assert_eq(m.n_values, 0);

    expect_ep(c, "GET", "/api/shop-v1/orders/42", "ep_get");
    cr_assert_eq(m.n_values, 1);
    cr_assert_str_eq(m.endpoint->params[0], "id");
    expect_value(0, "42");

    expect_ep(c, "GET", "/api/shop-v1/orders/A-1/items/x.y", "ep_item");
    cr_assert_eq(m.n_values, 2);
    cr_assert_str_eq(m.endpoint->params[0], "order_id");
    cr_assert_str_eq(m.endpoint->params[1], "item");
    expect_value(0, "A-1");
    expect_value(1, "x.y");
    cr_assert_str_eq(m.endpoint->collection->id, "col_1");
    cr_assert_str_eq(m.endpoint->path, "/orders/{order_id}/items/{item}");

    expect_404(c, "GET", "/api/shop-v1/orders/42/items");
    expect_404(c, "GET", "/api/shop-v1/customers");
    expect_404(c, "GET", "/api/shop-v1/Orders"); /* literals are case-sensitive */
    dp_config_release(c);
}

Test(router, values_point_into_the_callers_buffer_and_respect_path_len)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop-v1");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    dp_config_t *c = fx_compile(f);

    /* path_len stops before the query: the buffer is not NUL-terminated there */
    static const char buf[] = "/api/shop-v1/orders/42?expand=items";
    size_t len = strlen("/api/shop-v1/orders/42");
    cr_assert_eq(dp_config_route(c, "h", 1, "GET", 3, buf, len, &m, allow, sizeof(allow)),
                 DP_ROUTE_OK);
    cr_assert_eq(m.n_values, 1);
    cr_assert_eq(m.values[0], buf + len - 2, "the value must point into the request path");
    cr_assert_eq(m.value_lens[0], 2);

    /* the method is given with a length too */
    cr_assert_eq(dp_config_route(c, "h", 1, "GETX", 3, buf, len, &m, allow, sizeof(allow)),
                 DP_ROUTE_OK);
    dp_config_release(c);
}

Test(router, sixteen_params)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "c");
    fx_ep(f, "ep_16", "col_1", "GET",
          "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/api/c/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", "ep_16");
    cr_assert_eq(m.n_values, 16);
    expect_value(0, "1");
    expect_value(15, "16");
    cr_assert_str_eq(m.endpoint->params[15], "p");
    expect_404(c, "GET", "/api/c/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17");
    dp_config_release(c);
}

Test(router, percent_encoding_is_matched_raw)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_new", "col_1", "GET", "/orders/new");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/api/shop/orders/%6Eew", "ep_get");
    expect_value(0, "%6Eew");
    expect_ep(c, "GET", "/api/shop/orders/a%2Fb", "ep_get");
    expect_value(0, "a%2Fb");
    expect_404(c, "GET", "/api/shop/orders%2F1");
    expect_404(c, "GET", "/api/sh%6Fp/orders/1");
    dp_config_release(c);
}

/* ---- precedence ---- */

Test(router, literal_segment_beats_param_whatever_the_order)
{
    for (int order = 0; order < 2; order++) {
        fx_t *f = fx_new("api");
        fx_col(f, "col_1", "shop");
        if (order == 0) fx_ep(f, "ep_new", "col_1", "GET", "/orders/new");
        fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
        if (order == 1) fx_ep(f, "ep_new", "col_1", "GET", "/orders/new");
        dp_config_t *c = fx_compile(f);
        expect_ep(c, "GET", "/api/shop/orders/new", "ep_new");
        cr_assert_eq(m.n_values, 0);
        expect_ep(c, "GET", "/api/shop/orders/newer", "ep_get");
        expect_value(0, "newer");
        expect_ep(c, "GET", "/api/shop/orders/ne", "ep_get");
        dp_config_release(c);
    }
}

Test(router, leftmost_literal_wins_and_params_backtrack)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "c");
    fx_ep(f, "ep_lit_first", "col_1", "GET", "/a/{x}/c");
    fx_ep(f, "ep_param_first", "col_1", "GET", "/{y}/b/c");
    fx_ep(f, "ep_new_items", "col_1", "GET", "/orders/new/items");
    fx_ep(f, "ep_lines", "col_1", "GET", "/orders/{id}/lines");
    dp_config_t *c = fx_compile(f);

    expect_ep(c, "GET", "/api/c/a/b/c", "ep_lit_first");
    expect_value(0, "b");
    expect_ep(c, "GET", "/api/c/z/b/c", "ep_param_first");
    expect_value(0, "z");
    /* the literal branch "new" dead-ends at "lines": the param branch takes it */
    expect_ep(c, "GET", "/api/c/orders/new/lines", "ep_lines");
    expect_value(0, "new");
    expect_ep(c, "GET", "/api/c/orders/new/items", "ep_new_items");
    cr_assert_eq(m.n_values, 0);
    dp_config_release(c);
}

Test(router, a_less_specific_template_with_the_method_beats_405)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_new", "col_1", "GET", "/orders/new");
    fx_ep(f, "ep_del", "col_1", "DELETE", "/orders/{id}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "DELETE", "/api/shop/orders/new", "ep_del");
    expect_value(0, "new");
    expect_ep(c, "GET", "/api/shop/orders/new", "ep_new");
    expect_405(c, "GET", "/api/shop/orders/7", "DELETE");
    expect_405(c, "POST", "/api/shop/orders/new", "GET, DELETE");
    dp_config_release(c);
}

/* ---- 404 and 405 ---- */

Test(router, wrong_method_lists_allow_in_canonical_order)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    /* inserted out of order on purpose */
    fx_ep(f, "ep_o", "col_1", "OPTIONS", "/orders/{id}");
    fx_ep(f, "ep_d", "col_1", "DELETE", "/orders/{id}");
    fx_ep(f, "ep_p", "col_1", "POST", "/orders/{id}");
    fx_ep(f, "ep_h", "col_1", "HEAD", "/orders/{id}");
    fx_ep(f, "ep_g", "col_1", "GET", "/orders/{id}");
    fx_ep(f, "ep_pa", "col_1", "PATCH", "/orders/{id}");
    fx_ep(f, "ep_only_get", "col_1", "GET", "/health");
    fx_ep(f, "ep_new_get", "col_1", "GET", "/orders/new");
    dp_config_t *c = fx_compile(f);

    expect_405(c, "PUT", "/api/shop/orders/1", "GET, HEAD, POST, PATCH, DELETE, OPTIONS");
    /* "/orders/new" matches two templates; GET is listed once */
    expect_405(c, "PUT", "/api/shop/orders/new", "GET, HEAD, POST, PATCH, DELETE, OPTIONS");
    /* HEAD is not implied by GET */
    expect_405(c, "HEAD", "/api/shop/health", "GET");
    /* methods are case-sensitive; unknown ones are 405 on a known path */
    expect_405(c, "get", "/api/shop/health", "GET");
    expect_405(c, "TRACE", "/api/shop/health", "GET");
    expect_ep(c, "HEAD", "/api/shop/orders/new", "ep_h");
    expect_ep(c, "PATCH", "/api/shop/orders/9", "ep_pa");

    expect_404(c, "GET", "/api/shop/nothing");
    expect_404(c, "TRACE", "/api/shop/nothing");
    expect_404(c, "GET", "/api/none/orders/1");
    expect_404(c, "GET", "/");
    expect_404(c, "GET", "");
    expect_404(c, "GET", "/api");
    expect_404(c, "GET", "/api/");
    expect_404(c, "GET", "api/shop/health");
    dp_config_release(c);
}

Test(router, allow_is_truncated_safely)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_g", "col_1", "GET", "/x");
    fx_ep(f, "ep_p", "col_1", "POST", "/x");
    dp_config_t *c = fx_compile(f);
    char small[8];
    memset(small, '?', sizeof(small));
    cr_assert_eq(dp_config_route(c, "h", 1, "PUT", 3, "/api/shop/x", 11, &m, small, sizeof(small)),
                 DP_ROUTE_WRONG_METHOD);
    cr_assert(memchr(small, '\0', sizeof(small)) != NULL, "allow must stay terminated");
    cr_assert_eq(strncmp(small, "GET", 3), 0, "%s", small);
    /* no allow buffer and no match struct at all */
    cr_assert_eq(dp_config_route(c, "h", 1, "PUT", 3, "/api/shop/x", 11, NULL, NULL, 0),
                 DP_ROUTE_WRONG_METHOD);
    cr_assert_eq(dp_config_route(c, "h", 1, "GET", 3, "/api/shop/x", 11, NULL, NULL, 0),
                 DP_ROUTE_OK);
    dp_config_release(c);
}

/* ---- trailing slash and the collection root ---- */

Test(router, trailing_slash_and_empty_segments_do_not_match)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    fx_ep(f, "ep_list", "col_1", "GET", "/orders");
    dp_config_t *c = fx_compile(f);
    expect_404(c, "GET", "/api/shop/orders/1/");
    expect_404(c, "GET", "/api/shop/orders/");
    expect_404(c, "GET", "/api/shop/orders//1");
    expect_404(c, "GET", "/api/shop//orders/1");
    expect_404(c, "GET", "//api/shop/orders/1");
    /* no root endpoint: the collection itself is not a route */
    expect_404(c, "GET", "/api/shop");
    expect_404(c, "GET", "/api/shop/");
    dp_config_release(c);
}

Test(router, root_template_matches_collection_with_and_without_slash)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_root", "col_1", "GET", "/");
    fx_ep(f, "ep_get", "col_1", "GET", "/{id}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/api/shop", "ep_root");
    cr_assert_eq(m.n_values, 0);
    expect_ep(c, "GET", "/api/shop/", "ep_root");
    expect_ep(c, "GET", "/api/shop/7", "ep_get");
    expect_value(0, "7");
    expect_404(c, "GET", "/api/shop//");
    expect_404(c, "GET", "/api/shop/7/");
    expect_405(c, "POST", "/api/shop/", "GET");
    dp_config_release(c);
}

/* ---- prefix and custom domains ---- */

Test(router, prefix_is_required_except_on_custom_domains)
{
    fx_t *f = fx_new("gw");
    fx_domain(f, "api.example.com");
    fx_domain(f, "apis.example.org");
    fx_col(f, "col_1", "shop-v1");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    dp_config_t *c = fx_compile(f);

    const char *hosts[] = {"api.example.com", "API.Example.COM", "apis.EXAMPLE.org",
                           "api.example.com."};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        cr_assert_eq(route_on(c, hosts[i], "GET", "/shop-v1/orders/1"), DP_ROUTE_OK, "%s",
                     hosts[i]);
        cr_assert_str_eq(m.endpoint->id, "ep_get");
        expect_value(0, "1");
        /* the prefixed URL keeps working on a custom domain */
        cr_assert_eq(route_on(c, hosts[i], "GET", "/gw/shop-v1/orders/2"), DP_ROUTE_OK, "%s",
                     hosts[i]);
        expect_value(0, "2");
        cr_assert_eq(route_on(c, hosts[i], "POST", "/shop-v1/orders/1"), DP_ROUTE_WRONG_METHOD);
        cr_assert_str_eq(allow, "GET");
    }

    /* anywhere else only the prefixed form */
    const char *others[] = {"gw.example.net",
                            "example.com",
                            "xapi.example.com",
                            "api.example.co",
                            "api.example.com.evil",
                            "",
                            NULL};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        cr_assert_eq(route_on(c, others[i], "GET", "/shop-v1/orders/1"), DP_ROUTE_NOT_FOUND, "%s",
                     others[i] ? others[i] : "(null)");
        cr_assert_eq(route_on(c, others[i], "GET", "/gw/shop-v1/orders/1"), DP_ROUTE_OK, "%s",
                     others[i] ? others[i] : "(null)");
    }
    /* the default prefix is not this installation's */
    expect_404(c, "GET", "/api/shop-v1/orders/1");
    /* the prefix is a whole segment, case-sensitive */
    expect_404(c, "GET", "/gwx/shop-v1/orders/1");
    expect_404(c, "GET", "/GW/shop-v1/orders/1");
    dp_config_release(c);
}

Test(router, multi_segment_prefix_and_default_prefix)
{
    fx_t *f = fx_new("edge/v1");
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/edge/v1/shop/orders/1", "ep_get");
    expect_404(c, "GET", "/edge/shop/orders/1");
    expect_404(c, "GET", "/v1/shop/orders/1");
    dp_config_release(c);

    f = fx_new(NULL); /* no settings: prefix "api", no custom domains */
    fx_col(f, "col_1", "shop");
    fx_ep(f, "ep_get", "col_1", "GET", "/orders/{id}");
    c = fx_compile(f);
    expect_ep(c, "GET", "/api/shop/orders/1", "ep_get");
    cr_assert_eq(route_on(c, "api.example.com", "GET", "/shop/orders/1"), DP_ROUTE_NOT_FOUND);
    dp_config_release(c);
}

Test(router, custom_domain_tries_both_forms)
{
    /* a collection named like the prefix: on a custom domain "/api/v1/x" is
     * both "collection v1, /x" (prefixed) and "collection api/v1, /x" */
    fx_t *f = fx_new("api");
    fx_domain(f, "api.example.com");
    fx_col(f, "col_v1", "v1");
    fx_col(f, "col_api_v1", "api/v1");
    fx_ep(f, "ep_a", "col_v1", "GET", "/x");
    fx_ep(f, "ep_b", "col_api_v1", "POST", "/x");
    fx_ep(f, "ep_c", "col_api_v1", "GET", "/y");
    dp_config_t *c = fx_compile(f);
    cr_assert_eq(route_on(c, "api.example.com", "GET", "/api/v1/x"), DP_ROUTE_OK);
    cr_assert_str_eq(m.endpoint->id, "ep_a");
    cr_assert_eq(route_on(c, "api.example.com", "POST", "/api/v1/x"), DP_ROUTE_OK);
    cr_assert_str_eq(m.endpoint->id, "ep_b");
    cr_assert_eq(route_on(c, "api.example.com", "PUT", "/api/v1/x"), DP_ROUTE_WRONG_METHOD);
    cr_assert_str_eq(allow, "GET, POST");
    cr_assert_eq(route_on(c, "api.example.com", "GET", "/api/v1/y"), DP_ROUTE_OK);
    cr_assert_str_eq(m.endpoint->id, "ep_c");
    /* elsewhere only the prefixed reading */
    cr_assert_eq(route_on(c, "other", "POST", "/api/v1/x"), DP_ROUTE_WRONG_METHOD);
    cr_assert_str_eq(allow, "GET");
    cr_assert_eq(route_on(c, "other", "GET", "/api/v1/y"), DP_ROUTE_NOT_FOUND);
    dp_config_release(c);
}

/* ---- collection paths ---- */

Test(router, collection_paths_with_slashes_match_longest_first)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_sales", "sales");
    fx_col(f, "col_sales_v2", "sales/v2");
    fx_col(f, "col_sales_v2_beta", "sales/v2/beta");
    fx_col(f, "col_salesforce", "salesforce");
    fx_ep(f, "ep_s_orders", "col_sales", "GET", "/orders");
    fx_ep(f, "ep_s_v2_orders", "col_sales", "GET", "/v2/orders"); /* shadowed */
    fx_ep(f, "ep_s_v2_legacy", "col_sales", "GET", "/v2/legacy");
    fx_ep(f, "ep_v2_orders", "col_sales_v2", "GET", "/orders");
    fx_ep(f, "ep_v2_get", "col_sales_v2", "GET", "/orders/{id}");
    fx_ep(f, "ep_beta_root", "col_sales_v2_beta", "GET", "/");
    fx_ep(f, "ep_sf", "col_salesforce", "GET", "/orders");
    dp_config_t *c = fx_compile(f);

    expect_ep(c, "GET", "/api/sales/orders", "ep_s_orders");
    expect_ep(c, "GET", "/api/sales/v2/orders", "ep_v2_orders");
    cr_assert_str_eq(m.endpoint->collection->path, "sales/v2");
    expect_ep(c, "GET", "/api/sales/v2/orders/5", "ep_v2_get");
    expect_value(0, "5");
    expect_ep(c, "GET", "/api/sales/v2/beta", "ep_beta_root");
    expect_ep(c, "GET", "/api/sales/v2/beta/", "ep_beta_root");
    /* the longer collection has no such endpoint: the shorter one is tried */
    expect_ep(c, "GET", "/api/sales/v2/legacy", "ep_s_v2_legacy");
    /* whole segments only */
    expect_ep(c, "GET", "/api/salesforce/orders", "ep_sf");
    expect_404(c, "GET", "/api/sale/orders");
    expect_404(c, "GET", "/api/sales/v/orders");
    expect_404(c, "GET", "/api/sales/v22/orders");
    expect_404(c, "GET", "/api/sales/v2/beta/x");
    expect_404(c, "GET", "/api/v2/orders");
    /* 405 gathers the methods of every collection the path reaches */
    expect_405(c, "DELETE", "/api/sales/v2/orders", "GET");
    dp_config_release(c);
}

Test(router, inactive_endpoints_and_collections_still_route)
{
    fx_t *f = fx_new("api");
    Apiplatform__V1__Collection *col = fx_col(f, "col_off", "off");
    col->active_set_case = APIPLATFORM__V1__COLLECTION__ACTIVE_SET_ACTIVE;
    col->active = 0;
    fx_col(f, "col_on", "on");
    Apiplatform__V1__Endpoint *e = fx_ep(f, "ep_off", "col_on", "GET", "/x");
    e->active = 0;
    fx_ep(f, "ep_in_off", "col_off", "GET", "/x");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/api/on/x", "ep_off");
    cr_assert_eq(m.endpoint->active, 0);
    cr_assert_eq(m.endpoint->collection->active, 1);
    expect_ep(c, "GET", "/api/off/x", "ep_in_off");
    cr_assert_eq(m.endpoint->active, 1);
    cr_assert_eq(m.endpoint->collection->active, 0);
    dp_config_release(c);
}

Test(router, same_template_in_two_collections_routes_separately)
{
    fx_t *f = fx_new("api");
    fx_col(f, "col_a", "a");
    fx_col(f, "col_b", "b");
    fx_ep(f, "ep_a", "col_a", "GET", "/orders/{id}");
    fx_ep(f, "ep_b", "col_b", "GET", "/orders/{id}");
    dp_config_t *c = fx_compile(f);
    expect_ep(c, "GET", "/api/a/orders/1", "ep_a");
    expect_ep(c, "GET", "/api/b/orders/1", "ep_b");
    dp_config_release(c);
}

Test(router, empty_config_and_null_config_are_404)
{
    fx_t *f = fx_new("api");
    dp_config_t *c = fx_compile(f);
    expect_404(c, "GET", "/api/x/y");
    dp_config_release(c);
    cr_assert_eq(route(NULL, "GET", "/api/x/y"), DP_ROUTE_NOT_FOUND);
}

Test(router, many_collections_and_endpoints)
{
    fx_t *f = fx_new("api");
    char id[32], path[64];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "col_%d", i);
        snprintf(path, sizeof(path), "svc-%d/v%d", i % 10, i / 10);
        fx_col(f, id, path);
        snprintf(id, sizeof(id), "ep_%d", i);
        snprintf(path, sizeof(path), "/things/%d/{id}", i);
        char col[32];
        snprintf(col, sizeof(col), "col_%d", i);
        fx_ep(f, id, col, "GET", path);
    }
    dp_config_t *c = fx_compile(f);
    for (int i = 0; i < 40; i++) {
        char req[96], want[32];
        snprintf(req, sizeof(req), "/api/svc-%d/v%d/things/%d/abc", i % 10, i / 10, i);
        snprintf(want, sizeof(want), "ep_%d", i);
        expect_ep(c, "GET", req, want);
        expect_value(0, "abc");
        snprintf(req, sizeof(req), "/api/svc-%d/v%d/things/%d/abc", i % 10, i / 10, (i + 1) % 40);
        expect_404(c, "GET", req);
    }
    dp_config_release(c);
}
