/* Exact cluster-wide quotas: the control plane is the authority. For each
 * access profile whose policy has a quota it keeps, per calendar period
 * (UTC day, ISO week from Monday, month), the use recorded so far and the
 * leases out on nodes. A lease is a slice of what remains: the control plane
 * never grants more than limit - used - leased, so the cluster never admits
 * more than the quota.
 *
 * A node admits a request only against its lease, and at most `chunk`
 * requests beyond the use the control plane has acknowledged. Its reports
 * (cumulative use per lease) move use from "leased" to "used". Leases come
 * back: a node releases them (shutdown, period over); a lease of the
 * previous period is closed at rollover; a node that went away has its
 * lease reclaimed `ttl` after it left: min(chunk, unreported) of it is
 * written off as used (its use we cannot know, so the cluster may fall short
 * of the quota by that much, never exceed it), the rest returns to the pool.
 *
 * State is persisted in RocksDB (q/...) with fsync before a grant is sent,
 * so a restarted control plane never re-grants what is out. Runs on the
 * server's queue thread. */
#ifndef CP_QUOTA_H
#define CP_QUOTA_H

#include <stdint.h>

#include "ap_rpc.h"
#include "apiplatform/v1/admin.pb-c.h"
#include "apiplatform/v1/sync.pb-c.h"
#include "store.h"

/* ---- calendar periods (pure; exposed for tests) ---- */

/* The UTC period of kind `period` (QUOTA_PERIOD_DAY/WEEK/MONTH) holding unix
 * time t: [*start, *end). Weeks start on Monday 00:00 UTC (ISO). Returns -1
 * for an unknown period. */
int cp_period_bounds(int period, int64_t t, int64_t *start, int64_t *end);

/* ---- lease arithmetic (pure; exposed for tests) ---- */

/* How much to grant a node asking for a lease: a share of what is free
 * (limit - used - leased) so that `nodes` nodes can each hold some, at least
 * 1 while anything is free, at most `cap`; 0 when nothing is free. */
uint64_t cp_lease_grant_size(uint64_t free, uint32_t nodes, uint64_t cap);
/* How far a node may run ahead of its acknowledged use for a grant of
 * `granted`: a quarter of it, at least 1, at most `granted`. */
uint64_t cp_lease_chunk(uint64_t granted);
/* Reclaiming the lease of a node gone for good: of `granted` with
 * `reported` use acknowledged and run-ahead `chunk`, how much is written off
 * as used (the rest returns to the pool). */
uint64_t cp_lease_write_off(uint64_t granted, uint64_t reported, uint64_t chunk);

/* ---- the authority ---- */

typedef struct st_cp_quota_t cp_quota_t;

/* Loads persisted state at now_ms (unix ms). ttl_ms: how long a lease of a node that went away
 * is kept before it is reclaimed (the node stops using a lease ttl_ms/2
 * after its last acknowledgement, so it never uses a reclaimed lease);
 * grant_cap: the largest single grant. */
cp_quota_t *cp_quota_new(cp_store_t *store, uint32_t ttl_ms, uint64_t grant_cap, int64_t now_ms);
void cp_quota_free(cp_quota_t *q);

/* A node's report at `now_ms` (unix ms): records the use of its leases,
 * releases, grants what it asks for; fills ack->leases with every lease the
 * node holds or asked for (malloc'd; free with cp_quota_ack_clear).
 * connected_nodes: how many nodes share the quota. */
void cp_quota_report(cp_quota_t *q, const char *node_id, const Apiplatform__V1__UsageReport *r,
                     uint32_t connected_nodes, int64_t now_ms, Apiplatform__V1__ReportAck *ack);
void cp_quota_ack_clear(Apiplatform__V1__ReportAck *ack);
/* The node's stream ended at now_ms: its leases expire ttl later unless it
 * comes back. */
void cp_quota_node_down(cp_quota_t *q, const char *node_id, int64_t now_ms);
void cp_quota_node_up(cp_quota_t *q, const char *node_id);
/* Reclaims expired leases and closes leases of past periods. */
void cp_quota_tick(cp_quota_t *q, int64_t now_ms);

/* Admin ListQuotas. */
Apiplatform__V1__ListQuotasResponse *cp_quota_list(cp_quota_t *q,
                                                   const Apiplatform__V1__ListQuotasRequest *req,
                                                   int64_t now_ms, ap_status_t *st);

#endif
