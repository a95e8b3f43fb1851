/* Compiling a Snapshot into the data plane's read-only config, reference
 * counting, and the node's current-config pointer. Compiling copies every
 * field a request needs into one arena, resolves ids to pointers and re-runs
 * the control plane's syntax rules, so a config that compiles can serve any
 * request; anything else is refused with the offending resource named. */
#include "config_internal.h"
#include "ap_hash.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

#define ARENA_BLOCK (64 * 1024)
#define ARENA_ALIGN 16

struct st_dp_arena_block_t {
    dp_arena_block_t *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

void *dp_arena_alloc(dp_arena_t *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0) n = ARENA_ALIGN;
    dp_arena_block_t *b = a->blocks;
    if (b != NULL && b->size - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    /* big allocations get a block of their own behind the current one, so
     * the space left in the current block is not thrown away */
    size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
    dp_arena_block_t *nb = calloc(1, sizeof(*nb) + size);
    if (nb == NULL) return NULL;
    nb->size = size;
    nb->used = n;
    if (size != ARENA_BLOCK && b != NULL) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->blocks = nb;
    }
    return nb->data;
}

char *dp_arena_strndup(dp_arena_t *a, const char *s, size_t n)
{
    char *p = dp_arena_alloc(a, n + 1);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

void dp_arena_free(dp_arena_t *a)
{
    for (dp_arena_block_t *b = a->blocks, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    a->blocks = NULL;
}

/* ---- compile ---- */

/* The state of one compile: the config being built, an id index per kind
 * (open addressing over arena memory; ids must be unique within a kind)
 * and where errors go. */
typedef struct st_idmap_t {
    const char **keys;
    size_t *vals;
    size_t mask;
} idmap_t;

typedef struct st_compile_t {
    dp_config_t *c;
    idmap_t cols, eps, clients, profiles, policies, tokens;
    /* per collection index: the trie its endpoints go into */
    dp_rnode_t **col_roots;
    char *err;
    size_t errlen;
} compile_t;

/* protobuf-c gives "" for absent strings; a snapshot built by hand may
 * hold NULL. */
#define S(s) ((s) != NULL ? (s) : "")

__attribute__((format(printf, 2, 3))) static int fail(compile_t *x, const char *fmt, ...)
{
    if (x->err != NULL && x->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->err, x->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void *alloc(compile_t *x, size_t n)
{
    void *p = dp_arena_alloc(&x->c->arena, n);
    if (p == NULL) fail(x, "out of memory compiling the snapshot");
    return p;
}

static const char *copy_str(compile_t *x, const char *s)
{
    s = S(s);
    char *p = dp_arena_strndup(&x->c->arena, s, strlen(s));
    if (p == NULL) fail(x, "out of memory compiling the snapshot");
    return p;
}

static size_t hash_str(const char *s)
{
    size_t h = 14695981039346656037u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int idmap_init(compile_t *x, idmap_t *m, size_t n)
{
    size_t cap = 8;
    while (cap < n * 2)
        cap <<= 1;
    m->mask = cap - 1;
    m->keys = alloc(x, cap * sizeof(*m->keys));
    m->vals = alloc(x, cap * sizeof(*m->vals));
    return m->keys != NULL && m->vals != NULL ? 0 : -1;
}

/* Index of id, or (size_t)-1. */
static size_t idmap_get(const idmap_t *m, const char *id)
{
    for (size_t i = hash_str(id) & m->mask; m->keys[i] != NULL; i = (i + 1) & m->mask)
        if (strcmp(m->keys[i], id) == 0) return m->vals[i];
    return (size_t)-1;
}

/* Adds id (an arena string) at index v; -1 with the error set if kind
 * already has it. Empty ids are refused too: nothing could refer to them. */
static int idmap_add(compile_t *x, idmap_t *m, const char *kind, size_t pos, const char *id,
                     size_t v)
{
    if (id[0] == '\0') return fail(x, "%s #%zu in the snapshot has no id", kind, pos + 1);
    size_t i = hash_str(id) & m->mask;
    for (; m->keys[i] != NULL; i = (i + 1) & m->mask)
        if (strcmp(m->keys[i], id) == 0) return fail(x, "%s %s: duplicate id", kind, id);
    m->keys[i] = id;
    m->vals[i] = v;
    return 0;
}

static int compile_settings(compile_t *x, const Apiplatform__V1__Settings *s)
{
    dp_config_t *c = x->c;
    char why[400];
    if (s == NULL) {
        c->prefix = "api";
        c->prefix_len = 3;
        return 0;
    }
    if (cp_valid_url_path(S(s->api_prefix), why, sizeof(why)))
        return fail(x, "settings.api_prefix: %s", why);
    if ((c->prefix = copy_str(x, s->api_prefix)) == NULL) return -1;
    c->prefix_len = strlen(c->prefix);
    c->n_domains = s->n_custom_domains;
    c->domains = alloc(x, (c->n_domains + 1) * sizeof(*c->domains));
    c->domain_lens = alloc(x, (c->n_domains + 1) * sizeof(*c->domain_lens));
    if (c->domains == NULL || c->domain_lens == NULL) return -1;
    for (size_t i = 0; i < s->n_custom_domains; i++) {
        const char *d = S(s->custom_domains[i]);
        if (cp_valid_hostname(d, why, sizeof(why)))
            return fail(x, "settings.custom_domains: %s", why);
        char *l = (char *)copy_str(x, d);
        if (l == NULL) return -1;
        for (char *p = l; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        c->domains[i] = l;
        c->domain_lens[i] = strlen(l);
    }
    return 0;
}

static int compile_collections(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    char why[400];
    c->n_collections = snap->n_collections;
    c->collections = alloc(x, (c->n_collections + 1) * sizeof(*c->collections));
    x->col_roots = alloc(x, (c->n_collections + 1) * sizeof(*x->col_roots));
    if (c->collections == NULL || x->col_roots == NULL || idmap_init(x, &x->cols, c->n_collections))
        return -1;
    for (size_t i = 0; i < snap->n_collections; i++) {
        const Apiplatform__V1__Collection *s = snap->collections[i];
        dp_collection_t *d = &c->collections[i];
        if ((d->id = copy_str(x, s->id)) == NULL || (d->name = copy_str(x, s->name)) == NULL ||
            (d->path = copy_str(x, s->path)) == NULL)
            return -1;
        if (idmap_add(x, &x->cols, "collection", i, d->id, i)) return -1;
        if (cp_valid_url_path(d->path, why, sizeof(why)))
            return fail(x, "collection %s: path: %s", d->id, why);
        d->active =
            s->active_set_case == APIPLATFORM__V1__COLLECTION__ACTIVE_SET__NOT_SET || s->active;
        if (dp_router_add_collection(c, d, &x->col_roots[i], x->err, x->errlen)) return -1;
    }
    return 0;
}

/* Splits an upstream URL that cp_valid_upstream_url accepted. */
static int split_upstream(compile_t *x, dp_endpoint_t *d, const char *url)
{
    const char *host;
    if (strncmp(url, "https://", 8) == 0) {
        d->up_scheme = "https";
        d->up_port = 443;
        host = url + 8;
    } else {
        d->up_scheme = "http";
        d->up_port = 80;
        host = url + 7;
    }
    size_t hl = strcspn(host, "/?#");
    const char *hend = host + hl, *colon;
    if (host[0] == '[') {
        const char *rb = memchr(host, ']', hl);
        d->up_host = dp_arena_strndup(&x->c->arena, host + 1, (size_t)(rb - host - 1));
        colon = rb + 1 < hend ? rb + 1 : NULL;
    } else {
        colon = memchr(host, ':', hl);
        d->up_host = dp_arena_strndup(&x->c->arena, host, (size_t)((colon ? colon : hend) - host));
    }
    if (colon != NULL) d->up_port = (uint16_t)strtoul(colon + 1, NULL, 10);
    /* "http://h" -> "/", "http://h?q=1" -> "/?q=1": the request line needs a path */
    size_t rl = strlen(hend);
    char *path = dp_arena_alloc(&x->c->arena, rl + 2);
    if (d->up_host == NULL || path == NULL) return fail(x, "out of memory compiling the snapshot");
    if (hend[0] != '/') path[0] = '/';
    memcpy(path + (hend[0] != '/'), hend, rl);
    d->up_path = path;
    return 0;
}

static int compile_endpoints(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    char why[400];
    c->n_endpoints = snap->n_endpoints;
    c->endpoints = alloc(x, (c->n_endpoints + 1) * sizeof(*c->endpoints));
    if (c->endpoints == NULL || idmap_init(x, &x->eps, c->n_endpoints)) return -1;
    for (size_t i = 0; i < snap->n_endpoints; i++) {
        const Apiplatform__V1__Endpoint *s = snap->endpoints[i];
        dp_endpoint_t *d = &c->endpoints[i];
        if ((d->id = copy_str(x, s->id)) == NULL || (d->name = copy_str(x, s->name)) == NULL ||
            (d->method = copy_str(x, s->method)) == NULL ||
            (d->path = copy_str(x, s->path)) == NULL)
            return -1;
        if (idmap_add(x, &x->eps, "endpoint", i, d->id, i)) return -1;
        size_t ci = idmap_get(&x->cols, S(s->collection_id));
        if (ci == (size_t)-1)
            return fail(x, "endpoint %s: collection %s not in snapshot", d->id,
                        S(s->collection_id));
        d->collection = &c->collections[ci];
        if (cp_valid_method(d->method, why, sizeof(why)))
            return fail(x, "endpoint %s: method: %s", d->id, why);
        cp_path_template_t tpl;
        if (cp_path_template_parse(d->path, &tpl, why, sizeof(why)))
            return fail(x, "endpoint %s: path: %s", d->id, why);
        d->n_params = tpl.n_params;
        for (size_t p = 0; p < tpl.n_params; p++)
            if ((d->params[p] = copy_str(x, tpl.params[p])) == NULL) return -1;
        d->active = s->active;
        /* the control plane fills in 30 s; a hand-made snapshot may not */
        d->timeout_ms = s->timeout_ms ? s->timeout_ms : 30000;
        d->cache_ttl_seconds = s->cache_ttl_seconds;

        const Apiplatform__V1__Target *t = s->target;
        if (t == NULL || t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UNSPECIFIED)
            return fail(x, "endpoint %s: has no target (upstream URL or static response)", d->id);
        if (t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_UPSTREAM) {
            d->target = DP_TARGET_UPSTREAM;
            if (cp_valid_upstream_url(S(t->url), &tpl, why, sizeof(why)))
                return fail(x, "endpoint %s: target.url: %s", d->id, why);
            if (split_upstream(x, d, S(t->url))) return -1;
        } else if (t->kind == APIPLATFORM__V1__TARGET_KIND__TARGET_KIND_STATIC) {
            d->target = DP_TARGET_STATIC;
            if (t->status < 100 || t->status > 599)
                return fail(x, "endpoint %s: target.status must be 100-599 (got %u)", d->id,
                            t->status);
            d->static_status = t->status;
            if ((d->static_content_type = copy_str(x, t->content_type)) == NULL) return -1;
            if (t->body.len > 0) {
                uint8_t *b = alloc(x, t->body.len);
                if (b == NULL) return -1;
                memcpy(b, t->body.data, t->body.len);
                d->static_body = b;
                d->static_body_len = t->body.len;
            }
        } else {
            return fail(x, "endpoint %s: unknown target kind %d", d->id, (int)t->kind);
        }
        if (dp_router_add_endpoint(c, x->col_roots[ci], d, &tpl, x->err, x->errlen)) return -1;
    }
    return 0;
}

static int compile_policies(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    c->n_policies = snap->n_policies;
    c->policies = alloc(x, (c->n_policies + 1) * sizeof(*c->policies));
    if (c->policies == NULL || idmap_init(x, &x->policies, c->n_policies)) return -1;
    for (size_t i = 0; i < snap->n_policies; i++) {
        const Apiplatform__V1__AccessPolicy *s = snap->policies[i];
        dp_policy_t *d = &c->policies[i];
        if ((d->id = copy_str(x, s->id)) == NULL || (d->name = copy_str(x, s->name)) == NULL)
            return -1;
        if (idmap_add(x, &x->policies, "policy", i, d->id, i)) return -1;
        if (s->rate_limit != NULL && s->rate_limit->count > 0) {
            static const uint32_t window[] = {0, 1, 60, 3600};
            unsigned p = (unsigned)s->rate_limit->period;
            if (p == 0 || p >= sizeof(window) / sizeof(window[0]))
                return fail(x, "policy %s: rate_limit.period must be second, minute or hour",
                            d->id);
            static const char *const names[] = {"", "second", "minute", "hour"};
            d->rate_count = s->rate_limit->count;
            d->rate_window = window[p];
            d->rate_name = names[p];
            d->rate_name_len = (uint8_t)strlen(names[p]);
            int n = snprintf(d->rate_policy, sizeof(d->rate_policy), "\"%s\";q=%llu;w=%u", names[p],
                             (unsigned long long)d->rate_count, d->rate_window);
            d->rate_policy_len = (uint8_t)n;
        }
        if (s->quota != NULL && s->quota->count > 0) {
            unsigned p = (unsigned)s->quota->period;
            if (p < APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY ||
                p > APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH)
                return fail(x, "policy %s: quota.period must be day, week or month", d->id);
            d->quota_count = s->quota->count;
            d->quota_period = (int)p; /* the enum's 1/2/3 are dp's day/week/month */
        }
    }
    return 0;
}

static int compile_clients(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    c->n_clients = snap->n_clients;
    c->clients = alloc(x, (c->n_clients + 1) * sizeof(*c->clients));
    if (c->clients == NULL || idmap_init(x, &x->clients, c->n_clients)) return -1;
    for (size_t i = 0; i < snap->n_clients; i++) {
        const Apiplatform__V1__Client *s = snap->clients[i];
        dp_client_t *d = &c->clients[i];
        if ((d->id = copy_str(x, s->id)) == NULL || (d->name = copy_str(x, s->name)) == NULL)
            return -1;
        if (idmap_add(x, &x->clients, "client", i, d->id, i)) return -1;
        d->enabled =
            s->enabled_set_case == APIPLATFORM__V1__CLIENT__ENABLED_SET__NOT_SET || s->enabled;
    }
    return 0;
}

/* "10.0.0.0/8", "2001:db8::/32", "192.0.2.1" (a /32). IPv4-mapped IPv6
 * entries of /96 or longer become IPv4 entries, since v4-mapped peers are
 * checked as IPv4. */
int dp_cidr_parse(const char *s, dp_cidr_t *out)
{
    char a[64];
    const char *slash = strchr(s, '/');
    size_t al = slash ? (size_t)(slash - s) : strlen(s);
    if (al >= sizeof(a)) return -1;
    memcpy(a, s, al);
    a[al] = '\0';
    memset(out, 0, sizeof(*out));
    int max;
    if (inet_pton(AF_INET, a, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, a, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->bits = (uint8_t)(slash ? strtoul(slash + 1, NULL, 10) : (unsigned long)max);
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (out->family == AF_INET6 && out->bits >= 96 && memcmp(out->addr, mapped, 12) == 0) {
        memmove(out->addr, out->addr + 12, 4);
        memset(out->addr + 4, 0, 12);
        out->family = AF_INET;
        out->bits -= 96;
    }
    return 0;
}

static int compile_profiles(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    char why[400];
    c->n_profiles = snap->n_profiles;
    c->profiles = alloc(x, (c->n_profiles + 1) * sizeof(*c->profiles));
    if (c->profiles == NULL || idmap_init(x, &x->profiles, c->n_profiles)) return -1;
    for (size_t i = 0; i < snap->n_profiles; i++) {
        const Apiplatform__V1__AccessProfile *s = snap->profiles[i];
        dp_profile_t *d = &c->profiles[i];
        if ((d->id = copy_str(x, s->id)) == NULL || (d->name = copy_str(x, s->name)) == NULL)
            return -1;
        if (idmap_add(x, &x->profiles, "profile", i, d->id, i)) return -1;
        d->id_hash = ap_hash_str(d->id);
        size_t k = idmap_get(&x->clients, S(s->client_id));
        if (k == (size_t)-1)
            return fail(x, "profile %s: client %s not in snapshot", d->id, S(s->client_id));
        d->client = &c->clients[k];
        d->n_collections = s->n_collection_ids;
        d->collections = alloc(x, (d->n_collections + 1) * sizeof(*d->collections));
        if (d->collections == NULL) return -1;
        for (size_t j = 0; j < s->n_collection_ids; j++) {
            k = idmap_get(&x->cols, S(s->collection_ids[j]));
            if (k == (size_t)-1)
                return fail(x, "profile %s: collection %s not in snapshot", d->id,
                            S(s->collection_ids[j]));
            d->collections[j] = &c->collections[k];
        }
        if (S(s->policy_id)[0] != '\0') {
            k = idmap_get(&x->policies, s->policy_id);
            if (k == (size_t)-1)
                return fail(x, "profile %s: policy %s not in snapshot", d->id, s->policy_id);
            d->policy = &c->policies[k];
        }
        d->n_ip_allow = s->n_ip_allow;
        d->ip_allow = alloc(x, (d->n_ip_allow + 1) * sizeof(*d->ip_allow));
        if (d->ip_allow == NULL) return -1;
        for (size_t j = 0; j < s->n_ip_allow; j++) {
            const char *e = S(s->ip_allow[j]);
            snprintf(why, sizeof(why), "\"%s\" is not an IP address or CIDR", e);
            if (cp_valid_cidr(e, why, sizeof(why)) || dp_cidr_parse(e, &d->ip_allow[j]))
                return fail(x, "profile %s: ip_allow: %s", d->id, why);
        }
        d->enabled = s->enabled_set_case == APIPLATFORM__V1__ACCESS_PROFILE__ENABLED_SET__NOT_SET ||
                     s->enabled;
    }
    return 0;
}

static int unhex(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

static int compile_tokens(compile_t *x, const Apiplatform__V1__Snapshot *snap)
{
    dp_config_t *c = x->c;
    c->n_tokens = snap->n_tokens;
    c->tokens = alloc(x, (c->n_tokens + 1) * sizeof(*c->tokens));
    if (c->tokens == NULL || idmap_init(x, &x->tokens, c->n_tokens)) return -1;
    for (size_t i = 0; i < snap->n_tokens; i++) {
        const Apiplatform__V1__Token *s = snap->tokens[i];
        dp_token_t *d = &c->tokens[i];
        if ((d->id = copy_str(x, s->id)) == NULL) return -1;
        if (idmap_add(x, &x->tokens, "token", i, d->id, i)) return -1;
        const char *h = S(s->sha256);
        int ok = strlen(h) == 64;
        for (size_t j = 0; ok && j < 32; j++) {
            int hi = unhex(h[2 * j]), lo = unhex(h[2 * j + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok) d->sha256[j] = (uint8_t)(hi << 4 | lo);
        }
        if (!ok) return fail(x, "token %s: sha256 must be 64 lowercase hex digits", d->id);
        size_t k = idmap_get(&x->profiles, S(s->profile_id));
        if (k == (size_t)-1)
            return fail(x, "token %s: profile %s not in snapshot", d->id, S(s->profile_id));
        d->profile = &c->profiles[k];
        d->expire_time = s->expire_time;
        d->revoke_time = s->revoke_time;
    }
    return dp_tokens_build(c, x->err, x->errlen);
}

dp_config_t *dp_config_compile(const Apiplatform__V1__Snapshot *snap, uint64_t revision, char *err,
                               size_t errlen)
{
    compile_t x = {.err = err, .errlen = errlen};
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (snap == NULL) {
        fail(&x, "no snapshot");
        return NULL;
    }
    if ((x.c = calloc(1, sizeof(*x.c))) == NULL) {
        fail(&x, "out of memory compiling the snapshot");
        return NULL;
    }
    x.c->refs = 1;
    x.c->revision = revision;
    /* referenced kinds before the kinds that refer to them */
    if (compile_settings(&x, snap->settings) || compile_collections(&x, snap) ||
        compile_endpoints(&x, snap) || compile_policies(&x, snap) || compile_clients(&x, snap) ||
        compile_profiles(&x, snap) || compile_tokens(&x, snap)) {
        dp_arena_free(&x.c->arena);
        free(x.c);
        return NULL;
    }
    return x.c;
}

uint64_t dp_config_revision(const dp_config_t *c)
{
    return c->revision;
}

/* ---- references ---- */

dp_config_t *dp_config_retain(dp_config_t *c)
{
    if (c != NULL) __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void dp_config_release(dp_config_t *c)
{
    /* acq_rel: every holder's reads happen before the free */
    if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        dp_arena_free(&c->arena);
        free(c);
    }
}

/* ---- profiles ---- */

int dp_profile_has_collection(const dp_profile_t *p, const dp_collection_t *col)
{
    for (size_t i = 0; i < p->n_collections; i++)
        if (p->collections[i] == col) return 1;
    return 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

int dp_cidr_contains(const dp_cidr_t *list, size_t n, const struct sockaddr *addr)
{
    if (addr == NULL) return 0;
    uint8_t a[16];
    int family;
    if (addr->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        family = AF_INET;
    } else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(a, a6->s6_addr + 12, 4);
            family = AF_INET;
        } else {
            memcpy(a, a6->s6_addr, 16);
            family = AF_INET6;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (list[i].family == family && prefix_equal(a, list[i].addr, list[i].bits)) return 1;
    return 0;
}

int dp_profile_allows(const dp_profile_t *p, const struct sockaddr *addr)
{
    return p->n_ip_allow == 0 || dp_cidr_contains(p->ip_allow, p->n_ip_allow, addr);
}

/* ---- the current config ---- */

/* The config this node serves (NULL before the first), guarded by
 * current_lock so that taking a reference and swapping never interleave:
 * acquire cannot see a pointer whose last reference is being dropped. The
 * critical sections are a load and an increment. */
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static dp_config_t *current;

dp_config_t *dp_current_acquire(void)
{
    pthread_mutex_lock(&current_lock);
    dp_config_t *c = dp_config_retain(current);
    pthread_mutex_unlock(&current_lock);
    return c;
}

void dp_current_set(dp_config_t *c)
{
    pthread_mutex_lock(&current_lock);
    dp_config_t *old = current;
    current = c;
    pthread_mutex_unlock(&current_lock);
    /* outside the lock: freeing a big config must not stall acquirers */
    dp_config_release(old);
}
