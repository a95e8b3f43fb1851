/* Usage aggregates on the control plane: nodes report per-(profile,
 * endpoint) counters in batches over the Sync stream; the control plane adds
 * them into per-minute and per-day buckets in RocksDB, and Admin GetUsage
 * adds the buckets of a time range up into totals, top clients, top
 * endpoints and a series. Everything runs on the server's queue thread. */
#ifndef CP_USAGE_H
#define CP_USAGE_H

#include <stdint.h>

#include "ap_rpc.h"
#include "apiplatform/v1/admin.pb-c.h"
#include "apiplatform/v1/sync.pb-c.h"
#include "store.h"

/* Adds the counters of one node report, received at `now` (unix seconds),
 * to the minute and day buckets `now` falls in (one batch, not fsynced). */
void cp_usage_record(cp_store_t *s, const Apiplatform__V1__UsageReport *r, int64_t now);

/* Admin GetUsage at `now`: a GetUsageResponse, or NULL with st set
 * (INVALID_ARGUMENT naming the field, NOT_FOUND for an unknown client or
 * collection). Buckets that overlap [start, end) count whole, and the
 * answer's start_time and end_time are widened to their bounds. */
Apiplatform__V1__GetUsageResponse *cp_usage_get(cp_store_t *s,
                                                const Apiplatform__V1__GetUsageRequest *req,
                                                int64_t now, ap_status_t *st);

#endif
