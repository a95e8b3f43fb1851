/* Request routing over two levels of segment tries built at compile time:
 * collection paths ("sales/v2" is two levels), and under each collection
 * its endpoint templates, a literal child per segment plus one {param}
 * child. Matching walks the raw path once per candidate, literal before
 * param, without allocating; captured values point into the caller's path. */
#include "config_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Methods in the order an Allow header lists them; a method's index is its
 * bit in a node's mask. */
static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
#define N_METHODS (sizeof(METHODS) / sizeof(METHODS[0]))

/* Collection paths are at most 128 characters, so at most 64 segments. */
#define MAX_COLLECTION_DEPTH 64

typedef struct st_dp_rlit_t {
    const char *seg;
    size_t len;
    dp_rnode_t *node;
} dp_rlit_t;

struct st_dp_rnode_t {
    /* literal children, sorted by (len, bytes) for binary search */
    dp_rlit_t *lit;
    size_t n_lit, cap_lit;
    /* the child any one non-empty segment leads to */
    dp_rnode_t *param;
    /* endpoint trie: templates ending here, by method */
    unsigned methods;
    const dp_endpoint_t *by_method[N_METHODS];
    /* collection trie: the collection whose path ends here, and the root of
     * its endpoint trie */
    const dp_collection_t *col;
    dp_rnode_t *endpoints;
};

static int method_index(const char *m, size_t len)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (strlen(METHODS[i]) == len && memcmp(METHODS[i], m, len) == 0) return (int)i;
    return -1;
}

static int seg_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    if (al != bl) return al < bl ? -1 : 1;
    return memcmp(a, b, al);
}

/* The position of seg among n's literal children, or where it would go. */
static size_t lit_search(const dp_rnode_t *n, const char *seg, size_t len, int *found)
{
    size_t lo = 0, hi = n->n_lit;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = seg_cmp(n->lit[mid].seg, n->lit[mid].len, seg, len);
        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const dp_rnode_t *lit_child(const dp_rnode_t *n, const char *seg, size_t len)
{
    int found;
    size_t i = lit_search(n, seg, len, &found);
    return found ? n->lit[i].node : NULL;
}

/* The literal child for seg, made if missing; NULL when out of memory. */
static dp_rnode_t *lit_child_add(dp_config_t *c, dp_rnode_t *n, const char *seg, size_t len)
{
    int found;
    size_t i = lit_search(n, seg, len, &found);
    if (found) return n->lit[i].node;
    if (n->n_lit == n->cap_lit) {
        /* the old array stays in the arena: at most as much again */
        size_t cap = n->cap_lit ? n->cap_lit * 2 : 4;
        dp_rlit_t *lit = dp_arena_alloc(&c->arena, cap * sizeof(*lit));
        if (lit == NULL) return NULL;
        if (n->n_lit) memcpy(lit, n->lit, n->n_lit * sizeof(*lit));
        n->lit = lit;
        n->cap_lit = cap;
    }
    dp_rnode_t *child = dp_arena_alloc(&c->arena, sizeof(*child));
    char *s = dp_arena_strndup(&c->arena, seg, len);
    if (child == NULL || s == NULL) return NULL;
    memmove(n->lit + i + 1, n->lit + i, (n->n_lit - i) * sizeof(*n->lit));
    n->lit[i] = (dp_rlit_t){s, len, child};
    n->n_lit++;
    return child;
}

int dp_router_add_collection(dp_config_t *c, const dp_collection_t *col, dp_rnode_t **root,
                             char *err, size_t errlen)
{
    if (c->routes == NULL && (c->routes = dp_arena_alloc(&c->arena, sizeof(*c->routes))) == NULL)
        goto oom;
    dp_rnode_t *n = c->routes;
    for (const char *s = col->path;;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if ((n = lit_child_add(c, n, s, len)) == NULL) goto oom;
        if (e == NULL) break;
        s = e + 1;
    }
    if (n->col != NULL) {
        snprintf(err, errlen, "collection %s: path \"%s\" is already used by collection %s",
                 col->id, col->path, n->col->id);
        return -1;
    }
    if ((n->endpoints = dp_arena_alloc(&c->arena, sizeof(*n->endpoints))) == NULL) goto oom;
    n->col = col;
    *root = n->endpoints;
    return 0;
oom:
    snprintf(err, errlen, "out of memory compiling the snapshot");
    return -1;
}

int dp_router_add_endpoint(dp_config_t *c, dp_rnode_t *root, const dp_endpoint_t *ep,
                           const cp_path_template_t *tpl, char *err, size_t errlen)
{
    int mi = method_index(ep->method, strlen(ep->method));
    if (mi < 0) {
        snprintf(err, errlen, "endpoint %s: method \"%s\" is not routable", ep->id, ep->method);
        return -1;
    }
    /* "/" is the collection's root: no segments */
    dp_rnode_t *n = root;
    for (const char *s = ep->path[1] ? ep->path + 1 : NULL; s != NULL;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (s[0] == '{') {
            if (n->param == NULL &&
                (n->param = dp_arena_alloc(&c->arena, sizeof(*n->param))) == NULL)
                goto oom;
            n = n->param;
        } else if ((n = lit_child_add(c, n, s, len)) == NULL) {
            goto oom;
        }
        s = e ? e + 1 : NULL;
    }
    if (n->by_method[mi] != NULL) {
        snprintf(err, errlen,
                 "endpoint %s: %s %s in collection %s duplicates endpoint %s (%s %s; routes "
                 "differing only in parameter names clash)",
                 ep->id, ep->method, tpl->route, ep->collection->id, n->by_method[mi]->id,
                 n->by_method[mi]->method, n->by_method[mi]->path);
        return -1;
    }
    n->by_method[mi] = ep;
    n->methods |= 1u << mi;
    return 0;
oom:
    snprintf(err, errlen, "out of memory compiling the snapshot");
    return -1;
}

/* ---- matching ---- */

typedef struct st_route_ctx_t {
    /* the request's method index, -1 for one no endpoint can have */
    int method;
    /* methods of every template the path matched */
    unsigned allow;
    const dp_endpoint_t *found;
    const char *values[DP_MAX_PARAMS];
    size_t lens[DP_MAX_PARAMS];
} route_ctx_t;

/* Matches the rest of the path, p..end ("" or "/seg/..."), under n. Depth
 * first, literal before param, so the first template found with the method
 * is the most specific one (the leftmost literal wins); templates that match
 * without the method only add to allow. Each node is visited at most once. */
static int match(const dp_rnode_t *n, const char *p, const char *end, route_ctx_t *x, size_t depth)
{
    if (p == end) {
        x->allow |= n->methods;
        if (x->method >= 0 && n->by_method[x->method] != NULL) {
            x->found = n->by_method[x->method];
            return 1;
        }
        return 0;
    }
    const char *s = p + 1, *e = memchr(s, '/', (size_t)(end - s));
    if (e == NULL) e = end;
    size_t len = (size_t)(e - s);
    if (len == 0) return 0; /* "//" or a trailing '/' */
    const dp_rnode_t *child = n->n_lit ? lit_child(n, s, len) : NULL;
    if (child != NULL && match(child, e, end, x, depth)) return 1;
    /* templates hold at most CP_MAX_PARAMS == DP_MAX_PARAMS params */
    if (n->param != NULL && depth < DP_MAX_PARAMS) {
        x->values[depth] = s;
        x->lens[depth] = len;
        if (match(n->param, e, end, x, depth + 1)) return 1;
    }
    return 0;
}

/* Routes p..end, which starts with a collection path ("sales/v2/orders/1").
 * Collections are tried longest path first; a shorter one is tried only if
 * no endpoint of the longer one takes the method. */
static int match_collections(const dp_config_t *c, const char *p, const char *end, route_ctx_t *x)
{
    const dp_rnode_t *hits[MAX_COLLECTION_DEPTH];
    const char *rests[MAX_COLLECTION_DEPTH];
    size_t n_hits = 0;
    const dp_rnode_t *n = c->routes;
    for (const char *s = p; n != NULL && s < end && n_hits < MAX_COLLECTION_DEPTH;) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (e == NULL) e = end;
        if ((n = lit_child(n, s, (size_t)(e - s))) == NULL) break;
        if (n->col != NULL) {
            hits[n_hits] = n;
            rests[n_hits++] = e;
        }
        s = e + 1;
    }
    while (n_hits-- > 0) {
        const char *rest = rests[n_hits];
        /* "/{collection}/" is the collection's root, like "/{collection}" */
        if (end - rest == 1) rest = end;
        if (match(hits[n_hits]->endpoints, rest, end, x, 0)) return 1;
    }
    return 0;
}

