/* The API request handler and its response filter (see handler.h).
 * Enforcement reads only the compiled config the request acquired; nothing
 * here blocks or calls out. Upstream calls go through h2o's proxy: the
 * handler fills an h2o_req_overrides_t (socket pool, client context with the
 * endpoint's timeout, header edits) and reprocesses the request to the
 * upstream URL. Socket pools and timeouts are per thread and live as long as
 * the thread, so config swaps never touch them and keep-alive connections
 * survive them. */
#include "handler.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ap_log.h"
#include "problem.h"
#include "quota.h"
#include "ratelimit.h"
#include "sync.h"

#define UPSTREAM_BUCKETS 256
/* how long an idle upstream connection stays pooled */
#define UPSTREAM_KEEPALIVE_MS 2000
#define UPSTREAM_POOL_CAPACITY 1024

/* counter: requests accepted by the handler and not yet disposed */
static size_t inflight;

/* every loop thread, for the quota wake-up */
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static struct st_dp_thread_t *threads;

/* An upstream host:port (and scheme) with its pool of keep-alive connections. */
typedef struct st_dp_upstream_t {
    struct st_dp_upstream_t *next;
    int is_ssl;
    uint16_t port;
    char *host;
    /* what the proxy sends as Host: "host", "host:port", "[v6]:port" */
    h2o_iovec_t authority;
    h2o_socketpool_t pool;
} dp_upstream_t;

/* An I/O timeout of one duration and the proxy client context that uses it;
 * never moved once linked into the loop. */
typedef struct st_dp_timeout_t {
    struct st_dp_timeout_t *next;
    uint32_t ms;
    h2o_timeout_t timeout;
    h2o_http1client_ctx_t client;
} dp_timeout_t;

typedef struct st_dp_handler_t {
    h2o_handler_t super;
    dp_handler_opts_t opts;
    /* verifies https upstreams against the system's CAs */
    SSL_CTX *upstream_ssl;
} dp_handler_t;

/* Per thread (h2o context) state of the handler. */
typedef struct st_dp_parked_t dp_parked_t;

typedef struct st_dp_thread_t {
    h2o_context_t *ctx;
    /* requests waiting for an answer of the control plane about a quota
     * (this thread's only), their timeout, and how the sync thread wakes
     * this loop when an answer came */
    dp_parked_t *parked;
    h2o_timeout_t park_timeout;
    h2o_multithread_receiver_t wake;
    h2o_multithread_message_t wake_msg;
    int wake_pending; /* atomic */
    struct st_dp_thread_t *next_thread;
    dp_upstream_t *upstreams[UPSTREAM_BUCKETS];
    dp_timeout_t *timeouts;
    EVP_MD *sha256;
    EVP_MD_CTX *md;
    /* xoshiro256** state for request ids */
    uint64_t rng[4];
} dp_thread_t;

typedef struct st_dp_response_filter_t {
    h2o_filter_t super;
    dp_handler_t *handler;
} dp_response_filter_t;

/* The ostream that replaces one of h2o's own error bodies with a problem. */
typedef struct st_dp_rewrite_t {
    h2o_ostream_t super;
    dp_reqstate_t *st;
} dp_rewrite_t;

size_t dp_handler_inflight(void)
{
    return __atomic_load_n(&inflight, __ATOMIC_ACQUIRE);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- request ids ---- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void rng_seed(uint64_t *s)
{
    if (getrandom(s, 4 * sizeof(*s), 0) != 4 * sizeof(*s)) {
        /* no entropy source: ids only need to be unique, not secret */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
        s[1] = (uint64_t)(uintptr_t)s ^ now_ns();
        s[2] = 0x9e3779b97f4a7c15u;
        s[3] = (uint64_t)getpid();
    }
    if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = 1;
}

static void request_id(dp_thread_t *t, char *out)
{
    static const char HEX[] = "0123456789abcdef";
    for (int i = 0; i < 2; i++) {
        uint64_t r = rng_next(t->rng);
        for (int j = 0; j < 16; j++, r >>= 4)
            out[i * 16 + j] = HEX[r & 15];
    }
    out[32] = '\0';
}

/* ---- request state ---- */

static void on_state_setup_ostream(h2o_req_prefilter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    h2o_setup_next_prefilter(self, req, slot);
}

static void on_state_dispose(void *p)
{
    dp_reqstate_t *st = p;
    if (st->config != NULL) dp_config_release(st->config);
    if (st->counted) __atomic_sub_fetch(&inflight, 1, __ATOMIC_RELEASE);
}

static dp_reqstate_t *reqstate_new(dp_thread_t *t, h2o_req_t *req, int counted)
{
    dp_reqstate_t *st = h2o_mem_alloc_shared(&req->pool, sizeof(*st), on_state_dispose);
    memset(st, 0, sizeof(*st));
    st->super.on_setup_ostream = on_state_setup_ostream;
    st->super.next = req->prefilters;
    req->prefilters = &st->super;
    request_id(t, st->request_id);
    st->code = "ok";
    if (counted) {
        st->counted = 1;
        __atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED);
    }
    return st;
}

