/* The token table: every token of a config by the SHA-256 of its secret, in
 * an open-addressing table (linear probing, at most half full) so a lookup
 * is one hash slot and a few 32-byte compares. The key is already a
 * cryptographic hash, so its first 8 bytes serve as the slot hash; callers
 * can steer which slot they probe but not what the control plane put in the
 * table, so probe runs stay short. */
#include "config_internal.h"

#include <stdio.h>
#include <string.h>

static size_t slot_of(const uint8_t sha256[32], size_t mask)
{
    uint64_t h;
    memcpy(&h, sha256, sizeof(h));
    return (size_t)h & mask;
}

int dp_tokens_build(dp_config_t *c, char *err, size_t errlen)
{
    size_t cap = 16;
    while (cap < c->n_tokens * 2)
        cap <<= 1;
    c->token_slots = dp_arena_alloc(&c->arena, cap * sizeof(*c->token_slots));
    if (c->token_slots == NULL) {
        snprintf(err, errlen, "out of memory compiling the snapshot");
        return -1;
    }
    c->token_mask = cap - 1;
    for (size_t i = 0; i < c->n_tokens; i++) {
        const dp_token_t *t = &c->tokens[i];
        size_t s = slot_of(t->sha256, c->token_mask);
        for (; c->token_slots[s] != NULL; s = (s + 1) & c->token_mask) {
            if (memcmp(c->token_slots[s]->sha256, t->sha256, 32) == 0) {
                snprintf(err, errlen, "token %s: same sha256 as token %s", t->id,
                         c->token_slots[s]->id);
                return -1;
            }
        }
        c->token_slots[s] = t;
    }
    return 0;
}

const dp_token_t *dp_config_token(const dp_config_t *c, const uint8_t sha256[32])
{
    if (c == NULL || c->token_slots == NULL) return NULL;
    for (size_t s = slot_of(sha256, c->token_mask); c->token_slots[s] != NULL;
         s = (s + 1) & c->token_mask)
        if (memcmp(c->token_slots[s]->sha256, sha256, 32) == 0) return c->token_slots[s];
    return NULL;
}
