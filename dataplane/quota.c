/* Quota leases on a node (see quota.h). One mutex guards the table of
 * slots (one per profile seen with a quota); the handler threads hold it for
 * a lookup and a few additions, never waiting: a request that needs an
 * answer from the control plane is parked by the handler. */
#include "quota.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_msg.h"
#include "ap_clock.h"
#include "ap_hash.h"

#define BUCKETS 1024

typedef struct st_slot_t {
    char profile_id[64];
    uint64_t lease_id; /* 0 = none */
    uint64_t granted, used, acked_used, chunk;
    uint64_t last_grant; /* size of the last increase, for prefetching */
    uint64_t limit, period_used;
    uint32_t window;
    int period;
    double deadline; /* the period's end on this node's monotonic clock */
    double last_ack; /* monotonic seconds */
    uint32_t ttl_ms;
    int exhausted;     /* the control plane had nothing left to lease */
    int no_quota;      /* the control plane knows of no quota for it */
    int want;          /* ask for (more of) a lease in the next report */
    double asked;      /* when the last request went out */
    double last_use;   /* when a request last came for it */
    uint64_t reported; /* `used` in the last report */
    int seen;          /* in the ack being applied */
    /* the RateLimit-Policy item, made when an answer changes it */
    char policy_item[64];
    uint8_t policy_item_len;
    struct st_slot_t *next;
} slot_t;

static struct {
    pthread_mutex_t mu;
    slot_t *table[BUCKETS];
    int urgent; /* a report should go at once */
    int held;   /* some slot holds a lease or wants one (the heartbeat) */
    double last_report;
    double inflight_since; /* a report is out, unanswered; 0 = none */
    int wait_ms;
    int idle_ms;
    int connected; /* the stream to the control plane is up */
    void (*notify)(void);
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER, .wait_ms = 250, .idle_ms = 10000};

void dp_quota_set_wait_ms(int ms)
{
    Q.wait_ms = ms;
}

void dp_quota_set_idle_ms(int ms)
{
    Q.idle_ms = ms;
}

/* mu held */
static slot_t *slot_get(const char *profile_id, uint32_t hash, int create)
{
    unsigned h = hash % BUCKETS;
    for (slot_t *s = Q.table[h]; s != NULL; s = s->next)
        if (strcmp(s->profile_id, profile_id) == 0) return s;
    if (!create) return NULL;
    slot_t *s = calloc(1, sizeof(*s));
    strncpy(s->profile_id, profile_id, sizeof(s->profile_id) - 1);
    s->next = Q.table[h];
    Q.table[h] = s;
    return s;
}

static const char *period_name(int period)
{
    switch (period) {
    case APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY:
        return "day";
    case APIPLATFORM__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK:
        return "week";
    default:
        return "month";
    }
}

/* mu held: what the last answer said still holds (same period, and recent
 * enough that the control plane has not reclaimed the lease) */
static int fresh(const slot_t *s, double now)
{
    return s->last_ack > 0 && now < s->deadline && (now - s->last_ack) * 1000.0 < s->ttl_ms / 2.0;
}

static void fill_result(const slot_t *s, double now, dp_quota_outcome_t o, dp_quota_result_t *r)
{
    r->outcome = o;
    r->name = period_name(s->period);
    r->name_len = (uint8_t)strlen(r->name);
    r->window = s->window;
    r->limit = s->limit;
    uint64_t spent = s->period_used + (s->used > s->acked_used ? s->used - s->acked_used : 0);
    r->remaining = s->limit > spent ? s->limit - spent : 0;
    /* with nothing left to lease, what remains is what this node holds */
    uint64_t held = s->granted > s->used ? s->granted - s->used : 0;
    if (s->exhausted && r->remaining > held) r->remaining = held;
    if (o == DP_QUOTA_EXCEEDED) r->remaining = 0;
    double left = s->deadline - now;
    r->reset = left > 0 ? (uint32_t)(left + 0.999) : 0;
    r->retry_after = o == DP_QUOTA_EXCEEDED ? (r->reset > 0 ? r->reset : 1) : 1;
    memcpy(r->policy_item, s->policy_item, s->policy_item_len);
    r->policy_item_len = s->policy_item_len;
}

