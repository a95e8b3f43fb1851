/* Sliding-window rate limits (see ratelimit.h). Counters live in a hash
 * table of 256 stripes, each with its own lock and a small open list, so
 * threads of one node rarely contend; entries are never removed (one per
 * profile that ever called, a few dozen bytes each). */
#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ap_hash.h"

#define STRIPES 256

typedef struct st_counter_t {
    char *key;
    uint32_t window;
    double start; /* of the current fixed window */
    uint64_t prev, cur;
} counter_t;

static struct {
    pthread_mutex_t lock;
    counter_t *v;
    size_t n, cap;
} stripes[STRIPES] = {[0 ... STRIPES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

void dp_rl_decide(uint64_t limit, uint32_t window, double start, uint64_t prev, uint64_t cur,
                  double now, dp_rl_result_t *r)
{
    double into = (now - start) / window; /* 0..1 through the current window */
    double est = (double)prev * (1.0 - into) + (double)cur;
    r->reset = (uint32_t)ceil(start + window - now);
    if (est + 1.0 <= (double)limit) {
        r->allowed = 1;
        r->remaining = (uint64_t)floor((double)limit - est - 1.0);
        r->retry_after = 0;
        return;
    }
    r->allowed = 0;
    r->remaining = 0;
    /* the estimate falls as the previous window slides out: when is
     * prev * (1 - t/window) + cur <= limit - 1 ? never within this window
     * when cur alone fills it: then at the next window's start plus the
     * same question with prev = cur */
    double need = (double)limit - 1.0 - (double)cur;
    double at;
    if (need >= 0 && prev > 0) {
        at = start + window * (1.0 - need / (double)prev);
    } else {
        double need2 = (double)limit - 1.0;
        at = start + window + (cur > 0 ? window * (1.0 - need2 / (double)cur) : 0);
    }
    double wait = at - now;
    r->retry_after = wait < 1.0 ? 1 : (uint32_t)ceil(wait);
}

void dp_rl_take(const char *key, uint64_t limit, uint32_t window, double now, dp_rl_result_t *r)
{
    dp_rl_take_h(key, ap_hash_str(key), limit, window, now, r);
}

void dp_rl_take_h(const char *key, uint32_t hash, uint64_t limit, uint32_t window, double now,
                  dp_rl_result_t *r)
{
    uint32_t h = hash ^ window;
    typeof(&stripes[0]) s = &stripes[h % STRIPES];
    double start = floor(now / window) * window; /* of the fixed window now is in */
    pthread_mutex_lock(&s->lock);
    counter_t *c = NULL;
    for (size_t i = 0; i < s->n && c == NULL; i++)
        if (s->v[i].window == window && strcmp(s->v[i].key, key) == 0) c = &s->v[i];
    if (c == NULL) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 4;
            s->v = realloc(s->v, s->cap * sizeof(*s->v));
        }
        c = &s->v[s->n++];
        c->key = strdup(key);
        c->window = window;
        c->start = start;
        c->prev = c->cur = 0;
    }
    /* roll the fixed windows forward */
    if (start > c->start) {
        c->prev = start - c->start == window ? c->cur : 0;
        c->cur = 0;
        c->start = start;
    }
    dp_rl_decide(limit, window, c->start, c->prev, c->cur, now, r);
    if (r->allowed) c->cur++;
    pthread_mutex_unlock(&s->lock);
}
