/* Usage counters (see usage.h). An h2o logger counts each request when it
 * is logged, into a hash table of 64 stripes keyed by (profile id, endpoint
 * id) strings, each stripe with its own lock so the node's threads rarely
 * contend. The keys are copies (a config swap frees the strings they came
 * from); an entry is made on the first request of a key and dropped by the
 * drain after an interval without traffic, so a busy key costs no malloc. */
#include "usage.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ap_hash.h"
#include "ap_msg.h"
#include "handler.h"

#define STRIPES 64

/* The outcomes counted, in UsageCounter's field order. */
enum {
    U_OK,
    U_CLIENT_ERROR,
    U_SERVER_ERROR,
    U_RATE_LIMITED,
    U_QUOTA_EXCEEDED,
    U_IP_DENIED,
    U_OUTCOMES
};

typedef struct st_entry_t {
    struct st_entry_t *next;
    uint32_t hash;
    uint64_t n[U_OUTCOMES];
    /* points into the same allocation, after profile */
    char *endpoint;
    char profile[];
} entry_t;

static struct {
    pthread_mutex_t lock;
    entry_t **slots;
    size_t n_slots, n;
} stripes[STRIPES] = {[0 ... STRIPES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

static uint32_t hash(const char *profile, const char *endpoint)
{
    return ap_hash_more(ap_hash_more(ap_hash_str(profile), "/"), endpoint);
}

/* Which outcome a finished request is. A status of 0 (the caller left
 * before an answer) is no success: it counts as a client error. */
static int outcome(int status, const char *code)
{
    if (status > 0 && status < 400) return U_OK;
    if (code != NULL && (status == 429 || status == 403)) {
        if (strcmp(code, "rate_limited") == 0) return U_RATE_LIMITED;
        if (strcmp(code, "quota_exceeded") == 0) return U_QUOTA_EXCEEDED;
        if (strcmp(code, "ip_denied") == 0) return U_IP_DENIED;
    }
    return status >= 500 ? U_SERVER_ERROR : U_CLIENT_ERROR;
}

/* Doubles a stripe's slots (lock held). */
static void grow(typeof(&stripes[0]) s)
{
    size_t n = s->n_slots ? s->n_slots * 2 : 16;
    entry_t **slots = calloc(n, sizeof(*slots));
    for (size_t i = 0; i < s->n_slots; i++)
        for (entry_t *e = s->slots[i], *next; e != NULL; e = next) {
            next = e->next;
            e->next = slots[(e->hash / STRIPES) % n];
            slots[(e->hash / STRIPES) % n] = e;
        }
    free(s->slots);
    s->slots = slots;
    s->n_slots = n;
}

void dp_usage_count(const char *profile, const char *endpoint, int status, const char *code)
{
    int what = outcome(status, code);
    uint32_t h = hash(profile, endpoint);
    typeof(&stripes[0]) s = &stripes[h % STRIPES];
    pthread_mutex_lock(&s->lock);
    entry_t *e = NULL;
    if (s->n_slots != 0)
        for (e = s->slots[(h / STRIPES) % s->n_slots]; e != NULL; e = e->next)
            if (e->hash == h && strcmp(e->profile, profile) == 0 &&
                strcmp(e->endpoint, endpoint) == 0)
                break;
    if (e == NULL) {
        size_t pl = strlen(profile) + 1, el = strlen(endpoint) + 1;
        if ((e = calloc(1, sizeof(*e) + pl + el)) == NULL) goto done;
        memcpy(e->profile, profile, pl);
        e->endpoint = e->profile + pl;
        memcpy(e->endpoint, endpoint, el);
        e->hash = h;
        if (s->n >= s->n_slots) grow(s);
        e->next = s->slots[(h / STRIPES) % s->n_slots];
        s->slots[(h / STRIPES) % s->n_slots] = e;
        s->n++;
    }
    e->n[what]++;
done:
    pthread_mutex_unlock(&s->lock);
}

static void on_log_access(h2o_logger_t *self, h2o_req_t *req)
{
    dp_reqstate_t *st = dp_reqstate_get(req);
    const char *profile = "", *endpoint = "", *code = NULL;
    if (st != NULL) {
        if (st->token != NULL) profile = st->token->profile->id;
        if (st->endpoint != NULL) endpoint = st->endpoint->id;
        code = st->code;
    }
    dp_usage_count(profile, endpoint, req->res.status, code);
}

void dp_usage_register(h2o_pathconf_t *pathconf)
{
    h2o_logger_t *l = h2o_create_logger(pathconf, sizeof(*l));
    l->log_access = on_log_access;
}

/* The counter of one entry as a message (ap_msg_new). */
static ProtobufCMessage *counter(const entry_t *e)
{
    Apiplatform__V1__UsageCounter *c =
        (Apiplatform__V1__UsageCounter *)ap_msg_new(&apiplatform__v1__usage_counter__descriptor);
    ap_msg_set_str(&c->base, "profile_id", e->profile);
    ap_msg_set_str(&c->base, "endpoint_id", e->endpoint);
    c->successful = e->n[U_OK];
    c->client_errors = e->n[U_CLIENT_ERROR];
    c->server_errors = e->n[U_SERVER_ERROR];
    c->rate_limited = e->n[U_RATE_LIMITED];
    c->quota_exceeded = e->n[U_QUOTA_EXCEEDED];
    c->ip_denied = e->n[U_IP_DENIED];
    return &c->base;
}

size_t dp_usage_drain(Apiplatform__V1__UsageReport *r)
{
    size_t added = 0;
    for (size_t i = 0; i < STRIPES; i++) {
        typeof(&stripes[0]) s = &stripes[i];
        pthread_mutex_lock(&s->lock);
        /* room for every entry: the busy ones are fewer */
        if (s->n > 0)
            r->counters = realloc(r->counters, (r->n_counters + s->n) * sizeof(*r->counters));
        for (size_t j = 0; j < s->n_slots; j++) {
            for (entry_t **pe = &s->slots[j], *e; (e = *pe) != NULL;) {
                int busy = 0;
                for (int k = 0; k < U_OUTCOMES; k++)
                    busy |= e->n[k] != 0;
                if (!busy) {
                    *pe = e->next;
                    s->n--;
                    free(e);
                    continue;
                }
                r->counters[r->n_counters++] = (Apiplatform__V1__UsageCounter *)counter(e);
                added++;
                memset(e->n, 0, sizeof(e->n));
                pe = &e->next;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return added;
}