void dp_quota_take(const char *profile_id, dp_quota_result_t *r)
{
    dp_quota_take_h(profile_id, ap_hash_str(profile_id), 1, r);
}

int dp_quota_wait_ms(void)
{
    return Q.wait_ms;
}

void dp_quota_set_notify(void (*fn)(void))
{
    Q.notify = fn;
}

void dp_quota_take_h(const char *profile_id, uint32_t hash, int final, dp_quota_result_t *r)
{
    r->name = NULL; /* every outcome below sets the rest it needs */
    pthread_mutex_lock(&Q.mu);
    slot_t *s = slot_get(profile_id, hash, 1);
    double now = ap_mono_s();
    s->last_use = now;
    int known = fresh(s, now), live = known && s->lease_id != 0;
    if (live && s->used < s->granted && s->used - s->acked_used < s->chunk) {
        s->used++;
        /* ask for more before this runs out, report before the run-ahead
         * does */
        uint64_t low = s->last_grant / 2;
        if (s->granted - s->used <= low && !s->exhausted && !s->want) {
            s->want = 1;
            Q.urgent = 1;
        }
        if ((s->used - s->acked_used) * 2 >= s->chunk) Q.urgent = 1;
        fill_result(s, now, DP_QUOTA_OK, r);
    } else if (known && s->exhausted && (s->lease_id == 0 || s->used >= s->granted)) {
        /* nothing left anywhere as of the last answer; ask again now and
         * then in case leases come back */
        if (now - s->asked >= 1.0) s->want = 1;
        fill_result(s, now, DP_QUOTA_EXCEEDED, r);
    } else if (!Q.connected || s->no_quota) {
        if (s->no_quota && now - s->asked >= 1.0) s->want = 1;
        fill_result(s, now, DP_QUOTA_UNAVAILABLE, r);
        if (s->lease_id == 0) r->name = NULL; /* nothing known to put in headers */
    } else {
        /* an answer of the control plane is needed: a lease, more of it, or
         * an ack */
        if (!live || s->used >= s->granted) s->want = 1;
        Q.urgent = 1;
        if (final) { /* no answer in time: 503, without limit fields */
            r->outcome = DP_QUOTA_UNAVAILABLE;
            r->retry_after = 1;
        } else {
            r->outcome = DP_QUOTA_PENDING;
        }
    }
    if (s->want) Q.held = 1;
    pthread_mutex_unlock(&Q.mu);
}

int dp_quota_report_due(void)
{
    pthread_mutex_lock(&Q.mu);
    double now = ap_mono_s();
    /* one report in flight at a time (a lost answer is given up after 1 s) */
    int free_to_send = Q.inflight_since == 0 || now - Q.inflight_since >= 1.0;
    int due = free_to_send && (Q.urgent || (Q.held && now - Q.last_report >= 1.0));
    pthread_mutex_unlock(&Q.mu);
    return due;
}

/* mu held: the lease is over (given back, or no longer listed) */
static void drop_lease(slot_t *s)
{
    s->lease_id = 0;
    s->granted = s->used = s->acked_used = 0;
}

static void *grow(void *arr, size_t n, size_t size)
{
    return realloc(arr, (n + 1) * size);
}

