/* Exact cluster-wide quotas (see quota.h).
 *
 * Storage (outside the configuration's change log, cp_batch_*):
 *   q/b/<profile id>/<016x period start>  QuotaRecord, lease_id 0: a bucket
 *   q/l/<016x lease id>                   QuotaRecord: a lease on a node
 *   q/seq                                 the last lease id handed out
 * In memory the same records as two lists; the use of a bucket is its
 * closed_used plus the use of its open leases, what is leased is the sum of
 * their granted - used. */
#include "quota.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_log.h"
#include "ap_msg.h"
#include "resource.h"

/* ---- calendar periods ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int cp_period_bounds(int period, int64_t t, int64_t *start, int64_t *end)
{
    int64_t day = floor_div(t, 86400);
    switch (period) {
    case APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY:
        *start = day * 86400;
        *end = *start + 86400;
        return 0;
    case APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK: {
        /* 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7 */
        int64_t wd = day + 3 - floor_div(day + 3, 7) * 7;
        *start = (day - wd) * 86400;
        *end = *start + 7 * 86400;
        return 0;
    }
    case APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH: {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        tm.tm_isdst = 0;
        *start = (int64_t)timegm(&tm);
        tm.tm_mon += 1; /* timegm carries December into January */
        *end = (int64_t)timegm(&tm);
        return 0;
    }
    default:
        return -1;
    }
}

/* ---- lease arithmetic ---- */

uint64_t cp_lease_grant_size(uint64_t free, uint32_t nodes, uint64_t cap)
{
    if (free == 0) return 0;
    uint64_t g = free / (2 * (uint64_t)(nodes ? nodes : 1));
    if (g == 0) g = 1;
    if (cap != 0 && g > cap) g = cap;
    return g > free ? free : g;
}

uint64_t cp_lease_chunk(uint64_t granted)
{
    uint64_t c = granted / 4;
    if (c == 0) c = 1;
    return c > granted && granted > 0 ? granted : c;
}

uint64_t cp_lease_write_off(uint64_t granted, uint64_t reported, uint64_t chunk)
{
    uint64_t out = granted > reported ? granted - reported : 0;
    return out < chunk ? out : chunk;
}

/* ---- state ---- */

typedef struct st_bucket_t {
    Apiplatform__V1__QuotaRecord *rec; /* lease_id 0 */
    uint64_t limit;                    /* the policy's count when last looked at */
    uint64_t open_used, open_granted;  /* sums over its open leases */
    struct st_bucket_t *next;
} bucket_t;

typedef struct st_lease_t {
    Apiplatform__V1__QuotaRecord *rec;
    int64_t down_since_ms; /* 0 while its node is connected */
    bucket_t *b;           /* the bucket it is a slice of */
    struct st_lease_t *next;
} lease_t;

struct st_cp_quota_t {
    cp_store_t *store;
    uint32_t ttl_ms;
    uint64_t grant_cap;
    uint64_t seq;
    bucket_t *buckets;
    lease_t *leases;
};

static Apiplatform__V1__QuotaRecord *rec_new(void)
{
    return (Apiplatform__V1__QuotaRecord *)ap_msg_new(&apiplatform__v1__quota_record__descriptor);
}

static void bucket_key(char *k, size_t n, const Apiplatform__V1__QuotaRecord *r)
{
    snprintf(k, n, "q/b/%s/%016" PRIx64 "/%d", r->profile_id, (uint64_t)r->period_start,
             (int)r->period);
}

static void lease_key(char *k, size_t n, uint64_t id)
{
    snprintf(k, n, "q/l/%016" PRIx64, id);
}

static void put_bucket(cp_batch_t *b, const bucket_t *bk)
{
    char k[160];
    bucket_key(k, sizeof(k), bk->rec);
    cp_batch_put_msg(b, k, &bk->rec->base);
}