static int is_custom_domain(const dp_config_t *c, const char *host, size_t len)
{
    if (len > 0 && host[len - 1] == '.') len--; /* "api.example.com." is the same host */
    for (size_t i = 0; i < c->n_domains; i++)
        if (c->domain_lens[i] == len && strncasecmp(c->domains[i], host, len) == 0) return 1;
    return 0;
}

static void write_allow(unsigned mask, char *allow, size_t allow_len)
{
    size_t o = 0;
    for (size_t i = 0; i < N_METHODS; i++) {
        if (!(mask & (1u << i))) continue;
        int r = snprintf(allow + o, allow_len - o, "%s%s", o ? ", " : "", METHODS[i]);
        if (r < 0 || (size_t)r >= allow_len - o) return; /* truncated, still terminated */
        o += (size_t)r;
    }
}

dp_route_result_t dp_config_route(const dp_config_t *c, const char *host, size_t host_len,
                                  const char *method, size_t method_len, const char *path,
                                  size_t path_len, dp_match_t *m, char *allow, size_t allow_len)
{
    route_ctx_t x;
    x.method = method_index(method, method_len);
    x.allow = 0;
    x.found = NULL;
    if (m != NULL) {
        m->endpoint = NULL;
        m->n_values = 0;
    }
    if (allow != NULL && allow_len > 0) allow[0] = '\0';
    if (c == NULL || c->routes == NULL || path_len == 0 || path[0] != '/')
        return DP_ROUTE_NOT_FOUND;

    const char *end = path + path_len;
    /* the prefixed form works on every host; a custom domain also takes the
     * path without it */
    int ok = path_len > c->prefix_len + 2 && memcmp(path + 1, c->prefix, c->prefix_len) == 0 &&
             path[1 + c->prefix_len] == '/' &&
             match_collections(c, path + 2 + c->prefix_len, end, &x);
    if (!ok && host != NULL && is_custom_domain(c, host, host_len))
        ok = match_collections(c, path + 1, end, &x);

    if (ok) {
        if (m != NULL) {
            m->endpoint = x.found;
            m->n_values = x.found->n_params;
            for (size_t i = 0; i < m->n_values; i++) {
                m->values[i] = x.values[i];
                m->value_lens[i] = x.lens[i];
            }
        }
        return DP_ROUTE_OK;
    }
    if (x.allow == 0) return DP_ROUTE_NOT_FOUND;
    if (allow != NULL && allow_len > 0) write_allow(x.allow, allow, allow_len);
    return DP_ROUTE_WRONG_METHOD;
}
