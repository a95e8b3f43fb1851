/* The data plane's side of config sync: one bidirectional stream to the
 * control plane's Sync service on a thread of its own. It says hello with
 * the revision it holds, applies each snapshot or delta to its copy of the
 * configuration, compiles it (dp_config_compile), swaps it in and answers
 * ACK — or NACK with the reason, keeping the old config. Every accepted
 * snapshot is written to the cache file (temp + fsync + rename, with a
 * checksum); at start the cache is served until the control plane answers.
 * Reconnects with jittered exponential backoff. */
#ifndef DP_SYNC_H
#define DP_SYNC_H

#include <stdint.h>

#include "ap_rpc.h"
#include "apiplatform/v1/sync.pb-c.h"

typedef struct st_dp_sync_opts_t {
    /* control plane Sync address, "127.0.0.1:7401" */
    const char *cp_addr;
    ap_tls_t tls;
    /* sent as "authorization: Bearer <node_token>" (may be NULL with mTLS) */
    const char *node_token;
    const char *node_id;
    /* "key=value,key=value" (may be NULL) */
    const char *labels;
    /* last-known-good snapshot file (may be NULL: no cache) */
    const char *cache_path;
    /* moves the usage counters gathered since the last call into a report
     * (dp_usage_drain; may be NULL) */
    size_t (*drain_usage)(Apiplatform__V1__UsageReport *r);
} dp_sync_opts_t;

/* Loads the cache (if any; a corrupt one is reported and ignored) and starts
 * the sync thread. Returns 0, or -1 with a reason in err. */
int dp_sync_start(const dp_sync_opts_t *o, char *err, size_t errlen);
/* Stops the thread (closes the stream). */
void dp_sync_stop(void);
/* For health and status pages. */
int dp_sync_connected(void);
uint64_t dp_sync_revision(void);
/* How many nodes share each rate limit (1 until the control plane says). */
unsigned dp_sync_node_count(void);

#endif
