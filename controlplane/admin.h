/* The Admin gRPC service: a table of methods, each a thin row over the
 * generic resource layer, plus tokens, settings and the revision. */
#ifndef CP_ADMIN_H
#define CP_ADMIN_H

#include <stddef.h>

#include "ap_rpc.h"
#include "store.h"
#include "sync.h"

/* Everything the Admin handlers need. */
typedef struct st_cp_admin_t {
    cp_store_t *store;
    /* hex SHA-256 of the admin token that calls must present */
    char admin_hash[65];
    /* data-plane nodes, told about every write */
    cp_sync_t *sync;
} cp_admin_t;

/* The method table, for ap_server_opts_t. */
extern const ap_method_t cp_admin_methods[];
extern const size_t cp_admin_n_methods;
/* Checks the bearer admin token (ap_auth_fn; ctx is a cp_admin_t). */
int cp_admin_auth(void *ctx, const ap_call_info_t *ci, ap_status_t *st);
/* After every call (ap_done_fn): logs it (method, status, duration, actor)
 * and, when it may have written, pushes the change to the data planes before
 * the caller gets its answer. */
void cp_admin_done(void *ctx, const ap_call_info_t *ci, const ap_status_t *st, double ms);

#endif
