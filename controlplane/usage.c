/* Usage aggregates (see usage.h). Buckets are plain keys outside the
 * revisioned configuration, each a packed UsageCounts:
 *   u/m/<016x minute start>/<profile id>/<endpoint id>
 *   u/d/<016x day start>/<profile id>/<endpoint id>
 *   u/pruned   016x: the minute buckets before this time are gone
 * A report rewrites two buckets per (profile, endpoint) in one batch. Minute
 * buckets are kept for MINUTE_KEEP (a minute's worth is pruned with the first
 * report of each minute), day buckets for good. GetUsage scans the buckets
 * of one granularity that overlap the range, in time order, and adds them up
 * by client and by endpoint, naming each profile and endpoint once a call. */
#include "usage.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_hash.h"
#include "ap_log.h"
#include "ap_msg.h"
#include "resource.h"

#define MINUTE 60
#define DAY 86400
/* how long minute buckets are kept */
#define MINUTE_KEEP (7 * DAY)
/* ranges up to this long default to minute buckets */
#define MINUTE_RANGE_MAX (48 * 3600)
#define DEFAULT_RANGE DAY
#define DEFAULT_TOP 10
#define MAX_TOP 1000
#define ID_MAX 64
#define KEY_MAX (8 + 16 + 2 * ID_MAX)
#define PRUNED_KEY "u/pruned"

/* The six outcomes, in the field order UsageCounter and UsageCounts share. */
#define OUTCOMES 6
static const size_t counter_fields[OUTCOMES] = {
    offsetof(Apiplatform__V1__UsageCounter, successful),
    offsetof(Apiplatform__V1__UsageCounter, client_errors),
    offsetof(Apiplatform__V1__UsageCounter, server_errors),
    offsetof(Apiplatform__V1__UsageCounter, rate_limited),
    offsetof(Apiplatform__V1__UsageCounter, quota_exceeded),
    offsetof(Apiplatform__V1__UsageCounter, ip_denied)};
static const size_t counts_fields[OUTCOMES] = {
    offsetof(Apiplatform__V1__UsageCounts, successful),
    offsetof(Apiplatform__V1__UsageCounts, client_errors),
    offsetof(Apiplatform__V1__UsageCounts, server_errors),
    offsetof(Apiplatform__V1__UsageCounts, rate_limited),
    offsetof(Apiplatform__V1__UsageCounts, quota_exceeded),
    offsetof(Apiplatform__V1__UsageCounts, ip_denied)};
#define U64_AT(m, off) (*(uint64_t *)((char *)(m) + (off)))

/* Adds the UsageCounts c (may be NULL) to n. */
static void add_counts(uint64_t n[OUTCOMES], const Apiplatform__V1__UsageCounts *c)
{
    for (int i = 0; c != NULL && i < OUTCOMES; i++)
        n[i] += U64_AT(c, counts_fields[i]);
}

static uint64_t total(const uint64_t n[OUTCOMES])
{
    uint64_t t = 0;
    for (int i = 0; i < OUTCOMES; i++)
        t += n[i];
    return t;
}

/* n as a new UsageCounts (ap_msg_new). */
static Apiplatform__V1__UsageCounts *counts_msg(const uint64_t n[OUTCOMES])
{
    Apiplatform__V1__UsageCounts *c =
        (Apiplatform__V1__UsageCounts *)ap_msg_new(&apiplatform__v1__usage_counts__descriptor);
    for (int i = 0; i < OUTCOMES; i++)
        U64_AT(c, counts_fields[i]) = n[i];
    return c;
}

static void bucket_key(char *buf, char kind, int64_t t, const char *profile, const char *endpoint)
{
    snprintf(buf, KEY_MAX, "u/%c/%016" PRIx64 "/%s/%s", kind, (uint64_t)t, profile, endpoint);
}

/* ---- recording ---- */

/* Ids from nodes become key parts: no '/', bounded. */
static int id_ok(const char *id)
{
    return strlen(id) < ID_MAX && strchr(id, '/') == NULL;
}

static int by_key(const void *a, const void *b)
{
    const Apiplatform__V1__UsageCounter *x = *(const Apiplatform__V1__UsageCounter *const *)a;
    const Apiplatform__V1__UsageCounter *y = *(const Apiplatform__V1__UsageCounter *const *)b;
    int c = strcmp(x->profile_id, y->profile_id);
    return c != 0 ? c : strcmp(x->endpoint_id, y->endpoint_id);
}