dp_reqstate_t *dp_reqstate_get(h2o_req_t *req)
{
    for (h2o_req_prefilter_t *p = req->prefilters; p != NULL; p = p->next)
        if (p->on_setup_ostream == on_state_setup_ostream) return (dp_reqstate_t *)p;
    return NULL;
}

/* Answers with a problem and records its code. */
static int fail(h2o_req_t *req, dp_reqstate_t *st, dp_problem_code_t code)
{
    st->code = dp_problem(code)->code;
    st->answered = 1;
    dp_problem_send(req, code, NULL, st->request_id);
    return 0;
}

/* ---- per-thread pools ---- */

static dp_upstream_t *upstream_get(dp_thread_t *t, const dp_endpoint_t *ep)
{
    int is_ssl = strcmp(ep->up_scheme, "https") == 0;
    size_t hlen = strlen(ep->up_host);
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < hlen; i++)
        h = (h ^ (unsigned char)ep->up_host[i]) * 1099511628211u;
    h = (h ^ ep->up_port ^ ((uint64_t)is_ssl << 16)) * 1099511628211u;
    dp_upstream_t **b = &t->upstreams[h % UPSTREAM_BUCKETS];
    for (dp_upstream_t *u = *b; u != NULL; u = u->next)
        if (u->port == ep->up_port && u->is_ssl == is_ssl && strcmp(u->host, ep->up_host) == 0)
            return u;

    dp_upstream_t *u = calloc(1, sizeof(*u));
    if (u == NULL || (u->host = strdup(ep->up_host)) == NULL) {
        free(u);
        return NULL;
    }
    u->is_ssl = is_ssl;
    u->port = ep->up_port;
    int v6 = strchr(u->host, ':') != NULL, default_port = u->port == (is_ssl ? 443 : 80);
    size_t cap = hlen + 16;
    char *a = malloc(cap);
    if (a == NULL) {
        free(u->host);
        free(u);
        return NULL;
    }
    int n = default_port ? snprintf(a, cap, v6 ? "[%s]" : "%s", u->host)
                         : snprintf(a, cap, v6 ? "[%s]:%u" : "%s:%u", u->host, u->port);
    u->authority = h2o_iovec_init(a, (size_t)n);
    h2o_socketpool_init_by_hostport(&u->pool, h2o_iovec_init(u->host, hlen), u->port, is_ssl,
                                    UPSTREAM_POOL_CAPACITY);
    h2o_socketpool_set_timeout(&u->pool, t->ctx->loop, UPSTREAM_KEEPALIVE_MS);
    u->next = *b;
    *b = u;
    return u;
}

static dp_timeout_t *timeout_get(dp_thread_t *t, dp_handler_t *self, uint32_t ms)
{
    if (ms == 0) ms = 30000;
    for (dp_timeout_t *x = t->timeouts; x != NULL; x = x->next)
        if (x->ms == ms) return x;
    dp_timeout_t *x = calloc(1, sizeof(*x));
    if (x == NULL) return NULL;
    x->ms = ms;
    h2o_timeout_init(t->ctx->loop, &x->timeout, ms);
    x->client = t->ctx->proxy.client_ctx;
    x->client.io_timeout = &x->timeout;
    x->client.websocket_timeout = NULL;
    x->client.ssl_ctx = self->upstream_ssl;
    x->next = t->timeouts;
    t->timeouts = x;
    return x;
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
static void unpark(dp_parked_t *p);

static void on_context_init(h2o_handler_t *_self, h2o_context_t *ctx)
{
    dp_thread_t *t = calloc(1, sizeof(*t));
    if (t == NULL) abort();
    t->ctx = ctx;
    t->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    t->md = EVP_MD_CTX_new();
    if (t->sha256 == NULL || t->md == NULL) abort();
    rng_seed(t->rng);
    h2o_timeout_init(ctx->loop, &t->park_timeout, (uint64_t)dp_quota_wait_ms());
    h2o_multithread_register_receiver(ctx->queue, &t->wake, on_wake);
    pthread_mutex_lock(&threads_mu);
    t->next_thread = threads;
    threads = t;
    pthread_mutex_unlock(&threads_mu);
    h2o_context_set_handler_context(ctx, _self, t);
}

static void on_context_dispose(h2o_handler_t *_self, h2o_context_t *ctx)
{
    dp_thread_t *t = h2o_context_get_handler_context(ctx, _self);
    if (t == NULL) return;
    pthread_mutex_lock(&threads_mu);
    for (dp_thread_t **p = &threads; *p != NULL; p = &(*p)->next_thread)
        if (*p == t) {
            *p = t->next_thread;
            break;
        }
    pthread_mutex_unlock(&threads_mu);
    h2o_multithread_unregister_receiver(ctx->queue, &t->wake);
    while (t->parked != NULL)
        unpark(t->parked);
    h2o_timeout_dispose(ctx->loop, &t->park_timeout);
    for (size_t i = 0; i < UPSTREAM_BUCKETS; i++) {
        for (dp_upstream_t *u = t->upstreams[i], *next; u != NULL; u = next) {
            next = u->next;
            h2o_socketpool_dispose(&u->pool);
            free(u->authority.base);
            free(u->host);
            free(u);
        }
    }
    for (dp_timeout_t *x = t->timeouts, *next; x != NULL; x = next) {
        next = x->next;
        h2o_timeout_dispose(ctx->loop, &x->timeout);
        free(x);
    }
    EVP_MD_CTX_free(t->md);
    EVP_MD_free(t->sha256);
    free(t);
}

/* ---- credentials ---- */

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 (padding optional) into pool; {NULL, 0} if malformed. */
static h2o_iovec_t b64decode(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1) return h2o_iovec_init(NULL, 0);
    char *out = h2o_mem_alloc_pool(pool, len * 3 / 4 + 1), *o = out;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return h2o_iovec_init(NULL, 0);
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (char)((acc >> bits) & 0xff);
        }
    }
    *o = '\0';
    return h2o_iovec_init(out, (size_t)(o - out));
}

