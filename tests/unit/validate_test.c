/* Unit tests of controlplane/validate.c: every syntax rule (names, methods,
 * path templates, upstream URLs, CIDRs, hostnames, URL paths, slugs) with
 * inputs on both sides of it, and one failing input per rule of each
 * per-kind validator, checking the status names the field to fix. */
#include "validate.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[400];

#define ACCEPTS(call)                                                                              \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        cr_expect_eq((call), 0, "%s was refused: %s", #call, err);                                 \
    } while (0)

#define REFUSES(call)                                                                              \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        int rc_ = (call);                                                                          \
        cr_expect_eq(rc_, -1, "%s was accepted", #call);                                           \
        if (rc_ == -1)                                                                             \
            cr_expect_neq(err[0], '\0', "%s gave no reason", #call);                               \
    } while (0)

/* A string of n copies of c (static storage, one at a time per test). */
static char *repeat(char c, size_t n)
{
    static char buf[4096];
    cr_assert_lt(n, sizeof(buf));
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* ---- names, methods ---- */

Test(name, accepts_printable_names_up_to_100)
{
    ACCEPTS(cp_valid_name("Sales API", err, sizeof(err)));
    ACCEPTS(cp_valid_name("a", err, sizeof(err)));
    ACCEPTS(cp_valid_name("Café – orders (v2)", err, sizeof(err)));
    ACCEPTS(cp_valid_name(repeat('x', 100), err, sizeof(err)));
}

Test(name, refuses_empty_long_padded_and_control)
{
    REFUSES(cp_valid_name("", err, sizeof(err)));
    cr_expect_str_eq(err, "is required");
    REFUSES(cp_valid_name(repeat('x', 101), err, sizeof(err)));
    REFUSES(cp_valid_name(" lead", err, sizeof(err)));
    REFUSES(cp_valid_name("trail ", err, sizeof(err)));
    REFUSES(cp_valid_name("\tx", err, sizeof(err)));
    REFUSES(cp_valid_name("a\nb", err, sizeof(err)));
    REFUSES(cp_valid_name("a\x7f", err, sizeof(err)));
    REFUSES(cp_valid_name("a\x01z", err, sizeof(err)));
}

Test(method, accepts_the_seven_upper_case_methods)
{
    static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ACCEPTS(cp_valid_method(ok[i], err, sizeof(err)));
}

Test(method, refuses_others)
{
    static const char *const bad[] = {"", "get", "Get", "CONNECT", "TRACE", "GETX", " GET", "GE"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_method(bad[i], err, sizeof(err)));
    cr_expect(strstr(err, "GE") != NULL, "reason should echo the method: %s", err);
}

/* ---- path templates ---- */

Test(path_template, captures_params_and_normalises_route)
{
    cp_path_template_t t;
    ACCEPTS(cp_path_template_parse("/orders/{id}", &t, err, sizeof(err)));
    cr_assert_eq(t.n_params, 1);
    cr_expect_str_eq(t.params[0], "id");
    cr_expect_str_eq(t.route, "/orders/{}");

    ACCEPTS(cp_path_template_parse("/a/{x}/b/{y_2}/c", &t, err, sizeof(err)));
    cr_assert_eq(t.n_params, 2);
    cr_expect_str_eq(t.params[0], "x");
    cr_expect_str_eq(t.params[1], "y_2");
    cr_expect_str_eq(t.route, "/a/{}/b/{}/c");

    ACCEPTS(cp_path_template_parse("/{_id}", &t, err, sizeof(err)));
    cr_expect_str_eq(t.params[0], "_id");
    cr_expect_str_eq(t.route, "/{}");
}

Test(path_template, root_and_literal_paths)
{
    cp_path_template_t t;
    ACCEPTS(cp_path_template_parse("/", &t, err, sizeof(err)));
    cr_expect_eq(t.n_params, 0);
    cr_expect_str_eq(t.route, "/");

    ACCEPTS(cp_path_template_parse("/v1/orders.json", &t, err, sizeof(err)));
    cr_expect_eq(t.n_params, 0);
    cr_expect_str_eq(t.route, "/v1/orders.json");

    ACCEPTS(cp_path_template_parse("/a-b_c~d/e:f@g/%20", &t, err, sizeof(err)));
    cr_expect_str_eq(t.route, "/a-b_c~d/e:f@g/%20");
}

Test(path_template, templates_differing_only_in_names_share_a_route)
{
    cp_path_template_t a, b;
    ACCEPTS(cp_path_template_parse("/orders/{id}/items/{n}", &a, err, sizeof(err)));
    ACCEPTS(cp_path_template_parse("/orders/{order}/items/{item}", &b, err, sizeof(err)));
    cr_expect_str_eq(a.route, b.route);
    ACCEPTS(cp_path_template_parse("/orders/{id}/lines/{n}", &b, err, sizeof(err)));
    cr_expect_str_neq(a.route, b.route);
}

Test(path_template, refuses_duplicate_params)
{
    cp_path_template_t t;
    REFUSES(cp_path_template_parse("/a/{id}/b/{id}", &t, err, sizeof(err)));
    cr_expect(strstr(err, "twice") != NULL, "%s", err);
    /* same prefix, different name: fine */
    ACCEPTS(cp_path_template_parse("/a/{id}/b/{id2}", &t, err, sizeof(err)));
}

Test(path_template, refuses_bad_param_names_and_partial_segments)
{
    static const char *const bad[] = {"/a/{}",     "/a/{1x}", "/a/{x-y}", "/a/{x.y}", "/a/{x",
                                      "/a/x}",     "/a/{",    "/a/pre{x}", "/a/{x}post",
                                      "/a/{ x }"};
    cp_path_template_t t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_path_template_parse(bad[i], &t, err, sizeof(err)));
}

Test(path_template, param_name_length_limit)
{
    char p[100];
    cp_path_template_t t;
    snprintf(p, sizeof(p), "/{%s}", repeat('n', 63));
    ACCEPTS(cp_path_template_parse(p, &t, err, sizeof(err)));
    cr_expect_eq(strlen(t.params[0]), 63);
    snprintf(p, sizeof(p), "/{%s}", repeat('n', 64));
    REFUSES(cp_path_template_parse(p, &t, err, sizeof(err)));
}

Test(path_template, at_most_16_params)
{
    char p[400] = "";
    cp_path_template_t t;
    for (int i = 0; i < CP_MAX_PARAMS; i++)
        snprintf(p + strlen(p), sizeof(p) - strlen(p), "/{p%d}", i);
    ACCEPTS(cp_path_template_parse(p, &t, err, sizeof(err)));
    cr_expect_eq(t.n_params, CP_MAX_PARAMS);
    cr_expect_str_eq(t.params[15], "p15");
    snprintf(p + strlen(p), sizeof(p) - strlen(p), "/{p%d}", CP_MAX_PARAMS);
    REFUSES(cp_path_template_parse(p, &t, err, sizeof(err)));
}

Test(path_template, refuses_empty_segments_trailing_slash_and_relative)
{
    cp_path_template_t t;
    REFUSES(cp_path_template_parse("/a//b", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("//", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("/a/", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("/a/{id}/", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("a/b", &t, err, sizeof(err)));
    cr_expect(strstr(err, "must start with '/'") != NULL, "%s", err);
    REFUSES(cp_path_template_parse("", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("{id}", &t, err, sizeof(err)));
}

Test(path_template, refuses_characters_outside_a_path_and_long_paths)
{
    cp_path_template_t t;
    REFUSES(cp_path_template_parse("/a b", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("/a?x=1", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("/a#frag", &t, err, sizeof(err)));
    REFUSES(cp_path_template_parse("/a\"b", &t, err, sizeof(err)));

    char p[500];
    snprintf(p, sizeof(p), "/%s", repeat('a', 399));
    ACCEPTS(cp_path_template_parse(p, &t, err, sizeof(err)));
    snprintf(p, sizeof(p), "/%s", repeat('a', 400));
    REFUSES(cp_path_template_parse(p, &t, err, sizeof(err)));
}

/* ---- upstream URLs ---- */

static cp_path_template_t orders_tpl(void)
{
    cp_path_template_t t;
    cr_assert_eq(cp_path_template_parse("/orders/{id}/items/{item}", &t, err, sizeof(err)), 0);
    return t;
}

Test(upstream_url, accepts_http_and_https_with_hosts_and_ports)
{
    cp_path_template_t t = orders_tpl();
    static const char *const ok[] = {
        "http://backend",
        "http://backend/",
        "https://api.example.com/v1/orders/{id}",
        "https://api.example.com:8443/v1/orders/{id}/items/{item}?x=1",
        "http://10.0.0.1:8080",
        "http://localhost:1/",
        "http://localhost:65535/",
        "http://my_host-1.internal/x?q={item}",
        "http://[::1]/x",
        "http://[::1]:8080/x",
        "https://[2001:db8::1]:443",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ACCEPTS(cp_valid_upstream_url(ok[i], &t, err, sizeof(err)));
    /* without a template, a URL without params is fine */
    ACCEPTS(cp_valid_upstream_url("http://backend/static", NULL, err, sizeof(err)));
}

Test(upstream_url, refuses_other_schemes_and_missing_hosts)
{
    static const char *const bad[] = {"ftp://backend/", "backend/x",      "//backend/x",
                                      "http:/backend",  "http://",        "http:///x",
                                      "https://?q=1",   "ws://backend/x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_upstream_url(bad[i], NULL, err, sizeof(err)));
}

Test(upstream_url, refuses_bad_ports)
{
    static const char *const bad[] = {"http://h:0/",    "http://h:65536/", "http://h:/",
                                      "http://h:80x/",  "http://h:x/",     "http://h:-1/",
                                      "http://h:99999999999999999999/", "http://h:80:81/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_upstream_url(bad[i], NULL, err, sizeof(err)));
}

Test(upstream_url, port_must_be_plain_digits)
{
    /* RFC 3986: port = *DIGIT; strtol would take a sign or white space */
    REFUSES(cp_valid_upstream_url("http://h:+80/", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://h: 80/", NULL, err, sizeof(err)));
}

Test(upstream_url, refuses_bad_hosts)
{
    static const char *const bad[] = {"http://ho st/",     "http://user@host/", "http://h%41/",
                                      "http://[::1/x",     "http://[::1]x/",    "http://[::1]:0/",
                                      "http://[::1]:/",    "http://::1/",       "http://{id}/x"};
    cp_path_template_t t = orders_tpl();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_upstream_url(bad[i], &t, err, sizeof(err)));
}

Test(upstream_url, bracketed_host_must_be_an_ipv6_address)
{
    REFUSES(cp_valid_upstream_url("http://[not-an-address]/x", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://[]/x", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://[10.0.0.1]/x", NULL, err, sizeof(err)));
}

Test(upstream_url, refuses_spaces_and_control_characters)
{
    /* the URL becomes an upstream request line: no white space, CR or LF */
    REFUSES(cp_valid_upstream_url("http://b/x y", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/x\r\nX-Injected: 1", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/x\ty", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/?q=a b", NULL, err, sizeof(err)));
}

Test(upstream_url, refuses_fragments)
{
    REFUSES(cp_valid_upstream_url("http://backend/x#top", NULL, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://backend#top", NULL, err, sizeof(err)));
}

Test(upstream_url, params_must_exist_in_the_template)
{
    cp_path_template_t t = orders_tpl();
    REFUSES(cp_valid_upstream_url("http://b/orders/{order}", &t, err, sizeof(err)));
    cr_expect(strstr(err, "{order}") != NULL, "reason should name the param: %s", err);
    REFUSES(cp_valid_upstream_url("http://b/orders/{id", &t, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/orders/{}", &t, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/orders/{i}", &t, err, sizeof(err)));
    REFUSES(cp_valid_upstream_url("http://b/orders/{idx}", &t, err, sizeof(err)));
    /* no template: no params at all */
    REFUSES(cp_valid_upstream_url("http://b/orders/{id}", NULL, err, sizeof(err)));
    /* a param may be used twice or not at all */
    ACCEPTS(cp_valid_upstream_url("http://b/{id}/{id}", &t, err, sizeof(err)));
}

/* ---- CIDRs, hostnames ---- */

Test(cidr, accepts_v4_and_v6_addresses_and_prefixes)
{
    static const char *const ok[] = {"10.0.0.1", "10.0.0.0/8",    "0.0.0.0/0",
                                     "1.2.3.4/32", "::1",         "::/0",
                                     "::/128",   "2001:db8::/32", "::ffff:10.0.0.1/128"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ACCEPTS(cp_valid_cidr(ok[i], err, sizeof(err)));
}

Test(cidr, prefix_bounds)
{
    ACCEPTS(cp_valid_cidr("10.0.0.0/32", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/33", err, sizeof(err)));
    cr_expect(strstr(err, "0-32") != NULL, "%s", err);
    ACCEPTS(cp_valid_cidr("2001:db8::/128", err, sizeof(err)));
    REFUSES(cp_valid_cidr("2001:db8::/129", err, sizeof(err)));
    cr_expect(strstr(err, "0-128") != NULL, "%s", err);
    REFUSES(cp_valid_cidr("10.0.0.0/-1", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/8x", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/8/8", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/99999999999999999999", err, sizeof(err)));
}

Test(cidr, prefix_must_be_plain_digits)
{
    REFUSES(cp_valid_cidr("10.0.0.0/+8", err, sizeof(err)));
    REFUSES(cp_valid_cidr("10.0.0.0/ 8", err, sizeof(err)));
}

Test(cidr, refuses_junk)
{
    static const char *const bad[] = {"",        "/8",          "10.0.0",     "256.0.0.1",
                                      "example.com", "10.0.0.1 ", " 10.0.0.1", "1.2.3.4.5",
                                      ":::",     "2001:db8::g", "10.0.0.0\\8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_cidr(bad[i], err, sizeof(err)));
    REFUSES(cp_valid_cidr(repeat('1', 200), err, sizeof(err)));
}

Test(hostname, accepts_dns_names)
{
    static const char *const ok[] = {"example.com", "a", "api-1.example.co.uk",
                                     "xn--bcher-kva.example", "123.example", "localhost"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ACCEPTS(cp_valid_hostname(ok[i], err, sizeof(err)));
    char h[300];
    snprintf(h, sizeof(h), "%s.com", repeat('a', 63));
    ACCEPTS(cp_valid_hostname(h, err, sizeof(err)));
}

Test(hostname, refuses_bad_labels_and_characters)
{
    static const char *const bad[] = {"",           ".example.com", "example..com", "example.com.",
                                      "-a.com",     "a-.com",       "a.-b.com",     "a_b.com",
                                      "a b.com",    "a/b",          "*.example.com", "a:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_hostname(bad[i], err, sizeof(err)));
    char h[300];
    snprintf(h, sizeof(h), "%s.com", repeat('a', 64));
    REFUSES(cp_valid_hostname(h, err, sizeof(err)));
}

Test(hostname, total_length_limit)
{
    /* 4 labels of 63 = 252 + 3 dots = 255; trim to exactly 253 and 254 */
    char h[300];
    snprintf(h, sizeof(h), "%s.", repeat('a', 63));
    snprintf(h + strlen(h), sizeof(h) - strlen(h), "%s.", repeat('b', 63));
    snprintf(h + strlen(h), sizeof(h) - strlen(h), "%s.", repeat('c', 63));
    snprintf(h + strlen(h), sizeof(h) - strlen(h), "%s", repeat('d', 61));
    cr_assert_eq(strlen(h), 253);
    ACCEPTS(cp_valid_hostname(h, err, sizeof(err)));
    strcat(h, "d");
    REFUSES(cp_valid_hostname(h, err, sizeof(err)));
}

/* ---- URL paths, slugs ---- */

Test(url_path, accepts_lowercase_segments)
{
    static const char *const ok[] = {"api", "sales-api-v1", "v1/orders", "a.b_c-d", "a/b/c",
                                     "..a", "a..", "oauth2", "oauth2/x"};
    /* "oauth2" is reserved only by the per-kind checks */
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ACCEPTS(cp_valid_url_path(ok[i], err, sizeof(err)));
    ACCEPTS(cp_valid_url_path(repeat('a', 128), err, sizeof(err)));
}

Test(url_path, refuses_slashes_at_ends_dots_and_other_characters)
{
    static const char *const bad[] = {"",    "/api", "api/", "/",    "a//b", "API",  "Api/v1",
                                      "a b", "a?b",  "a%20", "..",   "a/../b", "a/..", ".",
                                      "./a", "a/./b", "a/.", "a{b}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        REFUSES(cp_valid_url_path(bad[i], err, sizeof(err)));
    REFUSES(cp_valid_url_path(repeat('a', 129), err, sizeof(err)));
}

Test(slug, lowercases_and_joins_runs_with_dashes)
{
    char out[64];
    cp_slug("Sales API", out, sizeof(out));
    cr_expect_str_eq(out, "sales-api");
    cp_slug("  Hello,  World!! ", out, sizeof(out));
    cr_expect_str_eq(out, "hello-world");
    cp_slug("v1.2", out, sizeof(out));
    cr_expect_str_eq(out, "v1-2");
    cp_slug("ABC123", out, sizeof(out));
    cr_expect_str_eq(out, "abc123");
    cp_slug("", out, sizeof(out));
    cr_expect_str_eq(out, "");
    cp_slug("!!!", out, sizeof(out));
    cr_expect_str_eq(out, "");
    cp_slug("a--b__c", out, sizeof(out));
    cr_expect_str_eq(out, "a-b-c");
}

Test(slug, truncates_within_the_buffer)
{
    char out[8];
    memset(out, 'Z', sizeof(out));
    cp_slug("abcdefghijklmnop", out, sizeof(out));
    cr_expect_lt(strlen(out), sizeof(out));
    cr_expect(strncmp(out, "abcdefg", strlen(out)) == 0, "%s", out);
    cr_expect_gt(strlen(out), 0);
    cp_slug("a b c d e f g h", out, sizeof(out));
    cr_expect_lt(strlen(out), sizeof(out));
    cr_expect_neq(out[strlen(out) - 1], '-', "slug ends with a dash: %s", out);
}

/* ---- per kind ---- */

#define BAD_FIELD(call, field)                                                                     \
    do {                                                                                           \
        ap_status_t st_ = {GRPC_STATUS_OK, ""};                                                    \
        cr_expect_eq((call), -1, "%s was accepted (want %s)", #call, field);                       \
        cr_expect_eq(st_.code, GRPC_STATUS_INVALID_ARGUMENT, "%s: code %d", #call, st_.code);      \
        cr_expect(strncmp(st_.message, field, strlen(field)) == 0,                                 \
                  "%s: message \"%s\" does not start with \"%s\"", #call, st_.message, field);     \
    } while (0)

#define GOOD(call)                                                                                 \
    do {                                                                                           \
        ap_status_t st_ = {GRPC_STATUS_OK, ""};                                                    \
        cr_expect_eq((call), 0, "%s was refused: %s", #call, st_.message);                         \
    } while (0)

static Apiplatform__V1__Collection good_collection(void)
{
    Apiplatform__V1__Collection c = APIPLATFORM__V1__COLLECTION__INIT;
    c.name = "Sales API";
    c.version = "v1";
    c.path = "sales-api-v1";
    return c;
}

Test(validate_collection, good_one_passes)
{
    Apiplatform__V1__Collection c = good_collection();
    GOOD(cp_validate_collection(&c, &st_));
    c.version = "2024-01.a_";
    GOOD(cp_validate_collection(&c, &st_));
    c.path = "oauth2x";
    GOOD(cp_validate_collection(&c, &st_));
    c.description = repeat('d', 2000);
    GOOD(cp_validate_collection(&c, &st_));
}

Test(validate_collection, each_rule_names_its_field)
{
    Apiplatform__V1__Collection c;
    c = good_collection(), c.name = "";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.name:");
    c = good_collection(), c.name = " padded";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.name:");
    c = good_collection(), c.version = "";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.version:");
    c = good_collection(), c.version = "12345678901";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.version:");
    c = good_collection(), c.version = "v 1";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.version:");
    c = good_collection(), c.version = "v/1";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.version:");
    c = good_collection(), c.path = "";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.path:");
    c = good_collection(), c.path = "Sales API";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.path:");
    c = good_collection(), c.path = "/sales";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.path:");
    c = good_collection(), c.path = "oauth2";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.path:");
    c = good_collection(), c.path = "oauth2/x";
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.path:");
    c = good_collection(), c.description = repeat('d', 2001);
    BAD_FIELD(cp_validate_collection(&c, &st_), "collection.description:");
}

static Apiplatform__V1__Target upstream(const char *url)
{
    Apiplatform__V1__Target t = APIPLATFORM__V1__TARGET__INIT;
    t.kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM;
    t.url = (char *)url;
    return t;
}

static Apiplatform__V1__Endpoint good_endpoint(Apiplatform__V1__Target *t)
{
    Apiplatform__V1__Endpoint e = APIPLATFORM__V1__ENDPOINT__INIT;
    e.name = "get order";
    e.collection_id = "col_0193a1b2c3d4e5f6";
    e.method = "GET";
    e.path = "/orders/{id}";
    e.target = t;
    e.timeout_ms = 30000;
    return e;
}

Test(validate_endpoint, good_ones_pass)
{
    Apiplatform__V1__Target t = upstream("http://orders:8080/orders/{id}");
    Apiplatform__V1__Endpoint e = good_endpoint(&t);
    GOOD(cp_validate_endpoint(&e, &st_));
    e.timeout_ms = 240000;
    e.cache_ttl_seconds = 3600;
    GOOD(cp_validate_endpoint(&e, &st_));

    Apiplatform__V1__Target s = APIPLATFORM__V1__TARGET__INIT;
    s.kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC;
    s.status = 204;
    e = good_endpoint(&s);
    e.method = "POST";
    GOOD(cp_validate_endpoint(&e, &st_));
    s.status = 100;
    GOOD(cp_validate_endpoint(&e, &st_));
    s.status = 599;
    GOOD(cp_validate_endpoint(&e, &st_));
}

Test(validate_endpoint, each_rule_names_its_field)
{
    Apiplatform__V1__Target t = upstream("http://orders/orders/{id}");
    Apiplatform__V1__Endpoint e;

    e = good_endpoint(&t), e.name = "";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.name:");
    e = good_endpoint(&t), e.collection_id = "";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.collection_id:");
    e = good_endpoint(&t), e.method = "FETCH";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.method:");
    e = good_endpoint(&t), e.path = "orders/{id}";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.path:");
    e = good_endpoint(&t), e.path = "/orders/{id}/{id}";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.path:");
    e = good_endpoint(&t), e.timeout_ms = 240001;
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.timeout_ms:");
    e = good_endpoint(&t), e.cache_ttl_seconds = 3601;
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.cache_ttl_seconds:");
    e = good_endpoint(&t), e.cache_ttl_seconds = 60, e.method = "POST";
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.cache_ttl_seconds:");
    e = good_endpoint(NULL);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target:");

    Apiplatform__V1__Target u = APIPLATFORM__V1__TARGET__INIT;
    e = good_endpoint(&u);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target:");

    Apiplatform__V1__Target bad_url = upstream("ftp://orders/");
    e = good_endpoint(&bad_url);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.url:");
    Apiplatform__V1__Target no_param = upstream("http://orders/orders/{order}");
    e = good_endpoint(&no_param);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.url:");

    Apiplatform__V1__Target s = APIPLATFORM__V1__TARGET__INIT;
    s.kind = APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC;
    e = good_endpoint(&s);
    s.status = 99;
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.status:");
    s.status = 600;
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.status:");
    s.status = 0;
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.status:");
    s.status = 200;
    s.body.len = (1u << 20) + 1;
    s.body.data = calloc(1, s.body.len);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.body:");
    s.body.len = 1u << 20;
    GOOD(cp_validate_endpoint(&e, &st_));
    free(s.body.data);

    Apiplatform__V1__Target k = upstream("http://orders/");
    k.kind = (Apiplatform__V1__TargetKind)7;
    e = good_endpoint(&k);
    BAD_FIELD(cp_validate_endpoint(&e, &st_), "endpoint.target.kind:");
}

Test(validate_client, each_rule_names_its_field)
{
    Apiplatform__V1__Client c = APIPLATFORM__V1__CLIENT__INIT;
    c.name = "acme";
    GOOD(cp_validate_client(&c, &st_));
    c.description = repeat('d', 2000);
    GOOD(cp_validate_client(&c, &st_));
    c.description = repeat('d', 2001);
    BAD_FIELD(cp_validate_client(&c, &st_), "client.description:");
    c.description = "";
    c.name = "";
    BAD_FIELD(cp_validate_client(&c, &st_), "client.name:");
    c.name = "a\tb";
    BAD_FIELD(cp_validate_client(&c, &st_), "client.name:");
}

static char *ALLOW[] = {"10.0.0.0/8", "::1", "192.168.1.7"};

static Apiplatform__V1__AccessProfile good_profile(void)
{
    Apiplatform__V1__AccessProfile p = APIPLATFORM__V1__ACCESS_PROFILE__INIT;
    p.name = "default";
    p.client_id = "cli_0193a1b2c3d4e5f6";
    p.n_ip_allow = 3;
    p.ip_allow = ALLOW;
    p.auth_method = APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_API_TOKEN;
    return p;
}

Test(validate_profile, each_rule_names_its_field)
{
    Apiplatform__V1__AccessProfile p = good_profile();
    GOOD(cp_validate_profile(&p, &st_));
    p.auth_method = APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_UNSPECIFIED;
    GOOD(cp_validate_profile(&p, &st_));

    p = good_profile(), p.name = "";
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.name:");
    p = good_profile(), p.client_id = "";
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.client_id:");

    char *junk[] = {"10.0.0.0/8", "junk"};
    p = good_profile(), p.ip_allow = junk, p.n_ip_allow = 2;
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.ip_allow:");
    char *wide[] = {"10.0.0.0/33"};
    p = good_profile(), p.ip_allow = wide, p.n_ip_allow = 1;
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.ip_allow:");

    char **many = calloc(1001, sizeof(char *));
    for (size_t i = 0; i < 1001; i++)
        many[i] = "10.0.0.1";
    p = good_profile(), p.ip_allow = many, p.n_ip_allow = 1000;
    GOOD(cp_validate_profile(&p, &st_));
    p.n_ip_allow = 1001;
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.ip_allow:");
    free(many);

    p = good_profile(), p.auth_method = (Apiplatform__V1__AuthMethod)2;
    BAD_FIELD(cp_validate_profile(&p, &st_), "profile.auth_method:");
}

Test(validate_policy, each_rule_names_its_field)
{
    Apiplatform__V1__RateLimit rl = APIPLATFORM__V1__RATE_LIMIT__INIT;
    Apiplatform__V1__Quota q = APIPLATFORM__V1__QUOTA__INIT;
    Apiplatform__V1__AccessPolicy p = APIPLATFORM__V1__ACCESS_POLICY__INIT;
    p.name = "gold";
    GOOD(cp_validate_policy(&p, &st_)); /* no limits at all is fine */

    rl.count = 10, rl.period = APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_MINUTE;
    q.count = 1000, q.period = APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    p.rate_limit = &rl, p.quota = &q;
    GOOD(cp_validate_policy(&p, &st_));

    p.name = "";
    BAD_FIELD(cp_validate_policy(&p, &st_), "policy.name:");
    p.name = "gold";

    rl.count = 0;
    BAD_FIELD(cp_validate_policy(&p, &st_), "policy.rate_limit.count:");
    rl.count = 10, rl.period = APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_UNSPECIFIED;
    BAD_FIELD(cp_validate_policy(&p, &st_), "policy.rate_limit.period:");
    rl.period = APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_SECOND;

    q.count = 0;
    BAD_FIELD(cp_validate_policy(&p, &st_), "policy.quota.count:");
    q.count = 5, q.period = APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_UNSPECIFIED;
    BAD_FIELD(cp_validate_policy(&p, &st_), "policy.quota.period:");
    q.period = APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH;
    GOOD(cp_validate_policy(&p, &st_));
}

Test(validate_settings, each_rule_names_its_field)
{
    char *domains[] = {"api.example.com", "gw.example.org"};
    Apiplatform__V1__Settings s = APIPLATFORM__V1__SETTINGS__INIT;
    s.api_prefix = "api";
    s.custom_domains = domains;
    s.n_custom_domains = 2;
    GOOD(cp_validate_settings(&s, &st_));
    s.api_prefix = "gateway/v1";
    GOOD(cp_validate_settings(&s, &st_));

    s.api_prefix = "oauth2";
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.api_prefix:");
    s.api_prefix = "oauth2/x";
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.api_prefix:");
    s.api_prefix = "";
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.api_prefix:");
    s.api_prefix = "/api";
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.api_prefix:");
    s.api_prefix = "API";
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.api_prefix:");
    s.api_prefix = "api";

    char *bad[] = {"api.example.com", "bad_domain"};
    s.custom_domains = bad;
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.custom_domains:");
    char *twice[] = {"api.example.com", "gw.example.org", "api.example.com"};
    s.custom_domains = twice;
    s.n_custom_domains = 3;
    BAD_FIELD(cp_validate_settings(&s, &st_), "settings.custom_domains:");
}
