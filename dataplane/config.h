/* A data plane's compiled configuration: everything a request needs, built
 * once from a Snapshot (proto/apiplatform/v1/sync.proto) and then read-only.
 * Requests hold a reference (dp_config_acquire) so a swap never frees a
 * config in use; the last release frees it. */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "apiplatform/v1/sync.pb-c.h"

#define DP_MAX_PARAMS 16

typedef struct st_dp_collection_t {
    const char *id;
    const char *name;
    /* URL path, e.g. "sales-api-v1" (may hold '/') */
    const char *path;
    int active;
} dp_collection_t;

typedef enum { DP_TARGET_UPSTREAM = 1, DP_TARGET_STATIC = 2 } dp_target_kind_t;

typedef struct st_dp_endpoint_t {
    const char *id;
    const char *name;
    const dp_collection_t *collection;
    /* uppercase: "GET" */
    const char *method;
    /* the template as configured: "/orders/{id}" */
    const char *path;
    /* names of the {params}, in order of appearance */
    size_t n_params;
    const char *params[DP_MAX_PARAMS];
    int active;
    uint32_t timeout_ms;
    uint32_t cache_ttl_seconds;
    dp_target_kind_t target;
    /* upstream: "http" or "https", host, port, and the path+query template
     * ("/orders/{id}?x=1"; "/" when the URL has none) */
    const char *up_scheme;
    const char *up_host;
    uint16_t up_port;
    const char *up_path;
    /* static */
    uint32_t static_status;
    const char *static_content_type;
    const uint8_t *static_body;
    size_t static_body_len;
} dp_endpoint_t;

typedef struct st_dp_client_t {
    const char *id;
    const char *name;
    int enabled;
} dp_client_t;

typedef struct st_dp_policy_t {
    const char *id;
    const char *name;
    /* 0 = none; per second/minute/hour as window seconds 1/60/3600 */
    uint64_t rate_count;
    uint32_t rate_window;
    /* its draft-11 RateLimit-Policy item and name ("minute"), made once */
    const char *rate_name;
    uint8_t rate_name_len;
    char rate_policy[64];
    uint8_t rate_policy_len;
    /* 0 = none; period 1 day, 2 week, 3 month (calendar, UTC) */
    uint64_t quota_count;
    int quota_period;
} dp_policy_t;

/* An IP allow-list entry: family AF_INET or AF_INET6, address, prefix bits. */
typedef struct st_dp_cidr_t {
    int family;
    uint8_t addr[16];
    uint8_t bits;
} dp_cidr_t;

typedef struct st_dp_profile_t {
    const char *id;
    /* ap_hash_str(id), for the rate limiter's and the quota's tables */
    uint32_t id_hash;
    const char *name;
    const dp_client_t *client;
    size_t n_collections;
    const dp_collection_t **collections;
    /* NULL = no limits */
    const dp_policy_t *policy;
    /* empty = any address */
    size_t n_ip_allow;
    dp_cidr_t *ip_allow;
    int enabled;
} dp_profile_t;

typedef struct st_dp_token_t {
    const char *id;
    /* SHA-256 of the secret, raw */
    uint8_t sha256[32];
    const dp_profile_t *profile;
    /* unix seconds; 0 = never */
    int64_t expire_time;
    int64_t revoke_time;
} dp_token_t;

typedef struct st_dp_config_t dp_config_t;

/* Builds a config from a snapshot at `revision`. Refuses (NULL, reason in
 * err) anything a request could trip on: unparsable templates or upstream
 * URLs, dangling references, duplicate ids or routes, bad CIDRs. The result
 * holds one reference. It copies what it needs: snap may be freed after. */
dp_config_t *dp_config_compile(const Apiplatform__V1__Snapshot *snap, uint64_t revision, char *err,
                               size_t errlen);
uint64_t dp_config_revision(const dp_config_t *c);

/* Reference counting (thread-safe). */
dp_config_t *dp_config_retain(dp_config_t *c);
void dp_config_release(dp_config_t *c);

typedef enum {
    DP_ROUTE_OK = 0,
    DP_ROUTE_NOT_FOUND,    /* 404 */
    DP_ROUTE_WRONG_METHOD, /* 405: see allow */
} dp_route_result_t;

typedef struct st_dp_match_t {
    const dp_endpoint_t *endpoint;
    /* captured values of endpoint->params, pointing into the request path */
    size_t n_values;
    const char *values[DP_MAX_PARAMS];
    size_t value_lens[DP_MAX_PARAMS];
} dp_match_t;

/* Routes a request. host (without port, any case) decides whether the API
 * prefix is required: on a custom domain it may be omitted; elsewhere the
 * path must be /{api_prefix}/{collection_path}/{endpoint_path}. path is
 * without the query string. On DP_ROUTE_WRONG_METHOD, allow receives the
 * methods that would match, comma-separated ("GET, POST"). */
dp_route_result_t dp_config_route(const dp_config_t *c, const char *host, size_t host_len,
                                  const char *method, size_t method_len, const char *path,
                                  size_t path_len, dp_match_t *m, char *allow, size_t allow_len);

/* The token whose SHA-256 is sha256, or NULL. */
const dp_token_t *dp_config_token(const dp_config_t *c, const uint8_t sha256[32]);

/* Whether the profile lists the collection. */
int dp_profile_has_collection(const dp_profile_t *p, const dp_collection_t *col);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a plain address; 0 or -1. */
int dp_cidr_parse(const char *s, dp_cidr_t *out);
/* Whether addr (AF_INET or AF_INET6; v4-mapped v6 counts as v4) is in one of
 * the n ranges. */
int dp_cidr_contains(const dp_cidr_t *list, size_t n, const struct sockaddr *addr);
/* Whether addr (AF_INET or AF_INET6; v4-mapped v6 counts as v4) is allowed. */
int dp_profile_allows(const dp_profile_t *p, const struct sockaddr *addr);

/* The config the node serves now (global, swapped atomically). Acquire
 * returns it with a reference the caller releases, or NULL before the first
 * config. Set takes over the caller's reference to c and drops the old one. */
dp_config_t *dp_current_acquire(void);
void dp_current_set(dp_config_t *c);

#endif