/* The password of an `Authorization: Basic` credential whose user is
 * api-token, or {NULL, 0}. */
static h2o_iovec_t basic_api_token(h2o_mem_pool_t *pool, h2o_iovec_t v)
{
    v = h2o_str_stripws(v.base, v.len);
    if (v.len < 6 || !h2o_lcstris(v.base, 6, H2O_STRLIT("basic "))) return h2o_iovec_init(NULL, 0);
    h2o_iovec_t b = h2o_str_stripws(v.base + 6, v.len - 6);
    h2o_iovec_t d = b64decode(pool, b.base, b.len);
    static const char USER[] = "api-token:";
    if (d.base == NULL || d.len < sizeof(USER) - 1 || memcmp(d.base, USER, sizeof(USER) - 1) != 0) {
        if (d.base != NULL) h2o_mem_set_secure(d.base, 0, d.len);
        return h2o_iovec_init(NULL, 0);
    }
    return h2o_iovec_init(d.base + sizeof(USER) - 1, d.len - (sizeof(USER) - 1));
}

/* Finds the caller's API token: the API-Token header, else HTTP Basic with
 * user api-token. *basic receives the decoded Basic password when the
 * Authorization header carries an api-token credential (it is then not
 * forwarded, and the caller wipes the decoded copy). Returns 0 if there is
 * no token. */
static int find_token(h2o_req_t *req, h2o_iovec_t *secret, h2o_iovec_t *basic_out)
{
    h2o_iovec_t basic = h2o_iovec_init(NULL, 0);
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1) basic = basic_api_token(&req->pool, req->headers.entries[i].value);
    *basic_out = basic;
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("api-token"), -1);
    if (i != -1) {
        h2o_iovec_t v =
            h2o_str_stripws(req->headers.entries[i].value.base, req->headers.entries[i].value.len);
        if (v.len != 0) {
            *secret = v;
            return 1;
        }
    }
    if (basic.base != NULL && basic.len != 0) {
        *secret = basic;
        return 1;
    }
    return 0;
}

static void sha256(dp_thread_t *t, const void *data, size_t len, uint8_t out[32])
{
    unsigned n = 32;
    EVP_DigestInit_ex(t->md, t->sha256, NULL);
    EVP_DigestUpdate(t->md, data, len);
    EVP_DigestFinal_ex(t->md, out, &n);
}

/* ---- limits ---- */

static int headers_too_large(h2o_req_t *req, size_t max_total)
{
    size_t total = req->input.method.len + req->input.path.len + req->input.authority.len;
    for (size_t i = 0; i != req->headers.size; i++) {
        size_t n = req->headers.entries[i].name->len + req->headers.entries[i].value.len;
        if (n > DP_MAX_HEADER_LINE) return 1;
        total += n + 4;
    }
    return total > max_total;
}

/* Parses one X-Forwarded-For element (an IPv4 or IPv6 address, spaces
 * around it allowed) into ss; 0 or -1. */
static int parse_xff_addr(const char *b, size_t n, struct sockaddr_storage *ss)
{
    while (n > 0 && (*b == ' ' || *b == '\t'))
        b++, n--;
    while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    char a[64];
    if (n == 0 || n >= sizeof(a)) return -1;
    memcpy(a, b, n);
    a[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

/* Who is calling: the peer, unless the peer is a trusted proxy; then the
 * rightmost X-Forwarded-For address that is not a trusted proxy (walking
 * right to left across all X-Forwarded-For headers, stopping at anything
 * unparsable). NULL when the peer is unknown. */
static const struct sockaddr *caller_addr(dp_handler_t *self, h2o_req_t *req,
                                          struct sockaddr_storage *ss)
{
    if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)ss) == 0) return NULL;
    const dp_cidr_t *tp = self->opts.trusted_proxies;
    size_t ntp = self->opts.n_trusted_proxies;
    if (ntp == 0 || !dp_cidr_contains(tp, ntp, (struct sockaddr *)ss)) return (struct sockaddr *)ss;
    /* the headers' elements, right to left */
    ssize_t idx = -1, last = -1;
    while ((idx = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-forwarded-for"), idx)) != -1)
        last = idx;
    for (ssize_t i = last; i >= 0; i--) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (!h2o_memis(h->name->base, h->name->len, H2O_STRLIT("x-forwarded-for"))) continue;
        const char *v = h->value.base;
        size_t end = h->value.len;
        while (1) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            struct sockaddr_storage cand;
            if (parse_xff_addr(v + start, end - start, &cand) != 0) return (struct sockaddr *)ss;
            *ss = cand;
            if (!dp_cidr_contains(tp, ntp, (struct sockaddr *)ss)) return (struct sockaddr *)ss;
            if (start == 0) break;
            end = start - 1;
        }
    }
    return (struct sockaddr *)ss;
}

