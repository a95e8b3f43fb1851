/* Private to the compiled config (config.c, router.c, tokens.c): the layout
 * of dp_config_t, the arena every config lives in, and the builders that
 * config.c calls while compiling. Everything here is freed in one go with
 * the config's arena; nothing is allocated per request. */
#ifndef DP_CONFIG_INTERNAL_H
#define DP_CONFIG_INTERNAL_H

#include "config.h"
#include "validate.h"

/* ---- arena: a list of calloc'd blocks, freed at once ---- */

typedef struct st_dp_arena_block_t dp_arena_block_t;

typedef struct st_dp_arena_t {
    /* the block being filled first; older and oversized blocks follow */
    dp_arena_block_t *blocks;
} dp_arena_t;

/* n zeroed bytes aligned for any type, or NULL when out of memory. */
void *dp_arena_alloc(dp_arena_t *a, size_t n);
/* A NUL-terminated copy of n bytes of s, or NULL. */
char *dp_arena_strndup(dp_arena_t *a, const char *s, size_t n);
void dp_arena_free(dp_arena_t *a);

/* ---- the config ---- */

/* A node of a segment trie (router.c). */
typedef struct st_dp_rnode_t dp_rnode_t;

struct st_dp_config_t {
    /* references held; the last dp_config_release frees the config */
    long refs;
    uint64_t revision;
    dp_arena_t arena;

    /* "api" or "v1/api": without slashes around it */
    const char *prefix;
    size_t prefix_len;
    /* lowercase hostnames on which the prefix may be left out */
    size_t n_domains;
    const char **domains;
    size_t *domain_lens;

    size_t n_collections;
    dp_collection_t *collections;
    size_t n_endpoints;
    dp_endpoint_t *endpoints;
    size_t n_clients;
    dp_client_t *clients;
    size_t n_profiles;
    dp_profile_t *profiles;
    size_t n_policies;
    dp_policy_t *policies;
    size_t n_tokens;
    dp_token_t *tokens;

    /* trie of collection paths, one segment per level (router.c) */
    dp_rnode_t *routes;
    /* open-addressing table of tokens by SHA-256; mask + 1 slots (tokens.c) */
    const dp_token_t **token_slots;
    size_t token_mask;
};

/* router.c. Each returns 0, or -1 with "<kind> <id>: <reason>" in err.
 * Adds a collection's path to c->routes; *root receives the trie its
 * endpoints go into. */
int dp_router_add_collection(dp_config_t *c, const dp_collection_t *col, dp_rnode_t **root,
                             char *err, size_t errlen);
/* Adds an endpoint (method and template already validated; tpl is its
 * parsed path) under the root of its collection. */
int dp_router_add_endpoint(dp_config_t *c, dp_rnode_t *root, const dp_endpoint_t *ep,
                           const cp_path_template_t *tpl, char *err, size_t errlen);

/* tokens.c: builds the SHA-256 table from c->tokens. */
int dp_tokens_build(dp_config_t *c, char *err, size_t errlen);

#endif
