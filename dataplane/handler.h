/* The API request handler: every call to the gateway goes through it. It
 * enforces in the order of DESIGN.md (config -> route -> token -> client,
 * profile, collection, endpoint state -> IP allow list -> limits) and then
 * answers from a static target or proxies to the endpoint's upstream. A
 * response filter registered with it stamps X-Request-Id on every response
 * and turns h2o's own errors (its 413, the proxy's 502 and timeouts) into
 * problem+json. */
#ifndef DP_HANDLER_H
#define DP_HANDLER_H

#include <h2o.h>
#include <stdint.h>

#include "config.h"

/* One header (name + value) larger than this is refused with 431. */
#define DP_MAX_HEADER_LINE (16 * 1024)

typedef struct st_dp_handler_opts_t {
    /* all headers plus the URL, bytes (431 above) */
    size_t max_header_bytes;
    /* request body, bytes (413 above; bodies h2o buffers beyond its own
     * max_request_entity_size never reach the handler, see server.c) */
    size_t max_body_bytes;
    /* proxies whose X-Forwarded-For is believed: the caller is the rightmost
     * address in it that is not one of these (none = the peer, always) */
    const dp_cidr_t *trusted_proxies;
    size_t n_trusted_proxies;
} dp_handler_opts_t;

/* What the gateway learned about one request, for the response filter and
 * the access log. Lives in req->pool, linked into req->prefilters. */
typedef struct st_dp_reqstate_t {
    /* the link into req->prefilters (passes through; the filter finds the
     * state by its callback) */
    h2o_req_prefilter_t super;
    /* 32 hex characters, new for every request (never taken from the caller) */
    char request_id[33];
    /* the config the request runs on, released when the request's pool is
     * cleared (so in-flight requests finish on their config) */
    dp_config_t *config;
    /* what routing and the token resolved to (NULL until known) */
    const dp_endpoint_t *endpoint;
    const dp_token_t *token;
    /* the stable code: "ok", or the problem's code */
    const char *code;
    /* the handler answered itself (problem or static target) */
    unsigned answered : 1;
    /* handed to the upstream proxy */
    unsigned proxied : 1;
    /* counted in dp_handler_inflight */
    unsigned counted : 1;
    /* CLOCK_MONOTONIC ns: proxy started, upstream answered (or failed) */
    uint64_t upstream_start_ns;
    uint64_t upstream_done_ns;
    /* IETF draft-11 RateLimit-Policy and RateLimit values for the response
     * (length 0 when the profile has no rate limit or quota; both items when
     * it has both, comma-separated; not NUL-terminated) */
    char ratelimit_policy[128];
    char ratelimit[128];
    uint8_t ratelimit_policy_len, ratelimit_len;
} dp_reqstate_t;

/* Registers the handler and its response filter on pathconf. Returns 0, or
 * -1 with a reason in err (the TLS client context for https upstreams). */
int dp_handler_register(h2o_pathconf_t *pathconf, const dp_handler_opts_t *opts, char *err,
                        size_t errlen);

/* The state of req, or NULL if the handler has not seen it (errors h2o
 * answered before the handler ran). */
dp_reqstate_t *dp_reqstate_get(h2o_req_t *req);

/* Requests the handler accepted and that are not finished yet (all threads);
 * graceful shutdown waits for it to reach 0. */
size_t dp_handler_inflight(void);

#endif