/* Adds Retry-After: secs. */
static void retry_after(h2o_req_t *req, uint32_t secs)
{
    char *ra = h2o_mem_alloc_pool(&req->pool, 16);
    int n = snprintf(ra, 16, "%u", secs);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, (size_t)n);
}

/* Decimal digits of v at o (no terminator), two at a time; returns the
 * end. snprintf was most of what the limit headers cost per request. */
static char *put_dec(char *o, uint64_t v)
{
    static const char D2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                             "34353637383940414243444546474849505152535455565758596061626364656667"
                             "6869707172737475767778798081828384858687888990919293949596979899";
    char tmp[20], *e = tmp + sizeof(tmp), *p = e;
    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = D2[i + 1];
        *--p = D2[i];
    }
    if (v >= 10) {
        *--p = D2[v * 2 + 1];
        *--p = D2[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    memcpy(o, p, (size_t)(e - p));
    return o + (e - p);
}

/* Appends one draft-11 policy item to the RateLimit-Policy and RateLimit
 * values (comma-separated when both a rate limit and a quota apply): the
 * policy item as made once per policy (`"minute";q=100;w=60`), and
 * `"minute";r=R;t=T`. Two items with the longest names and numbers fit the
 * buffers. */
static void add_policy_item(dp_reqstate_t *st, const char *policy, size_t policy_len,
                            const char *name, size_t name_len, uint64_t r, uint32_t t)
{
    char *o = st->ratelimit_policy + st->ratelimit_policy_len;
    if (st->ratelimit_policy_len != 0) *o++ = ',', *o++ = ' ';
    memcpy(o, policy, policy_len);
    st->ratelimit_policy_len = (uint8_t)(o + policy_len - st->ratelimit_policy);
    o = st->ratelimit + st->ratelimit_len;
    if (st->ratelimit_len != 0) *o++ = ',', *o++ = ' ';
    *o++ = '"';
    memcpy(o, name, name_len);
    o += name_len;
    memcpy(o, "\";r=", 4);
    o = put_dec(o + 4, r);
    memcpy(o, ";t=", 3);
    o = put_dec(o + 3, t);
    st->ratelimit_len = (uint8_t)(o - st->ratelimit);
}

/* The profile's rate limit: this node admits its share (limit / nodes, at
 * least 1) per sliding window; `r` in the headers is the cluster-wide
 * estimate (this node's remaining times the number of nodes). Returns
 * DP_PROBLEM_RATE_LIMITED (Retry-After added), or -1 to go on. */
static int check_rate(h2o_req_t *req, dp_reqstate_t *st)
{
    const dp_policy_t *pol = st->token->profile->policy;
    if (pol != NULL && pol->rate_count != 0) {
        uint64_t nodes = dp_sync_node_count();
        uint64_t share = (pol->rate_count + nodes / 2) / nodes;
        if (share == 0) share = 1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        dp_rl_result_t r;
        dp_rl_take_h(st->token->profile->id, st->token->profile->id_hash, share, pol->rate_window,
                     (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, &r);
        uint64_t left = r.remaining * nodes;
        if (left > pol->rate_count) left = pol->rate_count;
        add_policy_item(st, pol->rate_policy, pol->rate_policy_len, pol->rate_name,
                        pol->rate_name_len, left, r.reset);
        if (!r.allowed) {
            retry_after(req, r.retry_after);
            return DP_PROBLEM_RATE_LIMITED;
        }
    }
    return -1;
}

#define QUOTA_PENDING (-2)

/* The profile's quota, taken from this node's lease (quota.h); `r` in the
 * headers is the quota minus the cluster-wide use the control plane last
 * reported minus this node's use since. Returns DP_PROBLEM_QUOTA_EXCEEDED
 * or DP_PROBLEM_QUOTA_UNAVAILABLE (Retry-After added), -1 to go on, or
 * QUOTA_PENDING when an answer of the control plane is awaited (unless
 * final: then that is UNAVAILABLE). */
static int check_quota(h2o_req_t *req, dp_reqstate_t *st, int final)
{
    const dp_policy_t *pol = st->token->profile->policy;
    if (pol == NULL || pol->quota_count == 0) return -1;
    const dp_profile_t *prof = st->token->profile;
    dp_quota_result_t q;
    dp_quota_take_h(prof->id, prof->id_hash, final, &q);
    if (q.outcome == DP_QUOTA_PENDING) return QUOTA_PENDING;
    if (q.name != NULL)
        add_policy_item(st, q.policy_item, q.policy_item_len, q.name, q.name_len, q.remaining,
                        q.reset);
    if (q.outcome == DP_QUOTA_OK) return -1;
    retry_after(req, q.retry_after);
    return q.outcome == DP_QUOTA_EXCEEDED ? DP_PROBLEM_QUOTA_EXCEEDED
                                          : DP_PROBLEM_QUOTA_UNAVAILABLE;
}

/* ---- targets ---- */

static void send_static(h2o_req_t *req, dp_reqstate_t *st, const dp_endpoint_t *ep)
{
    st->answered = 1;
    st->code = "ok";
    req->res.status = (int)ep->static_status;
    req->res.reason = dp_problem_reason(req->res.status);
    /* these statuses never carry a body */
    int bodiless = req->res.status == 204 || req->res.status == 304;
    size_t len = bodiless ? 0 : ep->static_body_len;
    if (!bodiless && ep->static_content_type != NULL && ep->static_content_type[0] != '\0')
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       ep->static_content_type, strlen(ep->static_content_type));
    req->res.content_length = len;
    h2o_send_inline(req, len != 0 ? (const char *)ep->static_body : "", len);
}

/* The upstream path: the template with each {param} replaced by the value
 * captured for it (raw, as the caller sent it), then the caller's query
 * appended (after the template's own query, with '&'). */
static h2o_iovec_t upstream_path(h2o_req_t *req, const dp_match_t *m)
{
    const dp_endpoint_t *ep = m->endpoint;
    const char *tpl = ep->up_path;
    size_t qlen = 0;
    const char *q = NULL;
    if (req->input.query_at != SIZE_MAX) {
        q = req->input.path.base + req->input.query_at + 1;
        qlen = req->input.path.len - req->input.query_at - 1;
    }
    size_t cap = strlen(tpl) + qlen + 2;
    for (size_t i = 0; i < m->n_values; i++)
        cap += m->value_lens[i];
    /* a template may name a param more than once */
    for (const char *p = tpl; (p = strchr(p, '{')) != NULL; p++)
        for (size_t i = 0; i < m->n_values; i++)
            cap += m->value_lens[i];
    char *out = h2o_mem_alloc_pool(&req->pool, cap), *o = out;
    int has_query = 0;
    for (const char *p = tpl; *p != '\0';) {
        if (*p == '?') has_query = 1;
        const char *close;
        if (*p == '{' && (close = strchr(p, '}')) != NULL) {
            size_t nlen = (size_t)(close - p - 1);
            size_t i;
            for (i = 0; i < ep->n_params && i < m->n_values; i++)
                if (strlen(ep->params[i]) == nlen && memcmp(ep->params[i], p + 1, nlen) == 0) break;
            if (i < ep->n_params && i < m->n_values) {
                memcpy(o, m->values[i], m->value_lens[i]);
                o += m->value_lens[i];
                p = close + 1;
                continue;
            }
        }
        *o++ = *p++;
    }
    if (qlen != 0) {
        if (!has_query)
            *o++ = '?';
        else if (o[-1] != '?' && o[-1] != '&')
            *o++ = '&';
        memcpy(o, q, qlen);
        o += qlen;
    }
    return h2o_iovec_init(out, (size_t)(o - out));
}

static h2o_iovec_t H_API_TOKEN = {H2O_STRLIT("api-token")};
static h2o_iovec_t H_REQUEST_ID = {H2O_STRLIT("x-request-id")};
static h2o_iovec_t H_FORWARDED_HOST = {H2O_STRLIT("x-forwarded-host")};
static h2o_iovec_t H_CLIENT_ID = {H2O_STRLIT("x-api-client-id")};
static h2o_iovec_t H_CLIENT_NAME = {H2O_STRLIT("x-api-client-name")};
static h2o_iovec_t H_PROFILE_ID = {H2O_STRLIT("x-api-profile-id")};

/* A header value from config: copied into the pool, and left out ({NULL})
 * if it could split the header (control characters). */
static h2o_iovec_t header_value(h2o_mem_pool_t *pool, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return h2o_iovec_init(NULL, 0);
    return h2o_strdup(pool, s, SIZE_MAX);
}

static int proxy(dp_handler_t *self, dp_thread_t *t, h2o_req_t *req, dp_reqstate_t *st,
                 const dp_match_t *m, int drop_authorization)
{
    const dp_endpoint_t *ep = m->endpoint;
    const dp_profile_t *prof = st->token->profile;
    dp_upstream_t *up = upstream_get(t, ep);
    dp_timeout_t *to = timeout_get(t, self, ep->timeout_ms);
    if (up == NULL || to == NULL) return fail(req, st, DP_PROBLEM_INTERNAL_ERROR);

    h2o_headers_command_t *cmds = h2o_mem_alloc_pool(&req->pool, 8 * sizeof(*cmds));
    size_t n = 0;
    cmds[n++] = (h2o_headers_command_t){H2O_HEADERS_CMD_UNSET, &H_API_TOKEN};
    if (drop_authorization)
        cmds[n++] = (h2o_headers_command_t){H2O_HEADERS_CMD_UNSET,
                                            (h2o_iovec_t *)&H2O_TOKEN_AUTHORIZATION->buf};
    cmds[n++] = (h2o_headers_command_t){H2O_HEADERS_CMD_SET, &H_REQUEST_ID,
                                        h2o_iovec_init(st->request_id, 32)};
    cmds[n++] =
        (h2o_headers_command_t){H2O_HEADERS_CMD_SET, &H_FORWARDED_HOST, req->input.authority};
    struct {
        h2o_iovec_t *name;
        const char *value;
    } ident[] = {
        {&H_CLIENT_ID, prof->client->id},
        {&H_CLIENT_NAME, prof->client->name},
        {&H_PROFILE_ID, prof->id},
    };
    for (size_t i = 0; i < sizeof(ident) / sizeof(ident[0]); i++) {
        h2o_iovec_t v =
            ident[i].value ? header_value(&req->pool, ident[i].value) : h2o_iovec_init(NULL, 0);
        cmds[n++] = v.base != NULL ? (h2o_headers_command_t){H2O_HEADERS_CMD_SET, ident[i].name, v}
                                   : (h2o_headers_command_t){H2O_HEADERS_CMD_UNSET, ident[i].name};
    }
    cmds[n] = (h2o_headers_command_t){H2O_HEADERS_CMD_NULL};

    h2o_req_overrides_t *ov = h2o_mem_alloc_pool(&req->pool, sizeof(*ov));
    memset(ov, 0, sizeof(*ov));
    ov->socketpool = &up->pool;
    ov->client_ctx = &to->client;
    ov->headers_cmds = cmds;

    st->proxied = 1;
    st->code = "ok";
    st->upstream_start_ns = now_ns();
    h2o_reprocess_request(req, req->method,
                          up->is_ssl ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP, up->authority,
                          upstream_path(req, m), ov, 0);
    return 0;
}

static int dispatch(dp_handler_t *self, dp_thread_t *t, h2o_req_t *req, dp_reqstate_t *st,
                    const dp_match_t *m, int drop_authorization)
{
    if (m->endpoint->target == DP_TARGET_STATIC) {
        send_static(req, st, m->endpoint);
        return 0;
    }
    return proxy(self, t, req, st, m, drop_authorization);
}

/* ---- requests waiting for a quota answer ----
 *
 * The first request of a profile on a node (or one that finds its lease
 * used up while more is on its way) needs an answer from the control plane.
 * It is parked on its thread, not blocking the loop; the sync thread wakes
 * every loop when an answer comes, and parked requests try again; after
 * --quota-wait-ms they get 503 quota_unavailable. A parked request whose
 * connection goes away is unlinked when its pool is cleared. */

struct st_dp_parked_t {
    h2o_req_t *req;
    dp_reqstate_t *st;
    dp_handler_t *self;
    dp_thread_t *t;
    dp_match_t m;
    int drop_authorization;
    int linked;
    h2o_timeout_entry_t timer;
    dp_parked_t *prev, *next;
};

static void unpark(dp_parked_t *p)
{
    if (!p->linked) return;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->t->parked = p->next;
    if (p->next != NULL) p->next->prev = p->prev;
    if (h2o_timeout_is_linked(&p->timer)) h2o_timeout_unlink(&p->timer);
    p->linked = 0;
}

/* Tries the quota again; final: no more waiting. */
static void retry_parked(dp_parked_t *p, int final)
{
    int limited = check_quota(p->req, p->st, final);
    if (limited == QUOTA_PENDING) return;
    unpark(p);
    if (limited >= 0)
        fail(p->req, p->st, (dp_problem_code_t)limited);
    else
        dispatch(p->self, p->t, p->req, p->st, &p->m, p->drop_authorization);
}

static void on_park_timeout(h2o_timeout_entry_t *entry)
{
    retry_parked(H2O_STRUCT_FROM_MEMBER(dp_parked_t, timer, entry), 1);
}

static void on_parked_dispose(void *p)
{
    unpark(p);
}

static void park(dp_handler_t *self, dp_thread_t *t, h2o_req_t *req, dp_reqstate_t *st,
                 const dp_match_t *m, int drop_authorization)
{
    dp_parked_t *p = h2o_mem_alloc_shared(&req->pool, sizeof(*p), on_parked_dispose);
    memset(p, 0, sizeof(*p));
    p->req = req;
    p->st = st;
    p->self = self;
    p->t = t;
    p->m = *m;
    p->drop_authorization = drop_authorization;
    p->timer.cb = on_park_timeout;
    p->next = t->parked;
    if (p->next != NULL) p->next->prev = p;
    t->parked = p;
    p->linked = 1;
    h2o_timeout_link(t->ctx->loop, &t->park_timeout, &p->timer);
}

/* On the loop thread: an answer came; every parked request tries again. */
static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    dp_thread_t *t = H2O_STRUCT_FROM_MEMBER(dp_thread_t, wake, receiver);
    while (!h2o_linklist_is_empty(messages))
        h2o_linklist_unlink(messages->next);
    __atomic_store_n(&t->wake_pending, 0, __ATOMIC_RELEASE);
    for (dp_parked_t *p = t->parked, *next; p != NULL; p = next) {
        next = p->next;
        retry_parked(p, 0);
    }
}