/* Adds n into the bucket at key (reading what is stored; the caller never
 * writes one key twice in a batch). */
static void add_bucket(cp_store_t *s, cp_batch_t *b, const char *key, const uint64_t n[OUTCOMES])
{
    uint64_t sum[OUTCOMES] = {0};
    ProtobufCMessage *old = cp_store_get_msg(s, key, &apiplatform__v1__usage_counts__descriptor);
    add_counts(sum, (const Apiplatform__V1__UsageCounts *)old);
    ap_msg_free(old);
    for (int i = 0; i < OUTCOMES; i++)
        sum[i] += n[i];
    Apiplatform__V1__UsageCounts *c = counts_msg(sum);
    cp_batch_put_msg(b, key, &c->base);
    ap_msg_free(&c->base);
}

typedef struct {
    cp_batch_t *b;
    int64_t before;
} prune_t;

/* A bucket key's time; key is NUL-terminated, u/<kind>/<016x>/... */
static int64_t bucket_time(const char *key)
{
    return strlen(key) >= 20 ? (int64_t)strtoull(key + 4, NULL, 16) : 0;
}

static int on_prune(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    prune_t *p = ctx;
    char k[KEY_MAX + 1];
    if (kl > KEY_MAX) return 0;
    memcpy(k, key, kl);
    k[kl] = '\0';
    if (bucket_time(k) >= p->before) return 1;
    cp_batch_del(p->b, k);
    return 0;
}

/* Deletes the minute buckets older than MINUTE_KEEP, from where the last
 * prune stopped: one short scan per minute. */
static void prune(cp_store_t *s, cp_batch_t *b, int64_t now)
{
    int64_t before = now - now % MINUTE - MINUTE_KEEP, done = 0;
    size_t len;
    char *v = cp_store_get(s, PRUNED_KEY, &len), from[KEY_MAX], mark[17];
    if (v != NULL && len == 16) {
        memcpy(mark, v, 16);
        mark[16] = '\0';
        done = (int64_t)strtoull(mark, NULL, 16);
    }
    free(v);
    if (before <= 0 || done >= before) return;
    snprintf(from, sizeof(from), "u/m/%016" PRIx64, (uint64_t)done);
    prune_t p = {b, before};
    cp_store_scan(s, "u/m/", from, on_prune, &p);
    snprintf(mark, sizeof(mark), "%016" PRIx64, (uint64_t)before);
    cp_batch_put(b, PRUNED_KEY, mark, 16);
}

void cp_usage_record(cp_store_t *s, const Apiplatform__V1__UsageReport *r, int64_t now)
{
    if (r->n_counters == 0 || now < 0) return;
    /* one (profile, endpoint) may come twice: add those up first, since a
     * batch does not see its own writes */
    const Apiplatform__V1__UsageCounter **v = malloc(r->n_counters * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < r->n_counters; i++)
        if (id_ok(r->counters[i]->profile_id) && id_ok(r->counters[i]->endpoint_id))
            v[n++] = r->counters[i];
    qsort(v, n, sizeof(*v), by_key);

    cp_batch_t *b = cp_batch_begin(s);
    char key[KEY_MAX];
    for (size_t i = 0; i < n;) {
        uint64_t sum[OUTCOMES] = {0};
        size_t j = i;
        for (; j < n && by_key(&v[i], &v[j]) == 0; j++)
            for (int k = 0; k < OUTCOMES; k++)
                sum[k] += U64_AT(v[j], counter_fields[k]);
        if (total(sum) != 0) {
            bucket_key(key, 'm', now - now % MINUTE, v[i]->profile_id, v[i]->endpoint_id);
            add_bucket(s, b, key, sum);
            bucket_key(key, 'd', now - now % DAY, v[i]->profile_id, v[i]->endpoint_id);
            add_bucket(s, b, key, sum);
        }
        i = j;
    }
    prune(s, b, now);
    free(v);
    char *err = NULL;
    if (cp_batch_commit(b, 0, &err) != 0) {
        char q[512];
        ap_log(AP_LOG_ERROR, "usage_lost", "counters=%zu error=%s", r->n_counters,
               ap_log_quote(err, q, sizeof(q)));
        free(err);
    }
}

