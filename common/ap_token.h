/* API and admin token format. A token is `<kind>_` + 43 base62 characters
 * (256 bits from the OS CSPRNG) + 6 base62 characters of CRC-32 over the
 * random part, so secret scanners can match it and apictl can tell a
 * mistyped token from a revoked one without asking the server. Only the
 * SHA-256 of a token is ever stored. */
#ifndef AP_TOKEN_H
#define AP_TOKEN_H

#include <stddef.h>

#define AP_TOKEN_API_PREFIX "apt_"   /* API tokens callers present */
#define AP_TOKEN_ADMIN_PREFIX "apa_" /* admin tokens apictl presents */
#define AP_TOKEN_NODE_PREFIX "apn_"  /* node tokens data planes present */
#define AP_TOKEN_MAXLEN 64
#define AP_TOKEN_DISPLAY_LEN 12 /* characters of the secret shown in lists */

/* Makes a new token with the given prefix into out (AP_TOKEN_MAXLEN bytes).
 * Returns 0, or -1 if the CSPRNG failed. */
int ap_token_generate(const char *prefix, char *out);
/* 0 if `tok` has the prefix, length, alphabet and checksum of a token;
 * -1 with a reason otherwise. */
int ap_token_check(const char *tok, const char *prefix, const char **why);
/* Lowercase hex SHA-256 of `len` bytes into out (65 bytes). */
void ap_sha256_hex(const void *data, size_t len, char *out);
/* Constant-time comparison of two equal-length strings; 0 when equal. */
int ap_ct_strcmp(const char *a, const char *b);

#endif