/* On the sync thread (dp_quota_set_notify): wakes every loop, once per
 * answer at most. */
static void wake_threads(void)
{
    pthread_mutex_lock(&threads_mu);
    for (dp_thread_t *t = threads; t != NULL; t = t->next_thread)
        if (!__atomic_exchange_n(&t->wake_pending, 1, __ATOMIC_ACQ_REL))
            h2o_multithread_send_message(&t->wake, &t->wake_msg);
    pthread_mutex_unlock(&threads_mu);
}

/* ---- the handler ---- */

static int on_req(h2o_handler_t *_self, h2o_req_t *req)
{
    dp_handler_t *self = (dp_handler_t *)_self;
    dp_thread_t *t = h2o_context_get_handler_context(req->conn->ctx, _self);
    dp_reqstate_t *st = reqstate_new(t, req, 1);

    if (headers_too_large(req, self->opts.max_header_bytes))
        return fail(req, st, DP_PROBLEM_HEADERS_TOO_LARGE);
    if (req->entity.base != NULL && req->entity.len > self->opts.max_body_bytes)
        return fail(req, st, DP_PROBLEM_BODY_TOO_LARGE);

    if ((st->config = dp_current_acquire()) == NULL) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
        return fail(req, st, DP_PROBLEM_NOT_READY);
    }

    /* route: host without its port, path without the query */
    h2o_iovec_t host = req->input.authority;
    if (host.len != 0 && host.base[0] == '[') {
        const char *rb = memchr(host.base, ']', host.len);
        if (rb != NULL) host.len = (size_t)(rb - host.base) + 1;
    } else {
        const char *colon = memchr(host.base, ':', host.len);
        if (colon != NULL) host.len = (size_t)(colon - host.base);
    }
    size_t path_len = req->input.query_at != SIZE_MAX ? req->input.query_at : req->input.path.len;
    dp_match_t m;
    char allow[128];
    switch (dp_config_route(st->config, host.base, host.len, req->input.method.base,
                            req->input.method.len, req->input.path.base, path_len, &m, allow,
                            sizeof(allow))) {
    case DP_ROUTE_OK:
        break;
    case DP_ROUTE_WRONG_METHOD:
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
        return fail(req, st, DP_PROBLEM_METHOD_NOT_ALLOWED);
    default:
        return fail(req, st, DP_PROBLEM_NOT_FOUND);
    }
    const dp_endpoint_t *ep = m.endpoint;
    st->endpoint = ep;

    /* token */
    h2o_iovec_t secret, basic;
    int found = find_token(req, &secret, &basic);
    int auth_is_credential = basic.base != NULL;
    if (!found) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("API-Token realm=\"api\", Basic realm=\"api\""));
        return fail(req, st, DP_PROBLEM_TOKEN_MISSING);
    }
    uint8_t digest[32];
    sha256(t, secret.base, secret.len, digest);
    /* the decoded Basic credential is our copy; do not leave it in the pool */
    if (basic.len != 0) h2o_mem_set_secure(basic.base, 0, basic.len);
    const dp_token_t *tok = dp_config_token(st->config, digest);
    dp_problem_code_t denied = DP_PROBLEM_COUNT;
    int64_t now = (int64_t)time(NULL);
    if (tok == NULL) {
        denied = DP_PROBLEM_TOKEN_INVALID;
    } else {
        st->token = tok;
        const dp_profile_t *prof = tok->profile;
        if (tok->expire_time != 0 && tok->expire_time <= now)
            denied = DP_PROBLEM_TOKEN_EXPIRED;
        else if (tok->revoke_time != 0 && tok->revoke_time <= now)
            denied = DP_PROBLEM_TOKEN_REVOKED;
        else if (!prof->client->enabled)
            denied = DP_PROBLEM_CLIENT_DISABLED;
        else if (!prof->enabled)
            denied = DP_PROBLEM_PROFILE_DISABLED;
    }
    if (denied != DP_PROBLEM_COUNT) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("API-Token realm=\"api\", Basic realm=\"api\""));
        return fail(req, st, denied);
    }

    /* what the token may reach */
    const dp_profile_t *prof = tok->profile;
    if (!dp_profile_has_collection(prof, ep->collection))
        return fail(req, st, DP_PROBLEM_COLLECTION_DENIED);
    if (!ep->collection->active) return fail(req, st, DP_PROBLEM_COLLECTION_INACTIVE);
    if (!ep->active) return fail(req, st, DP_PROBLEM_ENDPOINT_INACTIVE);
    struct sockaddr_storage ss;
    if (!dp_profile_allows(prof, caller_addr(self, req, &ss)))
        return fail(req, st, DP_PROBLEM_IP_DENIED);

    int limited = check_rate(req, st);
    if (limited >= 0) return fail(req, st, (dp_problem_code_t)limited);
    limited = check_quota(req, st, 0);
    if (limited == QUOTA_PENDING) {
        park(self, t, req, st, &m, auth_is_credential);
        return 0;
    }
    if (limited >= 0) return fail(req, st, (dp_problem_code_t)limited);
    return dispatch(self, t, req, st, &m, auth_is_credential);
}