/* ---- queries ---- */

/* A client or endpoint row as the query adds it up; for profiles, what the
 * profile resolves to. Rows live in a small chained hash map per query. */
typedef struct st_row_t {
    struct st_row_t *next;
    char *key;
    /* left out by the client or collection filter */
    int excluded;
    /* profiles: the client row their calls add to */
    struct st_row_t *client;
    char *id, *name, *detail;
    uint64_t n[OUTCOMES];
} row_t;

typedef struct {
    row_t **slots;
    size_t n_slots, n;
} row_map_t;

/* The row under key; *made says whether it is new (then only key is set). */
static row_t *row_get(row_map_t *m, const char *key, int *made)
{
    *made = 0;
    if (m->n_slots != 0)
        for (row_t *r = m->slots[ap_hash_str(key) % m->n_slots]; r != NULL; r = r->next)
            if (strcmp(r->key, key) == 0) return r;
    if (m->n >= m->n_slots) {
        size_t ns = m->n_slots ? m->n_slots * 2 : 64;
        row_t **slots = calloc(ns, sizeof(*slots));
        for (size_t i = 0; i < m->n_slots; i++)
            for (row_t *r = m->slots[i], *next; r != NULL; r = next) {
                next = r->next;
                r->next = slots[ap_hash_str(r->key) % ns];
                slots[ap_hash_str(r->key) % ns] = r;
            }
        free(m->slots);
        m->slots = slots;
        m->n_slots = ns;
    }
    row_t *r = calloc(1, sizeof(*r));
    r->key = strdup(key);
    r->next = m->slots[ap_hash_str(key) % m->n_slots];
    m->slots[ap_hash_str(key) % m->n_slots] = r;
    m->n++;
    *made = 1;
    return r;
}

static void row_name(row_t *r, const char *id, const char *name, const char *detail)
{
    r->id = strdup(id);
    r->name = strdup(name);
    r->detail = strdup(detail);
}

static void row_map_free(row_map_t *m)
{
    for (size_t i = 0; i < m->n_slots; i++)
        for (row_t *r = m->slots[i], *next; r != NULL; r = next) {
            next = r->next;
            free(r->key);
            free(r->id);
            free(r->name);
            free(r->detail);
            free(r);
        }
    free(m->slots);
}

typedef struct {
    cp_store_t *s;
    char kind;
    int64_t end;
    /* filters: "" = all */
    char client_id[ID_MAX], collection_id[ID_MAX];
    row_map_t profiles, clients, endpoints;
    uint64_t totals[OUTCOMES];
    Apiplatform__V1__GetUsageResponse *resp;
} query_t;

/* The stored resource of kind k with this id, or NULL. */
static ProtobufCMessage *load(cp_store_t *s, const cp_kind_t *k, const char *id)
{
    char key[CP_KEY_MAX];
    cp_res_key(key, sizeof(key), k, id);
    return cp_store_get_msg(s, key, k->desc);
}

/* What a profile id stands for: its client's row (made on first sight), or
 * excluded by the client filter. */
static void resolve_profile(query_t *q, row_t *p)
{
    Apiplatform__V1__AccessProfile *prof = NULL;
    Apiplatform__V1__Client *cl = NULL;
    const char *key = p->key, *id = "", *name = "(no token)", *detail = "";
    int made;
    if (p->key[0] != '\0') {
        prof = (Apiplatform__V1__AccessProfile *)load(q->s, &CP_KIND_PROFILE, p->key);
        /* a deleted profile keeps a row of its own, under its id */
        id = p->key;
        name = "(deleted)";
        detail = "access profile";
        if (prof != NULL) {
            key = id = prof->client_id;
            cl = (Apiplatform__V1__Client *)load(q->s, &CP_KIND_CLIENT, prof->client_id);
            detail = "";
            if (cl != NULL) name = cl->name;
        }
    }
    p->excluded = q->client_id[0] != '\0' && (prof == NULL || strcmp(id, q->client_id) != 0);
    if (!p->excluded) {
        p->client = row_get(&q->clients, key, &made);
        if (made) row_name(p->client, id, name, detail);
    }
    ap_msg_free((ProtobufCMessage *)cl);
    ap_msg_free((ProtobufCMessage *)prof);
}

/* An endpoint row's id, "METHOD path" and collection name, or excluded by
 * the collection filter. */