void dp_quota_fill_report(Apiplatform__V1__UsageReport *r, int release)
{
    pthread_mutex_lock(&Q.mu);
    double now = ap_mono_s();
    int held = 0;
    for (int i = 0; i < BUCKETS; i++)
        for (slot_t *s = Q.table[i]; s != NULL; s = s->next) {
            if (s->lease_id != 0) {
                /* a lease nobody asked for in a while goes back, so other
                 * nodes can use what it holds */
                int idle = !s->want && now - s->last_use >= Q.idle_ms / 1000.0;
                Apiplatform__V1__LeaseUse *u = (Apiplatform__V1__LeaseUse *)ap_msg_new(
                    &apiplatform__v1__lease_use__descriptor);
                u->lease_id = s->lease_id;
                u->used = s->used;
                u->release = release || idle;
                s->reported = s->used;
                r->leases = grow(r->leases, r->n_leases, sizeof(*r->leases));
                r->leases[r->n_leases++] = u;
                if (u->release) {
                    drop_lease(s);
                    s->exhausted = 0;
                    s->last_ack = 0; /* nothing known: the next request asks */
                }
            }
            if (s->want && !release) {
                Apiplatform__V1__LeaseRequest *q = (Apiplatform__V1__LeaseRequest *)ap_msg_new(
                    &apiplatform__v1__lease_request__descriptor);
                ap_msg_set_str(&q->base, "profile_id", s->profile_id);
                r->requests = grow(r->requests, r->n_requests, sizeof(*r->requests));
                r->requests[r->n_requests++] = q;
                s->want = 0;
                s->asked = now;
            }
            held |= s->lease_id != 0 || s->want;
        }
    Q.held = held;
    Q.urgent = 0;
    Q.last_report = now;
    Q.inflight_since = now;
    pthread_mutex_unlock(&Q.mu);
}

void dp_quota_apply_ack(const Apiplatform__V1__ReportAck *ack)
{
    pthread_mutex_lock(&Q.mu);
    double now = ap_mono_s();
    for (int i = 0; i < BUCKETS; i++)
        for (slot_t *s = Q.table[i]; s != NULL; s = s->next)
            s->seen = 0;
    for (size_t i = 0; i < ack->n_leases; i++) {
        const Apiplatform__V1__Lease *m = ack->leases[i];
        slot_t *s = slot_get(m->profile_id, ap_hash_str(m->profile_id), 1);
        s->seen = 1;
        s->no_quota = m->limit == 0;
        if (m->lease_id != s->lease_id) {
            /* a new lease (or none): what the old one held is over */
            s->lease_id = m->lease_id;
            s->used = m->acked_used;
            s->granted = 0;
            s->reported = 0;
        }
        if (m->lease_id != 0) {
            if (m->granted > s->granted) s->last_grant = m->granted - s->granted;
            s->granted = m->granted;
            if (m->acked_used > s->used) s->used = m->acked_used;
            s->acked_used = m->acked_used;
            s->chunk = m->chunk;
        }
        uint32_t window = (uint32_t)(m->period_end - m->period_start);
        if (m->limit != s->limit || (int)m->period != s->period || window != s->window)
            s->policy_item_len =
                (uint8_t)snprintf(s->policy_item, sizeof(s->policy_item), "\"%s\";q=%llu;w=%u",
                                  period_name(m->period), (unsigned long long)m->limit, window);
        s->limit = m->limit;
        s->period_used = m->period_used;
        s->period = m->period;
        s->window = window;
        s->deadline = now + m->seconds_left;
        s->last_ack = now;
        s->ttl_ms = m->ttl_ms;
        s->exhausted = m->exhausted;
    }
    /* leases the control plane no longer lists are over */
    int held = 0;
    for (int i = 0; i < BUCKETS; i++)
        for (slot_t *s = Q.table[i]; s != NULL; s = s->next) {
            if (!s->seen && s->lease_id != 0) drop_lease(s);
            held |= s->lease_id != 0 || s->want;
        }
    Q.held = held;
    Q.inflight_since = 0;
    pthread_mutex_unlock(&Q.mu);
    if (Q.notify) Q.notify();
}

void dp_quota_set_connected(int up)
{
    pthread_mutex_lock(&Q.mu);
    Q.connected = up;
    Q.inflight_since = 0;
    pthread_mutex_unlock(&Q.mu);
    if (Q.notify) Q.notify();
}

void dp_quota_reset(void)
{
    pthread_mutex_lock(&Q.mu);
    for (int i = 0; i < BUCKETS; i++) {
        for (slot_t *s = Q.table[i], *n; s != NULL; s = n) {
            n = s->next;
            free(s);
        }
        Q.table[i] = NULL;
    }
    Q.urgent = 0;
    Q.held = 0;
    Q.inflight_since = 0;
    pthread_mutex_unlock(&Q.mu);
}