static void put_lease(cp_batch_t *b, const lease_t *l)
{
    char k[64];
    lease_key(k, sizeof(k), l->rec->lease_id);
    cp_batch_put_msg(b, k, &l->rec->base);
}

static int commit(cp_batch_t *b, int sync)
{
    char *err = NULL;
    if (cp_batch_commit(b, sync, &err) != 0) {
        ap_log(AP_LOG_ERROR, "quota_write_failed", "error=\"%s\"", err);
        free(err);
        return -1;
    }
    return 0;
}

static int load_rec(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    cp_quota_t *q = ctx;
    Apiplatform__V1__QuotaRecord *r = (Apiplatform__V1__QuotaRecord *)protobuf_c_message_unpack(
        &apiplatform__v1__quota_record__descriptor, NULL, vl, (const uint8_t *)val);
    if (r == NULL) return 0;
    if (r->lease_id == 0) {
        bucket_t *b = calloc(1, sizeof(*b));
        b->rec = r;
        b->next = q->buckets;
        q->buckets = b;
    } else {
        lease_t *l = calloc(1, sizeof(*l));
        l->rec = r;
        l->next = q->leases;
        q->leases = l;
    }
    return 0;
}

static bucket_t *bucket_find(cp_quota_t *q, const char *profile, int period, int64_t start);
static bucket_t *bucket_new(cp_quota_t *q, const char *profile, int period, int64_t start,
                            int64_t end);

cp_quota_t *cp_quota_new(cp_store_t *store, uint32_t ttl_ms, uint64_t grant_cap, int64_t now_ms)
{
    cp_quota_t *q = calloc(1, sizeof(*q));
    q->store = store;
    q->ttl_ms = ttl_ms;
    q->grant_cap = grant_cap;
    cp_store_scan(store, "q/b/", NULL, load_rec, q);
    cp_store_scan(store, "q/l/", NULL, load_rec, q);
    size_t len = 0;
    char *v = cp_store_get(store, "q/seq", &len);
    if (v != NULL) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
        q->seq = strtoull(buf, NULL, 10);
        free(v);
    }
    /* leases out before a restart: their nodes have to come back within the
     * ttl, as if they had just disconnected */
    size_t n = 0;
    for (lease_t *l = q->leases; l != NULL; l = l->next, n++) {
        const Apiplatform__V1__QuotaRecord *r = l->rec;
        bucket_t *b = bucket_find(q, r->profile_id, r->period, r->period_start);
        if (b == NULL) /* its bucket record lost: start one from the lease */
            b = bucket_new(q, r->profile_id, r->period, r->period_start, r->period_end);
        l->b = b;
        b->open_used += r->used;
        b->open_granted += r->granted;
        l->down_since_ms = now_ms;
        if (l->rec->lease_id > q->seq) q->seq = l->rec->lease_id;
    }
    if (n > 0) ap_log(AP_LOG_INFO, "quota_leases_loaded", "leases=%zu", n);
    return q;
}

void cp_quota_free(cp_quota_t *q)
{
    if (q == NULL) return;
    for (bucket_t *b = q->buckets, *nb; b != NULL; b = nb) {
        nb = b->next;
        ap_msg_free(&b->rec->base);
        free(b);
    }
    for (lease_t *l = q->leases, *nl; l != NULL; l = nl) {
        nl = l->next;
        ap_msg_free(&l->rec->base);
        free(l);
    }
    free(q);
}

/* A profile's bucket: the period kind is part of it (a policy changed from
 * a daily to a monthly quota on the 1st starts a new count). */
static bucket_t *bucket_find(cp_quota_t *q, const char *profile, int period, int64_t start)
{
    for (bucket_t *b = q->buckets; b != NULL; b = b->next)
        if (b->rec->period_start == start && (int)b->rec->period == period &&
            strcmp(b->rec->profile_id, profile) == 0)
            return b;
    return NULL;
}

