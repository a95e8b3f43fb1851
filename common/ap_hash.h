/* FNV-1a (32 bits) over strings, for in-memory hash tables: a data plane's
 * per-profile tables (a profile's hash is computed once when its config is
 * compiled) and the control plane's usage rows. Header only. */
#ifndef AP_HASH_H
#define AP_HASH_H

#include <stdint.h>

#define AP_HASH_INIT 2166136261u

/* h continued over the bytes of s (start from AP_HASH_INIT). */
static inline uint32_t ap_hash_more(uint32_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static inline uint32_t ap_hash_str(const char *s)
{
    return ap_hash_more(AP_HASH_INIT, s);
}

#endif
