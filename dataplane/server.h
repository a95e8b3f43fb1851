/* The data plane's HTTP server: one shared read-only h2o configuration, and
 * per thread an h2o event loop with its own context and its own
 * SO_REUSEPORT socket on every listener (plain HTTP/1.1 + h2c, or TLS with
 * ALPN h2 / http/1.1). Stopping stops accepting, lets in-flight requests
 * finish for a grace period, and joins the threads. */
#ifndef DP_SERVER_H
#define DP_SERVER_H

#include <stddef.h>

#include "handler.h"

typedef struct st_dp_server_opts_t {
    /* "127.0.0.1:8080", "[::1]:8080", ":8080" (all IPv4 addresses); port 0 picks one */
    const char *const *listen;
    size_t n_listen;
    /* the same, served with TLS (tls_cert and tls_key required) */
    const char *const *tls_listen;
    size_t n_tls_listen;
    const char *tls_cert;
    const char *tls_key;
    /* event loops (threads), >= 1 */
    size_t threads;
    dp_handler_opts_t handler;
    /* access log fd (dp_accesslog_open) */
    int access_log_fd;
} dp_server_opts_t;

typedef struct st_dp_server_t dp_server_t;

/* Configures h2o and binds every listener (so a busy port fails here).
 * Returns NULL with a reason in err. */
dp_server_t *dp_server_new(const dp_server_opts_t *o, char *err, size_t errlen);
/* The listeners as bound ("127.0.0.1:41234"), with *is_tls; NULL past the end. */
const char *dp_server_listener(const dp_server_t *s, size_t i, int *is_tls);
/* Starts the threads; returns once every loop accepts. */
int dp_server_start(dp_server_t *s, char *err, size_t errlen);
/* Closes the listeners, waits up to grace_ms for in-flight requests, and
 * joins the threads. */
void dp_server_stop(dp_server_t *s, int grace_ms);

/* Binds n listening sockets to addr (SO_REUSEPORT when n > 1; all on the
 * same port, the one the kernel picked if addr's port is 0) into fds, and
 * writes the bound address to bound. Returns 0, or -1 with a reason in err.
 * Shared with the admin listener. */
int dp_listen(const char *addr, size_t n, int *fds, char *bound, size_t boundlen, char *err,
              size_t errlen);

#endif
