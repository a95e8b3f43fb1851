/* The admin listener: a separate plain HTTP/1.1 port (loopback by default)
 * on a thread and event loop of its own, for health checks and operators.
 *   GET /healthz  200 while the process serves
 *   GET /readyz   200 once a config is held (503 before, and while draining)
 *   GET /status   node id, revision, sync connection, uptime
 * All answer JSON with "revision" and "connected". */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include <stddef.h>

typedef struct st_dp_admin_opts_t {
    /* "127.0.0.1:9901"; port 0 picks one */
    const char *listen;
    const char *node_id;
} dp_admin_opts_t;

typedef struct st_dp_admin_t dp_admin_t;

/* Binds the listener; NULL with a reason in err. */
dp_admin_t *dp_admin_new(const dp_admin_opts_t *o, char *err, size_t errlen);
/* The address as bound ("127.0.0.1:41235"). */
const char *dp_admin_addr(const dp_admin_t *a);
/* Starts serving on its own thread. */
int dp_admin_start(dp_admin_t *a, char *err, size_t errlen);
/* From now on /readyz answers 503 (the node is shutting down). */
void dp_admin_set_draining(dp_admin_t *a);
/* Stops the thread. */
void dp_admin_stop(dp_admin_t *a);

#endif