/* ---- the response filter ---- */

static void on_rewrite_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    dp_rewrite_t *self = (dp_rewrite_t *)_self;
    if (state == H2O_SEND_STATE_ERROR) {
        h2o_ostream_send_next(&self->super, req, bufs, bufcnt, state);
        return;
    }
    /* h2o's inline responses arrive in one final send; the text is h2o's
     * reason ("I/O timeout", "connection refused", ...) */
    size_t len = 0;
    for (size_t i = 0; i < bufcnt; i++)
        len += bufs[i].len;
    char *text = h2o_mem_alloc_pool(&req->pool, len + 1), *o = text;
    for (size_t i = 0; i < bufcnt; i++) {
        memcpy(o, bufs[i].base, bufs[i].len);
        o += bufs[i].len;
    }
    *o = '\0';
    dp_reqstate_t *st = self->st;
    dp_problem_code_t code = dp_problem_for_status(req->res.status);
    if (st->proxied) {
        if (req->res.status == 502 || req->res.status == 504)
            code = strstr(text, "timeout") != NULL ? DP_PROBLEM_UPSTREAM_TIMEOUT
                                                   : DP_PROBLEM_UPSTREAM_UNREACHABLE;
        char q[256];
        ap_log(AP_LOG_INFO, "upstream_error", "request_id=%s endpoint=%s status=%d error=%s",
               st->request_id, st->endpoint != NULL ? st->endpoint->id : "",
               dp_problem(code)->status, ap_log_quote(text, q, sizeof(q)));
    }
    const dp_problem_t *p = dp_problem(code);
    h2o_iovec_t body = dp_problem_body(&req->pool, p, NULL, st->request_id);
    st->code = p->code;
    req->res.status = p->status;
    req->res.reason = dp_problem_reason(p->status);
    req->res.content_length = body.len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("application/problem+json"), 1);
    if (h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD")))
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
    else
        h2o_ostream_send_next(&self->super, req, &body, 1, state);
}

