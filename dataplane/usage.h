/* Usage counters on a data-plane node: every request is counted by
 * (profile, endpoint) and outcome (successful, client error, server error,
 * and the policy violations rate_limited, quota_exceeded, ip_denied). The
 * sync thread drains them into a UsageReport at least once a second. */
#ifndef DP_USAGE_H
#define DP_USAGE_H

#include <h2o.h>
#include <stddef.h>

#include "apiplatform/v1/sync.pb-c.h"

/* Counts every request of pathconf when it is logged (h2o logger). */
void dp_usage_register(h2o_pathconf_t *pathconf);

/* Counts one finished request of (profile id, endpoint id), "" for none,
 * by its status and stable code (NULL = none): what the logger does,
 * exposed for tests. Thread-safe. */
void dp_usage_count(const char *profile, const char *endpoint, int status, const char *code);

/* Moves the counts gathered since the last call into r->counters: appends
 * UsageCounter messages made with ap_msg_new (r->counters realloc'd). The
 * caller frees them (ap_msg_free each, free the array). Returns how many
 * were added. Thread-safe. */
size_t dp_usage_drain(Apiplatform__V1__UsageReport *r);

#endif
