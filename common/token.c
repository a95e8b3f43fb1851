/* Token generation and format checks (see ap_token.h). The checksum is
 * CRC-32 of the random part, written as 6 base62 digits, so a typo is caught
 * locally with a 1-in-4-billion miss rate. */
#include "ap_token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <zlib.h>

static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
#define RAND_CHARS 43 /* 62^43 > 2^256 */
#define SUM_CHARS 6   /* 62^6 > 2^32 */

/* Writes `n` base62 digits of the big-endian number in buf (len bytes),
 * least significant last, by repeated division. */
static void base62(unsigned char *buf, size_t len, char *out, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        unsigned rem = 0;
        for (size_t j = 0; j < len; j++) {
            unsigned cur = (rem << 8) | buf[j];
            buf[j] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        out[i] = B62[rem];
    }
}

static void checksum(const char *body, size_t len, char *out)
{
    uint32_t c = (uint32_t)crc32(0, (const unsigned char *)body, (unsigned)len);
    unsigned char be[4] = {c >> 24, c >> 16, c >> 8, c};
    base62(be, 4, out, SUM_CHARS);
}

int ap_token_generate(const char *prefix, char *out)
{
    unsigned char rnd[32];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) return -1;
    size_t pl = strlen(prefix);
    if (pl + RAND_CHARS + SUM_CHARS + 1 > AP_TOKEN_MAXLEN) return -1;
    memcpy(out, prefix, pl);
    base62(rnd, sizeof(rnd), out + pl, RAND_CHARS);
    checksum(out + pl, RAND_CHARS, out + pl + RAND_CHARS);
    out[pl + RAND_CHARS + SUM_CHARS] = '\0';
    memset(rnd, 0, sizeof(rnd));
    return 0;
}

int ap_token_check(const char *tok, const char *prefix, const char **why)
{
    size_t pl = strlen(prefix), len = strlen(tok);
    if (strncmp(tok, prefix, pl) != 0) {
        *why = "does not start with the token prefix";
        return -1;
    }
    if (len != pl + RAND_CHARS + SUM_CHARS) {
        *why = "has the wrong length (truncated or extra characters?)";
        return -1;
    }
    for (size_t i = pl; i < len; i++) {
        if (strchr(B62, tok[i]) == NULL || tok[i] == '\0') {
            *why = "contains a character that is not a letter or digit";
            return -1;
        }
    }
    char sum[SUM_CHARS];
    checksum(tok + pl, RAND_CHARS, sum);
    if (memcmp(sum, tok + pl + RAND_CHARS, SUM_CHARS) != 0) {
        *why = "fails its checksum (mistyped?)";
        return -1;
    }
    return 0;
}

void ap_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    out[64] = '\0';
}

int ap_ct_strcmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff != 0;
}