/* The names of the limit fields, shared by every response (h2o's
 * add-by-string would allocate one per response). */
static h2o_iovec_t RATELIMIT_POLICY = {H2O_STRLIT("ratelimit-policy")};
static h2o_iovec_t RATELIMIT = {H2O_STRLIT("ratelimit")};

/* Appends a field to the response (no search for an existing one). */
static void push_header(h2o_req_t *req, h2o_iovec_t *name, const char *value, size_t len)
{
    h2o_vector_reserve(&req->pool, &req->res.headers, req->res.headers.size + 1);
    h2o_header_t *h = req->res.headers.entries + req->res.headers.size++;
    h->name = name;
    h->orig_name = NULL;
    h->value = h2o_iovec_init(value, len);
}

static void on_filter_setup_ostream(h2o_filter_t *_self, h2o_req_t *req, h2o_ostream_t **slot)
{
    dp_response_filter_t *self = (dp_response_filter_t *)_self;
    dp_reqstate_t *st = dp_reqstate_get(req);
    if (st == NULL) {
        dp_thread_t *t = h2o_context_get_handler_context(req->conn->ctx, &self->handler->super);
        st = reqstate_new(t, req, 0);
    }
    /* h2o_send_inline's generator has no proceed callback; the proxy's has */
    int is_inline = req->_generator == NULL || req->_generator->proceed == NULL;
    if (st->proxied && st->upstream_done_ns == 0) st->upstream_done_ns = now_ns();
    h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0,
                          st->request_id, 32, 1);
    if (st->ratelimit_policy_len != 0) {
        /* an upstream's own fields of these names are replaced; answers of
         * our own have none to look for */
        if (st->proxied) {
            h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit-policy"), 0,
                                  st->ratelimit_policy, st->ratelimit_policy_len, 1);
            h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ratelimit"), 0,
                                  st->ratelimit, st->ratelimit_len, 1);
        } else {
            push_header(req, &RATELIMIT_POLICY, st->ratelimit_policy, st->ratelimit_policy_len);
            push_header(req, &RATELIMIT, st->ratelimit, st->ratelimit_len);
        }
    }
    if (!st->answered && is_inline && req->res.status >= 400) {
        dp_rewrite_t *w = (dp_rewrite_t *)h2o_add_ostream(req, sizeof(*w), slot);
        w->super.do_send = on_rewrite_send;
        w->super.stop = NULL;
        w->super.start_pull = NULL;
        w->st = st;
        slot = &w->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

int dp_handler_register(h2o_pathconf_t *pathconf, const dp_handler_opts_t *opts, char *err,
                        size_t errlen)
{
    SSL_CTX *ssl = SSL_CTX_new(TLS_client_method());
    if (ssl == NULL) {
        snprintf(err, errlen, "cannot create the TLS client context for https upstreams");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ssl);
    SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);

    dp_quota_set_notify(wake_threads);
    dp_handler_t *h = (dp_handler_t *)h2o_create_handler(pathconf, sizeof(*h));
    h->super.on_context_init = on_context_init;
    h->super.on_context_dispose = on_context_dispose;
    h->super.on_req = on_req;
    h->opts = *opts;
    h->upstream_ssl = ssl;

    dp_response_filter_t *f = (dp_response_filter_t *)h2o_create_filter(pathconf, sizeof(*f));
    f->super.on_setup_ostream = on_filter_setup_ostream;
    f->handler = h;
    return 0;
}
