/* Configuration as code: Apply makes the stored configuration match a
 * Bundle in one transaction (one revision, all or nothing; nothing at all
 * when nothing differs), Export writes the configuration (or the part a
 * label selector owns) back out as a Bundle that Apply reproduces. */
#ifndef CP_APPLY_H
#define CP_APPLY_H

#include "ap_rpc.h"
#include "apiplatform/v1/admin.pb-c.h"
#include "store.h"

/* The plan, and the revision written unless dry_run or no change. NULL with
 * st set: INVALID_ARGUMENT naming the bundle item and field, NOT_FOUND for a
 * reference to nothing, ALREADY_EXISTS for a clash, FAILED_PRECONDITION for
 * a stale expected revision or a prune that would leave a dangling
 * reference. */
Apiplatform__V1__ApplyResponse *cp_apply(cp_store_t *s, const Apiplatform__V1__ApplyRequest *req,
                                         const char *actor, ap_status_t *st);
Apiplatform__V1__Bundle *cp_export(cp_store_t *s, Apiplatform__V1__Label *const *selector,
                                   size_t n_selector, ap_status_t *st);

#endif
