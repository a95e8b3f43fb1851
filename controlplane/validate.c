/* Validation rules (see validate.h). Pure functions over strings and
 * messages: no store access, so every rule has a unit test. */
#include "validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)

/* A whole-string decimal number of at most 9 digits (no sign, no spaces);
 * -1 if s is not one. */
static long digits(const char *s, size_t n)
{
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int cp_valid_name(const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    if (n == 0) FAIL("is required");
    if (n > 100) FAIL("must be at most 100 characters (got %zu)", n);
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
        FAIL("must not start or end with white space");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) FAIL("must not contain control characters");
    return 0;
}

static const char *const METHODS[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

int cp_valid_method(const char *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
        if (strcmp(m, METHODS[i]) == 0) return 0;
    FAIL("must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got \"%s\")", m);
}

static int is_pchar(char c)
{
    return isalnum((unsigned char)c) || strchr("-._~!$&'()*+,;=:@%", c) != NULL;
}

static int is_ident(const char *s, size_t n)
{
    if (n == 0 || n >= 64 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
    return 1;
}

int cp_path_template_parse(const char *path, cp_path_template_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(path), r = 0;
    if (len == 0 || path[0] != '/') FAIL("must start with '/' (got \"%s\")", path);
    if (len > 400) FAIL("must be at most 400 characters");
    if (len > 1 && path[len - 1] == '/') FAIL("must not end with '/'");
    const char *p = path;
    while (*p == '/') {
        const char *seg = p + 1, *end = strchr(seg, '/');
        if (end == NULL) end = seg + strlen(seg);
        size_t sl = (size_t)(end - seg);
        if (sl == 0 && len > 1) FAIL("must not contain empty segments (\"//\")");
        out->route[r++] = '/';
        if (sl > 0 && seg[0] == '{') {
            if (seg[sl - 1] != '}')
                FAIL("parameter segment \"%.*s\" must be a whole segment like {id}", (int)sl, seg);
            if (!is_ident(seg + 1, sl - 2))
                FAIL("parameter name \"%.*s\" must be a letter or '_' then letters, digits, '_'",
                     (int)(sl - 2), seg + 1);
            for (size_t i = 0; i < out->n_params; i++)
                if (strlen(out->params[i]) == sl - 2 &&
                    memcmp(out->params[i], seg + 1, sl - 2) == 0)
                    FAIL("parameter {%.*s} appears twice", (int)(sl - 2), seg + 1);
            if (out->n_params == CP_MAX_PARAMS) FAIL("at most %d parameters", CP_MAX_PARAMS);
            memcpy(out->params[out->n_params], seg + 1, sl - 2);
            out->params[out->n_params++][sl - 2] = '\0';
            memcpy(out->route + r, "{}", 2);
            r += 2;
        } else {
            for (size_t i = 0; i < sl; i++)
                if (!is_pchar(seg[i]))
                    FAIL("character '%c' is not allowed in a path (segment \"%.*s\")", seg[i],
                         (int)sl, seg);
            memcpy(out->route + r, seg, sl);
            r += sl;
        }
        p = end;
    }
    out->route[r] = '\0';
    return 0;
}

int cp_valid_upstream_url(const char *url, const cp_path_template_t *tpl, char *err, size_t errlen)
{
    const char *host;
    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        FAIL("must be an http:// or https:// URL (got \"%s\")", url);
    /* it becomes an upstream request line: no white space, CR, LF */
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            FAIL("must not contain white space or control characters");
    size_t hl = strcspn(host, "/?#");
    if (hl == 0) FAIL("must name a host");
    const char *colon = NULL;
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', hl);
        if (rb == NULL) FAIL("has an unclosed '[' in the host");
        char a6[64];
        unsigned char buf[16];
        size_t al = (size_t)(rb - host - 1);
        if (al == 0 || al >= sizeof(a6)) FAIL("has an empty or over-long IPv6 address");
        memcpy(a6, host + 1, al);
        a6[al] = '\0';
        if (inet_pton(AF_INET6, a6, buf) != 1) FAIL("\"[%s]\" is not an IPv6 address", a6);
        if (rb + 1 < host + hl) colon = rb + 1;
        if (colon && *colon != ':') FAIL("has characters after the IPv6 address");
    } else {
        colon = memchr(host, ':', hl);
        for (const char *c = host; c < (colon ? colon : host + hl); c++)
            if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_'))
                FAIL("host contains '%c'", *c);
    }
    if (colon != NULL) {
        long port = digits(colon + 1, (size_t)(host + hl - colon - 1));
        if (port < 1 || port > 65535) FAIL("port must be 1-65535");
    }
    if (strchr(host + hl, '#')) FAIL("must not contain a fragment");
    for (const char *b = strchr(host + hl, '{'); b != NULL; b = strchr(b + 1, '{')) {
        const char *e = strchr(b, '}');
        if (e == NULL) FAIL("has an unclosed '{'");
        int found = 0;
        for (size_t i = 0; tpl != NULL && i < tpl->n_params; i++)
            if (strlen(tpl->params[i]) == (size_t)(e - b - 1) &&
                memcmp(tpl->params[i], b + 1, (size_t)(e - b - 1)) == 0)
                found = 1;
        if (!found)
            FAIL("uses {%.*s}, which is not a parameter of the endpoint's path", (int)(e - b - 1),
                 b + 1);
    }
    return 0;
}

int cp_valid_cidr(const char *s, char *err, size_t errlen)
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t al = slash ? (size_t)(slash - s) : strlen(s);
    if (al == 0 || al >= sizeof(addr)) FAIL("\"%s\" is not an IP address or CIDR", s);
    memcpy(addr, s, al);
    addr[al] = '\0';
    unsigned char buf[16];
    int max;
    if (inet_pton(AF_INET, addr, buf) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, addr, buf) == 1)
        max = 128;
    else
        FAIL("\"%s\" is not an IPv4 or IPv6 address", addr);
    if (slash != NULL) {
        long bits = digits(slash + 1, strlen(slash + 1));
        if (bits < 0 || bits > max) FAIL("\"%s\": prefix length must be 0-%d", s, max);
    }
    return 0;
}

