/* Rate limits on one node: a sliding-window counter per access profile
 * (the previous fixed window's count weighted by how much of it still
 * overlaps the sliding window, plus the current window's count), shared by
 * the node's threads. Each node enforces its share of a policy's limit; the
 * shares of all nodes add up to the limit. */
#ifndef DP_RATELIMIT_H
#define DP_RATELIMIT_H

#include <stdint.h>

/* The outcome of one request against a limit. */
typedef struct st_dp_rl_result_t {
    int allowed;
    /* requests left in the sliding window after this one */
    uint64_t remaining;
    /* seconds until the current fixed window ends */
    uint32_t reset;
    /* when refused: seconds until a request would be admitted */
    uint32_t retry_after;
} dp_rl_result_t;

/* The sliding-window arithmetic, pure (exposed for tests): a window of
 * `window` seconds starting at `start` holds `cur`, the one before holds
 * `prev`; may one more request at `now` pass under `limit`? */
void dp_rl_decide(uint64_t limit, uint32_t window, double start, uint64_t prev, uint64_t cur,
                  double now, dp_rl_result_t *r);

/* Counts one request of `key` (a profile id) against `limit` per `window`
 * seconds at time `now` (seconds, any monotonic origin); fills r. Thread-safe. */
void dp_rl_take(const char *key, uint64_t limit, uint32_t window, double now, dp_rl_result_t *r);
/* The same with the key's ap_hash_str computed already. */
void dp_rl_take_h(const char *key, uint32_t hash, uint64_t limit, uint32_t window, double now,
                  dp_rl_result_t *r);

#endif
