/* Quotas on a data-plane node: it admits a request of a profile with a
 * quota only against a lease the control plane granted (see
 * controlplane/quota.h), and never more than `chunk` requests beyond the use
 * the control plane has acknowledged. The handler threads take from the
 * leases; the sync thread reports use, asks for more before a lease runs
 * out, and applies the control plane's answers.
 *
 * When there is no usable lease (the first request of a profile on this
 * node, a lease used up while more is on its way, or a report not yet
 * acknowledged) the request waits for the answer, parked by the handler, up
 * to wait_ms. Nothing is admitted unconfirmed: with the control plane
 * unreachable a node keeps using what it holds until ttl/2 after its last
 * acknowledgement, then answers 503 quota_unavailable. */
#ifndef DP_QUOTA_H
#define DP_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "apiplatform/v1/sync.pb-c.h"

typedef enum {
    DP_QUOTA_OK = 0,
    DP_QUOTA_EXCEEDED,    /* 429 quota_exceeded: nothing left this period */
    DP_QUOTA_UNAVAILABLE, /* 503 quota_unavailable: cannot be confirmed now */
    DP_QUOTA_PENDING,     /* an answer is on its way: try again (not final) */
} dp_quota_outcome_t;

typedef struct st_dp_quota_result_t {
    dp_quota_outcome_t outcome;
    /* for the draft-11 headers: the period's name and length (seconds), the
     * quota, the cluster-wide remaining as this node knows it, and seconds
     * until the period ends */
    const char *name;
    uint8_t name_len;
    uint32_t window;
    uint64_t limit;
    uint64_t remaining;
    uint32_t reset;
    /* seconds; for EXCEEDED the time to the next period */
    uint32_t retry_after;
    /* the RateLimit-Policy item ("month";q=1000;w=2678400), when name is set */
    char policy_item[64];
    uint8_t policy_item_len;
} dp_quota_result_t;

/* How long a request may wait for a lease (default 250 ms). */
void dp_quota_set_wait_ms(int ms);
/* How long a lease may go unused before the node gives it back (default
 * 10000 ms). */
void dp_quota_set_idle_ms(int ms);

/* Takes one request of `profile_id` (a quota is in its policy), the id's
 * ap_hash_str computed already. Never blocks: where an answer of the
 * control plane is needed it asks for it and says DP_QUOTA_PENDING (the
 * caller parks the request and tries again when the notify hook fires), or
 * with final set (the wait is over) DP_QUOTA_UNAVAILABLE. Thread-safe. */
void dp_quota_take_h(const char *profile_id, uint32_t hash, int final, dp_quota_result_t *r);
/* dp_quota_take_h(profile_id, its hash, final) */
void dp_quota_take(const char *profile_id, dp_quota_result_t *r);
/* How long a request may wait for a lease, in ms. */
int dp_quota_wait_ms(void);
/* Called (on the sync thread, no lock held) after every answer from the
 * control plane and when the stream goes down: parked requests may go on. */
void dp_quota_set_notify(void (*fn)(void));

/* ---- the sync thread's side ---- */

/* Whether a report should go now: a request waits, a lease runs low, the
 * run-ahead is half used, or a second has passed while leases are held. */
int dp_quota_report_due(void);
/* Adds lease use and lease requests to r (LeaseUse / LeaseRequest messages
 * made with ap_msg_new; the caller frees them). release: give every lease
 * back (shutdown). */
void dp_quota_fill_report(Apiplatform__V1__UsageReport *r, int release);
/* The control plane's answer. */
void dp_quota_apply_ack(const Apiplatform__V1__ReportAck *ack);
/* The stream is up (after its hello) or down: when down, waiting requests
 * stop waiting and reports in flight are forgotten. */
void dp_quota_set_connected(int up);
/* Forgets everything (tests, shutdown). */
void dp_quota_reset(void);

#endif