int cp_valid_hostname(const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253) FAIL("\"%s\" must be 1-253 characters", s);
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63) FAIL("\"%s\" has an empty or over-long label", s);
            if (s[i - 1] == '-' || s[i - label] == '-')
                FAIL("\"%s\": labels must not start or end with '-'", s);
            label = 0;
        } else if (isalnum((unsigned char)c) || c == '-') {
            label++;
        } else {
            FAIL("\"%s\" is not a hostname (character '%c')", s, c);
        }
    }
    return 0;
}

int cp_valid_url_path(const char *p, char *err, size_t errlen)
{
    size_t n = strlen(p);
    if (n == 0) FAIL("is required");
    if (n > 128) FAIL("must be at most 128 characters");
    if (p[0] == '/' || p[n - 1] == '/') FAIL("must not start or end with '/' (got \"%s\")", p);
    if (strstr(p, "//")) FAIL("must not contain empty segments (\"//\")");
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)p[i]) || isdigit((unsigned char)p[i]) || strchr("-._/", p[i])))
            FAIL("may contain only a-z, 0-9, '-', '.', '_' and '/' (got '%c')", p[i]);
    const char *seg = p;
    while (seg != NULL) {
        if (strncmp(seg, "..", 2) == 0 && (seg[2] == '/' || seg[2] == '\0'))
            FAIL("must not contain \"..\" segments");
        if (strncmp(seg, ".", 1) == 0 && (seg[1] == '/' || seg[1] == '\0'))
            FAIL("must not contain \".\" segments");
        seg = strchr(seg, '/');
        if (seg) seg++;
    }
    return 0;
}

void cp_slug(const char *name, char *out, size_t outlen)
{
    size_t o = 0;
    int dash = 0;
    for (const char *c = name; *c && o + 2 < outlen; c++) {
        if (isalnum((unsigned char)*c)) {
            if (dash && o > 0) out[o++] = '-';
            out[o++] = (char)tolower((unsigned char)*c);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
}

/* ---- per kind ---- */

#define BAD(field, ...)                                                                            \
    do {                                                                                           \
        char why_[400];                                                                            \
        snprintf(why_, sizeof(why_), __VA_ARGS__);                                                 \
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s: %s", field, why_);                    \
        return -1;                                                                                 \
    } while (0)

static int version_ok(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (n < 1 || n > 10) FAIL("must be 1-10 characters (got %zu)", n);
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)v[i]) || strchr("-._", v[i])))
            FAIL("may contain only letters, digits, '-', '.', '_' (got '%c')", v[i]);
    return 0;
}

static int not_reserved(const char *p, char *err, size_t errlen)
{
    if (strcmp(p, "oauth2") == 0 || strncmp(p, "oauth2/", 7) == 0) FAIL("\"oauth2/\" is reserved");
    return 0;
}

int cp_validate_collection(const Apiplatform__V1__Collection *c, ap_status_t *st)
{
    char err[400];
    if (cp_valid_name(c->name, err, sizeof(err))) BAD("collection.name", "%s", err);
    if (version_ok(c->version, err, sizeof(err))) BAD("collection.version", "%s", err);
    if (cp_valid_url_path(c->path, err, sizeof(err)) || not_reserved(c->path, err, sizeof(err)))
        BAD("collection.path", "%s", err);
    if (strlen(c->description) > 2000)
        BAD("collection.description", "must be at most 2000 characters");
    return 0;
}

