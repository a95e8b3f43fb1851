/* The Sync service: one bidirectional stream per data-plane node, modelled
 * on Envoy's xDS. A node says hello with the revision it holds and gets a
 * delta from the change log (or a full snapshot), each update with a nonce,
 * answered by ACK or NACK. At most one update per node is unanswered;
 * changes that land meanwhile are coalesced into the next one. A NACKed
 * revision is never re-sent as is: the node gets a new update only when the
 * configuration moves past it. Everything runs on the server's queue
 * thread, like the Admin handlers. */
#ifndef CP_SYNC_H
#define CP_SYNC_H

#include "ap_rpc.h"
#include "apiplatform/v1/admin.pb-c.h"
#include "apiplatform/v1/sync.pb-c.h"
#include "store.h"

typedef struct st_cp_sync_t cp_sync_t;

/* node_hash: hex SHA-256 of the node token nodes present. node_cn: when
 * non-empty, a client certificate (verified by the server's CA) whose common
 * name matches it also admits a node; a trailing '*' matches any rest
 * ("dp-*"). test_hooks: see sync.c.
 * quota_ttl_ms, quota_grant_cap: lease expiry and the largest grant (see
 * quota.h). */
cp_sync_t *cp_sync_new(cp_store_t *store, const char *node_hash, const char *node_cn,
                       int test_hooks, uint32_t quota_ttl_ms, uint64_t quota_grant_cap);
void cp_sync_free(cp_sync_t *s);
/* The stream method row, for ap_server_opts_t (ctx must be the cp_sync_t). */
extern const ap_stream_method_t cp_sync_stream_method;
/* Sends pending updates to every node that can take one: call after each
 * write. */
void cp_sync_notify(cp_sync_t *s);
/* Admin ListQuotas (see quota.h). */
Apiplatform__V1__ListQuotasResponse *
cp_sync_quotas(cp_sync_t *s, const Apiplatform__V1__ListQuotasRequest *req, ap_status_t *st);
/* Call about every 100 ms: reclaims expired quota leases. */
void cp_sync_tick(cp_sync_t *s);
/* The nodes known since start, as a malloc'd ListNodesResponse-ready array. */
size_t cp_sync_nodes(cp_sync_t *s, Apiplatform__V1__NodeStatus ***out);
/* Builds the update that brings a node from revision `from` (0 = nothing) to
 * the store's current revision: a delta when the change log covers it, else a
 * full snapshot. Exposed for tests. */
Apiplatform__V1__SyncResponse *cp_sync_build(cp_store_t *store, uint64_t from);

#endif