static void resolve_endpoint(query_t *q, row_t *e)
{
    Apiplatform__V1__Endpoint *ep = NULL;
    Apiplatform__V1__Collection *col = NULL;
    if (e->key[0] == '\0') {
        row_name(e, "", "(no route)", "");
    } else if ((ep = (Apiplatform__V1__Endpoint *)load(q->s, &CP_KIND_ENDPOINT, e->key)) == NULL) {
        row_name(e, e->key, "(deleted)", "");
    } else {
        char name[600];
        snprintf(name, sizeof(name), "%s %s", ep->method, ep->path);
        col = (Apiplatform__V1__Collection *)load(q->s, &CP_KIND_COLLECTION, ep->collection_id);
        row_name(e, e->key, name, col != NULL ? col->name : "(deleted)");
    }
    e->excluded = q->collection_id[0] != '\0' &&
                  (ep == NULL || strcmp(ep->collection_id, q->collection_id) != 0);
    ap_msg_free((ProtobufCMessage *)col);
    ap_msg_free((ProtobufCMessage *)ep);
}

/* One bucket: u/<kind>/<time>/<profile>/<endpoint>. */
static int on_bucket(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    query_t *q = ctx;
    char k[KEY_MAX + 1], *profile, *endpoint;
    int made;
    /* the shortest: u/m/<16 digits>// (no token, no route) */
    if (kl > KEY_MAX || kl < 22) return 0;
    memcpy(k, key, kl);
    k[kl] = '\0';
    int64_t t = bucket_time(k);
    if (t >= q->end) return 1;
    profile = k + 21;
    if ((endpoint = strchr(profile, '/')) == NULL) return 0;
    *endpoint++ = '\0';

    row_t *p = row_get(&q->profiles, profile, &made);
    if (made) resolve_profile(q, p);
    row_t *e = row_get(&q->endpoints, endpoint, &made);
    if (made) resolve_endpoint(q, e);
    if (p->excluded || e->excluded) return 0;

    Apiplatform__V1__UsageCounts *c =
        apiplatform__v1__usage_counts__unpack(NULL, vl, (const uint8_t *)val);
    if (c == NULL) return 0;
    add_counts(q->totals, c);
    add_counts(p->client->n, c);
    add_counts(e->n, c);
    /* keys are in time order: a bucket's point is the last one or a new one */
    Apiplatform__V1__GetUsageResponse *r = q->resp;
    if (r->n_series == 0 || r->series[r->n_series - 1]->time != t) {
        Apiplatform__V1__UsagePoint *pt =
            (Apiplatform__V1__UsagePoint *)ap_msg_new(&apiplatform__v1__usage_point__descriptor);
        uint64_t zero[OUTCOMES] = {0};
        pt->time = t;
        pt->counts = counts_msg(zero);
        r->series = realloc(r->series, (r->n_series + 1) * sizeof(*r->series));
        r->series[r->n_series++] = pt;
    }
    Apiplatform__V1__UsageCounts *pc = r->series[r->n_series - 1]->counts;
    for (int i = 0; i < OUTCOMES; i++)
        U64_AT(pc, counts_fields[i]) += U64_AT(c, counts_fields[i]);
    apiplatform__v1__usage_counts__free_unpacked(c, NULL);
    return 0;
}

/* Most calls first; ties by name, then id, so the order is stable. */
static int by_calls(const void *a, const void *b)
{
    const row_t *x = *(row_t *const *)a, *y = *(row_t *const *)b;
    uint64_t tx = total(x->n), ty = total(y->n);
    if (tx != ty) return tx > ty ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : strcmp(x->id, y->id);
}

/* The top rows with calls of m, as UsageRow messages. */
static size_t top_rows(const row_map_t *m, size_t top, Apiplatform__V1__UsageRow ***out)
{
    row_t **v = malloc((m->n ? m->n : 1) * sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < m->n_slots; i++)
        for (row_t *r = m->slots[i]; r != NULL; r = r->next)
            if (!r->excluded && total(r->n) != 0) v[n++] = r;
    qsort(v, n, sizeof(*v), by_calls);
    if (n > top) n = top;
    *out = n != 0 ? malloc(n * sizeof(**out)) : NULL;
    for (size_t i = 0; i < n; i++) {
        Apiplatform__V1__UsageRow *row =
            (Apiplatform__V1__UsageRow *)ap_msg_new(&apiplatform__v1__usage_row__descriptor);
        ap_msg_set_str(&row->base, "id", v[i]->id);
        ap_msg_set_str(&row->base, "name", v[i]->name);
        ap_msg_set_str(&row->base, "detail", v[i]->detail);
        row->counts = counts_msg(v[i]->n);
        (*out)[i] = row;
    }
    free(v);
    return n;
}