int cp_validate_endpoint(const Apiplatform__V1__Endpoint *e, ap_status_t *st)
{
    char err[400];
    cp_path_template_t tpl;
    if (cp_valid_name(e->name, err, sizeof(err))) BAD("endpoint.name", "%s", err);
    if (e->collection_id[0] == '\0') BAD("endpoint.collection_id", "is required");
    if (cp_valid_method(e->method, err, sizeof(err))) BAD("endpoint.method", "%s", err);
    if (cp_path_template_parse(e->path, &tpl, err, sizeof(err))) BAD("endpoint.path", "%s", err);
    if (e->timeout_ms > 240000)
        BAD("endpoint.timeout_ms", "must be at most 240000 (240 s; got %u)", e->timeout_ms);
    if (e->cache_ttl_seconds > 3600)
        BAD("endpoint.cache_ttl_seconds", "must be at most 3600 (got %u)", e->cache_ttl_seconds);
    if (e->cache_ttl_seconds > 0 && strcmp(e->method, "GET") != 0)
        BAD("endpoint.cache_ttl_seconds", "only GET endpoints can be cached");
    const Apiplatform__V1__Target *t = e->target;
    if (t == NULL || t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UNSPECIFIED)
        BAD("endpoint.target", "is required: an upstream URL or a static response");
    if (t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM) {
        if (cp_valid_upstream_url(t->url, &tpl, err, sizeof(err)))
            BAD("endpoint.target.url", "%s", err);
    } else if (t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC) {
        if (t->status < 100 || t->status > 599)
            BAD("endpoint.target.status", "must be an HTTP status 100-599 (got %u)", t->status);
        if (t->body.len > 1 << 20) BAD("endpoint.target.body", "must be at most 1 MiB");
    } else {
        BAD("endpoint.target.kind", "must be upstream or static");
    }
    return 0;
}

int cp_validate_client(const Apiplatform__V1__Client *c, ap_status_t *st)
{
    char err[400];
    if (cp_valid_name(c->name, err, sizeof(err))) BAD("client.name", "%s", err);
    if (strlen(c->description) > 2000) BAD("client.description", "must be at most 2000 characters");
    return 0;
}

int cp_validate_profile(const Apiplatform__V1__AccessProfile *p, ap_status_t *st)
{
    char err[400];
    if (cp_valid_name(p->name, err, sizeof(err))) BAD("profile.name", "%s", err);
    if (p->client_id[0] == '\0') BAD("profile.client_id", "is required");
    if (p->n_ip_allow > 1000) BAD("profile.ip_allow", "at most 1000 entries");
    for (size_t i = 0; i < p->n_ip_allow; i++)
        if (cp_valid_cidr(p->ip_allow[i], err, sizeof(err))) BAD("profile.ip_allow", "%s", err);
    if (p->auth_method > APIPLATFORM__V1__AUTH_METHOD__AUTH_METHOD_API_TOKEN)
        BAD("profile.auth_method", "only api_token is supported");
    return 0;
}

int cp_validate_policy(const Apiplatform__V1__AccessPolicy *p, ap_status_t *st)
{
    char err[400];
    if (cp_valid_name(p->name, err, sizeof(err))) BAD("policy.name", "%s", err);
    if (p->rate_limit != NULL) {
        if (p->rate_limit->count == 0) BAD("policy.rate_limit.count", "must be greater than 0");
        if (p->rate_limit->period == APIPLATFORM__V1__RATE_PERIOD__RATE_PERIOD_UNSPECIFIED)
            BAD("policy.rate_limit.period", "must be second, minute or hour");
    }
    if (p->quota != NULL) {
        if (p->quota->count == 0) BAD("policy.quota.count", "must be greater than 0");
        if (p->quota->period == APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_UNSPECIFIED)
            BAD("policy.quota.period", "must be day, week or month");
    }
    return 0;
}

int cp_validate_settings(const Apiplatform__V1__Settings *s, ap_status_t *st)
{
    char err[400];
    if (cp_valid_url_path(s->api_prefix, err, sizeof(err)) ||
        not_reserved(s->api_prefix, err, sizeof(err)))
        BAD("settings.api_prefix", "%s", err);
    for (size_t i = 0; i < s->n_custom_domains; i++) {
        if (cp_valid_hostname(s->custom_domains[i], err, sizeof(err)))
            BAD("settings.custom_domains", "%s", err);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->custom_domains[i], s->custom_domains[j]) == 0)
                BAD("settings.custom_domains", "\"%s\" is listed twice", s->custom_domains[i]);
    }
    return 0;
}
