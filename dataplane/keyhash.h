/* The hash the node's per-profile tables use (FNV-1a, 32 bits). A profile's
 * is computed once when its config is compiled, so a request does not hash
 * the profile id again for the rate limiter and again for the quota. */
#ifndef DP_KEYHASH_H
#define DP_KEYHASH_H

#include <stdint.h>

static inline uint32_t dp_key_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

#endif