static bucket_t *bucket_new(cp_quota_t *q, const char *profile, int period, int64_t start,
                            int64_t end)
{
    bucket_t *b = calloc(1, sizeof(*b));
    b->rec = rec_new();
    ap_msg_set_str(&b->rec->base, "profile_id", profile);
    b->rec->period = period;
    b->rec->period_start = start;
    b->rec->period_end = end;
    b->next = q->buckets;
    q->buckets = b;
    return b;
}

static lease_t *lease_by_id(cp_quota_t *q, uint64_t id)
{
    for (lease_t *l = q->leases; l != NULL; l = l->next)
        if (l->rec->lease_id == id) return l;
    return NULL;
}

static lease_t *lease_of(cp_quota_t *q, const char *node, const bucket_t *b)
{
    for (lease_t *l = q->leases; l != NULL; l = l->next)
        if (l->b == b && strcmp(l->rec->node_id, node) == 0) return l;
    return NULL;
}

/* used and leased of a bucket */
static void bucket_sums(const bucket_t *b, uint64_t *used, uint64_t *leased)
{
    *used = b->rec->closed_used + b->open_used;
    *leased = b->open_granted - b->open_used;
}

/* Closes a lease: its use (plus `extra` written off) moves to its bucket. */
static void lease_close(cp_quota_t *q, lease_t *l, uint64_t extra, cp_batch_t *batch)
{
    Apiplatform__V1__QuotaRecord *r = l->rec;
    bucket_t *b = l->b;
    b->open_used -= r->used;
    b->open_granted -= r->granted;
    b->rec->closed_used += r->used + extra;
    put_bucket(batch, b);
    char k[64];
    lease_key(k, sizeof(k), r->lease_id);
    cp_batch_del(batch, k);
    for (lease_t **p = &q->leases; *p != NULL; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    ap_msg_free(&r->base);
    free(l);
}

/* The quota of a profile's policy now: 0 = none (count and period set). */
static uint64_t profile_quota(cp_quota_t *q, const char *profile_id, int *period)
{
    char key[CP_KEY_MAX];
    cp_res_key(key, sizeof(key), &CP_KIND_PROFILE, profile_id);
    Apiplatform__V1__AccessProfile *p = (Apiplatform__V1__AccessProfile *)cp_store_get_msg(
        q->store, key, &apiplatform__v1__access_profile__descriptor);
    uint64_t count = 0;
    if (p != NULL && p->policy_id[0] != '\0') {
        cp_res_key(key, sizeof(key), &CP_KIND_POLICY, p->policy_id);
        Apiplatform__V1__AccessPolicy *pol = (Apiplatform__V1__AccessPolicy *)cp_store_get_msg(
            q->store, key, &apiplatform__v1__access_policy__descriptor);
        if (pol != NULL && pol->quota != NULL && pol->quota->count > 0) {
            count = pol->quota->count;
            *period = pol->quota->period;
        }
        if (pol != NULL) ap_msg_free(&pol->base);
    }
    if (p != NULL) ap_msg_free(&p->base);
    return count;
}

/* The bucket of the profile's current period (made when absent), with its
 * limit refreshed from the policy; NULL when the profile has no quota. */
static bucket_t *current_bucket(cp_quota_t *q, const char *profile_id, int64_t now_s,
                                cp_batch_t *batch)
{
    int period = 0;
    uint64_t limit = profile_quota(q, profile_id, &period);
    int64_t start, end;
    if (limit == 0 || cp_period_bounds(period, now_s, &start, &end) != 0) return NULL;
    bucket_t *b = bucket_find(q, profile_id, period, start);
    if (b == NULL) {
        b = bucket_new(q, profile_id, period, start, end);
        put_bucket(batch, b);
    }
    b->limit = limit;
    return b;
}

static Apiplatform__V1__Lease *lease_msg(const cp_quota_t *q, const bucket_t *b, const lease_t *l,
                                         int64_t now_s)
{
    Apiplatform__V1__Lease *m =
        (Apiplatform__V1__Lease *)ap_msg_new(&apiplatform__v1__lease__descriptor);
    ap_msg_set_str(&m->base, "profile_id", b->rec->profile_id);
    uint64_t used, leased;
    bucket_sums(b, &used, &leased);
    if (l != NULL) {
        m->lease_id = l->rec->lease_id;
        m->granted = l->rec->granted;
        m->acked_used = l->rec->used;
        m->chunk = l->rec->chunk;
    }
    m->limit = b->limit;
    m->period_used = used;
    m->period = b->rec->period;
    m->period_start = b->rec->period_start;
    m->period_end = b->rec->period_end;
    int64_t left = b->rec->period_end - now_s;
    m->seconds_left = left > 0 ? (uint32_t)left : 0;
    m->exhausted = b->limit <= used + leased;
    m->ttl_ms = q->ttl_ms;
    return m;
}

static void ack_add(Apiplatform__V1__ReportAck *ack, Apiplatform__V1__Lease *m)
{
    ack->leases = realloc(ack->leases, (ack->n_leases + 1) * sizeof(*ack->leases));
    ack->leases[ack->n_leases++] = m;
}

void cp_quota_report(cp_quota_t *q, const char *node_id, const Apiplatform__V1__UsageReport *r,
                     uint32_t connected_nodes, int64_t now_ms, Apiplatform__V1__ReportAck *ack)
{
    int64_t now_s = now_ms / 1000;
    cp_batch_t *batch = cp_batch_begin(q->store);
    int granted_any = 0, dirty = 0;
    /* use first, so what a node used is not leased again */
    for (size_t i = 0; i < r->n_leases; i++) {
        const Apiplatform__V1__LeaseUse *u = r->leases[i];
        lease_t *l = lease_by_id(q, u->lease_id);
        if (l == NULL || strcmp(l->rec->node_id, node_id) != 0) continue; /* closed already */
        uint64_t used = u->used < l->rec->granted ? u->used : l->rec->granted;
        if (used > l->rec->used) {
            l->b->open_used += used - l->rec->used;
            l->rec->used = used;
            put_lease(batch, l);
            dirty = 1;
        }
        if (u->release) {
            ap_log(AP_LOG_DEBUG, "quota_lease_released",
                   "node=%s lease=%" PRIu64 " granted=%" PRIu64 " used=%" PRIu64, node_id,
                   l->rec->lease_id, l->rec->granted, l->rec->used);
            lease_close(q, l, 0, batch);
            dirty = 1;
        }
    }
    /* then grants: a share of what is free */
    for (size_t i = 0; i < r->n_requests; i++) {
        const char *pid = r->requests[i]->profile_id;
        bucket_t *b = current_bucket(q, pid, now_s, batch);
        if (b == NULL) {
            /* no quota (any more): say so, with nothing to lease */
            Apiplatform__V1__Lease *m =
                (Apiplatform__V1__Lease *)ap_msg_new(&apiplatform__v1__lease__descriptor);
            ap_msg_set_str(&m->base, "profile_id", pid);
            ack_add(ack, m);
            continue;
        }
        uint64_t used, leased;
        bucket_sums(b, &used, &leased);
        uint64_t free_ = b->limit > used + leased ? b->limit - used - leased : 0;
        uint64_t g = cp_lease_grant_size(free_, connected_nodes, q->grant_cap);
        lease_t *l = lease_of(q, node_id, b);
        if (g > 0) {
            if (l == NULL) {
                l = calloc(1, sizeof(*l));
                l->rec = rec_new();
                l->rec->lease_id = ++q->seq;
                ap_msg_set_str(&l->rec->base, "profile_id", pid);
                ap_msg_set_str(&l->rec->base, "node_id", node_id);
                l->rec->period = b->rec->period;
                l->rec->period_start = b->rec->period_start;
                l->rec->period_end = b->rec->period_end;
                l->b = b;
                l->next = q->leases;
                q->leases = l;
                char seq[32];
                int sl = snprintf(seq, sizeof(seq), "%" PRIu64, q->seq);
                cp_batch_put(batch, "q/seq", seq, (size_t)sl);
            }
            l->rec->granted += g;
            b->open_granted += g;
            /* never shrinks: the control plane writes off with the largest
             * run-ahead the node may be using */
            uint64_t c = cp_lease_chunk(g);
            if (c > l->rec->chunk) l->rec->chunk = c;
            put_lease(batch, l);
            granted_any = dirty = 1;
            ap_log(AP_LOG_DEBUG, "quota_lease_granted",
                   "node=%s profile=%s lease=%" PRIu64 " grant=%" PRIu64 " free=%" PRIu64, node_id,
                   pid, l->rec->lease_id, g, free_);
        }
        if (l == NULL) ack_add(ack, lease_msg(q, b, NULL, now_s)); /* exhausted */
    }
    /* grants are promises: on disk before the node hears of them */
    if (dirty)
        commit(batch, granted_any);
    else
        cp_batch_abort(batch);
    for (lease_t *l = q->leases; l != NULL; l = l->next) {
        /* a lease of a period that is over is not listed: it is over */
        if (strcmp(l->rec->node_id, node_id) != 0 || now_s >= l->rec->period_end) continue;
        bucket_t *b = l->b;
        if (b->limit == 0) {
            int period = 0;
            b->limit = profile_quota(q, b->rec->profile_id, &period);
        }
        ack_add(ack, lease_msg(q, b, l, now_s));
    }
}

void cp_quota_ack_clear(Apiplatform__V1__ReportAck *ack)
{
    for (size_t i = 0; i < ack->n_leases; i++)
        ap_msg_free(&ack->leases[i]->base);
    free(ack->leases);
    ack->leases = NULL;
    ack->n_leases = 0;
}

void cp_quota_node_down(cp_quota_t *q, const char *node_id, int64_t now_ms)
{
    for (lease_t *l = q->leases; l != NULL; l = l->next)
        if (strcmp(l->rec->node_id, node_id) == 0 && l->down_since_ms == 0)
            l->down_since_ms = now_ms;
}

void cp_quota_node_up(cp_quota_t *q, const char *node_id)
{
    for (lease_t *l = q->leases; l != NULL; l = l->next)
        if (strcmp(l->rec->node_id, node_id) == 0) l->down_since_ms = 0;
}

void cp_quota_tick(cp_quota_t *q, int64_t now_ms)
{
    int64_t now_s = now_ms / 1000;
    cp_batch_t *batch = NULL;
    for (lease_t *l = q->leases, *next; l != NULL; l = next) {
        next = l->next;
        Apiplatform__V1__QuotaRecord *r = l->rec;
        int expired = l->down_since_ms != 0 && now_ms - l->down_since_ms >= (int64_t)q->ttl_ms;
        int past = now_s >= r->period_end;
        if (!expired && !past) continue;
        uint64_t w = cp_lease_write_off(r->granted, r->used, r->chunk);
        ap_log(AP_LOG_INFO, expired ? "quota_lease_reclaimed" : "quota_lease_closed",
               "node=%s profile=%s lease=%" PRIu64 " granted=%" PRIu64 " used=%" PRIu64
               " written_off=%" PRIu64 " returned=%" PRIu64,
               r->node_id, r->profile_id, r->lease_id, r->granted, r->used, w,
               r->granted - r->used - w);
        if (batch == NULL) batch = cp_batch_begin(q->store);
        lease_close(q, l, w, batch);
    }
    /* buckets of past periods with no lease left stay on disk (history)
     * but leave memory */
    for (bucket_t **p = &q->buckets; *p != NULL;) {
        bucket_t *b = *p;
        if (now_s >= b->rec->period_end && b->open_granted == 0) {
            *p = b->next;
            ap_msg_free(&b->rec->base);
            free(b);
        } else {
            p = &b->next;
        }
    }
    if (batch != NULL) commit(batch, 1);
}

/* ---- Admin ListQuotas ---- */

typedef struct {
    cp_quota_t *q;
    const char *client_id; /* NULL = all */
    int64_t now_s;
    Apiplatform__V1__ListQuotasResponse *r;
} list_ctx_t;

static void list_profile(void *ctx, ProtobufCMessage *m)
{
    list_ctx_t *c = ctx;
    const Apiplatform__V1__AccessProfile *p = (const Apiplatform__V1__AccessProfile *)m;
    if (c->client_id != NULL && strcmp(p->client_id, c->client_id) != 0) return;
    int period = 0;
    uint64_t limit = profile_quota(c->q, p->id, &period);
    int64_t start, end;
    if (limit == 0 || cp_period_bounds(period, c->now_s, &start, &end) != 0) return;
    Apiplatform__V1__QuotaStatus *s =
        (Apiplatform__V1__QuotaStatus *)ap_msg_new(&apiplatform__v1__quota_status__descriptor);
    ap_msg_set_str(&s->base, "profile_id", p->id);
    ap_msg_set_str(&s->base, "profile_name", p->name);
    ap_msg_set_str(&s->base, "client_id", p->client_id);
    ap_msg_set_str(&s->base, "policy_id", p->policy_id);
    char key[CP_KEY_MAX];
    cp_res_key(key, sizeof(key), &CP_KIND_CLIENT, p->client_id);
    ProtobufCMessage *cl = cp_store_get_msg(c->q->store, key, &apiplatform__v1__client__descriptor);
    if (cl != NULL) {
        ap_msg_set_str(&s->base, "client_name", ((Apiplatform__V1__Client *)cl)->name);
        ap_msg_free(cl);
    }
    s->period = period;
    s->period_start = start;
    s->period_end = end;
    s->limit = limit;
    const bucket_t *b = bucket_find(c->q, p->id, period, start);
    if (b != NULL) {
        bucket_sums(b, &s->used, &s->leased);
        for (const lease_t *l = c->q->leases; l != NULL; l = l->next) {
            if (l->b != b) continue;
            Apiplatform__V1__QuotaLeaseStatus *ls = (Apiplatform__V1__QuotaLeaseStatus *)ap_msg_new(
                &apiplatform__v1__quota_lease_status__descriptor);
            ap_msg_set_str(&ls->base, "node_id", l->rec->node_id);
            ls->lease_id = l->rec->lease_id;
            ls->granted = l->rec->granted;
            ls->used = l->rec->used;
            ls->connected = l->down_since_ms == 0;
            if (l->down_since_ms != 0)
                ls->expire_time = (l->down_since_ms + c->q->ttl_ms + 999) / 1000;
            s->leases = realloc(s->leases, (s->n_leases + 1) * sizeof(*s->leases));
            s->leases[s->n_leases++] = ls;
        }
    }
    s->remaining = limit > s->used + s->leased ? limit - s->used - s->leased : 0;
    c->r->quotas = realloc(c->r->quotas, (c->r->n_quotas + 1) * sizeof(*c->r->quotas));
    c->r->quotas[c->r->n_quotas++] = s;
}

Apiplatform__V1__ListQuotasResponse *cp_quota_list(cp_quota_t *q,
                                                   const Apiplatform__V1__ListQuotasRequest *req,
                                                   int64_t now_ms, ap_status_t *st)
{
    char client_id[64];
    if (req->client[0] != '\0' &&
        cp_res_resolve(q->store, &CP_KIND_CLIENT, req->client, NULL, client_id, st) != 0)
        return NULL;
    list_ctx_t c = {q, req->client[0] ? client_id : NULL, now_ms / 1000,
                    (Apiplatform__V1__ListQuotasResponse *)ap_msg_new(
                        &apiplatform__v1__list_quotas_response__descriptor)};
    cp_res_each(q->store, &CP_KIND_PROFILE, list_profile, &c);
    return c.r;
}