/* Checks the request and fills in its defaults: range, granularity (into
 * q->kind and the response), filters. 0, or -1 with st set. */
static int plan(query_t *q, const Apiplatform__V1__GetUsageRequest *req, int64_t now,
                ap_status_t *st)
{
    Apiplatform__V1__GetUsageResponse *r = q->resp;
    const char *g = req->granularity;
    int64_t kept_from = now - now % MINUTE - MINUTE_KEEP;
    if (strcmp(g, "") != 0 && strcmp(g, "minute") != 0 && strcmp(g, "day") != 0) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "usage.granularity: \"%s\" is neither minute nor day", g);
        return -1;
    }
    if (req->top > MAX_TOP) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "usage.top: %" PRIu32 " is over %d",
                      req->top, MAX_TOP);
        return -1;
    }
    if (req->start_time < 0 || req->end_time < 0) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "usage.%s: is before 1970",
                      req->start_time < 0 ? "start_time" : "end_time");
        return -1;
    }
    r->end_time = req->end_time != 0 ? req->end_time : now;
    r->start_time = req->start_time != 0 ? req->start_time : r->end_time - DEFAULT_RANGE;
    if (r->start_time >= r->end_time) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "usage.start_time: %" PRId64 " is not before end_time %" PRId64,
                      r->start_time, r->end_time);
        return -1;
    }
    if (g[0] == '\0') {
        int fits = r->end_time - r->start_time <= MINUTE_RANGE_MAX && r->start_time >= kept_from;
        g = fits ? "minute" : "day";
    } else if (g[0] == 'm' && r->start_time < kept_from) {
        ap_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "usage.granularity: minute buckets are kept for %d days and the range "
                      "starts before that; ask for day",
                      MINUTE_KEEP / DAY);
        return -1;
    }
    ap_msg_set_str(&r->base, "granularity", g);
    q->kind = g[0];
    /* the buckets that overlap the range are counted whole: say so */
    int64_t step = q->kind == 'm' ? MINUTE : DAY;
    r->start_time -= r->start_time % step;
    if (r->end_time % step != 0) r->end_time += step - r->end_time % step;
    q->end = r->end_time;
    if (req->client[0] != '\0' &&
        cp_res_resolve(q->s, &CP_KIND_CLIENT, req->client, NULL, q->client_id, st) != 0)
        return -1;
    if (req->collection[0] != '\0' &&
        cp_res_resolve(q->s, &CP_KIND_COLLECTION, req->collection, NULL, q->collection_id, st) != 0)
        return -1;
    return 0;
}

Apiplatform__V1__GetUsageResponse *cp_usage_get(cp_store_t *s,
                                                const Apiplatform__V1__GetUsageRequest *req,
                                                int64_t now, ap_status_t *st)
{
    query_t q = {.s = s};
    q.resp = (Apiplatform__V1__GetUsageResponse *)ap_msg_new(
        &apiplatform__v1__get_usage_response__descriptor);
    if (plan(&q, req, now, st) != 0) {
        ap_msg_free(&q.resp->base);
        return NULL;
    }
    char prefix[8], from[KEY_MAX];
    snprintf(prefix, sizeof(prefix), "u/%c/", q.kind);
    snprintf(from, sizeof(from), "u/%c/%016" PRIx64, q.kind, (uint64_t)q.resp->start_time);
    cp_store_scan(s, prefix, from, on_bucket, &q);

    size_t top = req->top != 0 ? req->top : DEFAULT_TOP;
    q.resp->totals = counts_msg(q.totals);
    q.resp->n_top_clients = top_rows(&q.clients, top, &q.resp->top_clients);
    q.resp->n_top_endpoints = top_rows(&q.endpoints, top, &q.resp->top_endpoints);
    row_map_free(&q.profiles);
    row_map_free(&q.clients);
    row_map_free(&q.endpoints);
    return q.resp;
}
