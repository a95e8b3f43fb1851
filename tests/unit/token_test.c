/* Unit tests of common/token.c: the token format (prefix, 43 random and 6
 * checksum base62 characters), local format checks that catch typos,
 * SHA-256 hex against a published vector, and the constant-time compare. */
#include "ap_token.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define BODY 43
#define SUM 6
static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void gen(const char *prefix, char *out)
{
    memset(out, 0, AP_TOKEN_MAXLEN);
    cr_assert_eq(ap_token_generate(prefix, out), 0);
}

/* The next base62 character after c (wrapping), so a replacement always
 * differs from the original and stays in the alphabet. */
static char other(char c)
{
    const char *p = strchr(B62, c);
    cr_assert_not_null(p);
    return B62[(p - B62 + 1) % 62];
}

Test(token, generate_has_prefix_length_and_alphabet)
{
    char t[AP_TOKEN_MAXLEN];
    gen(AP_TOKEN_API_PREFIX, t);
    cr_assert_eq(strlen(t), 4 + BODY + SUM, "length %zu: %s", strlen(t), t);
    cr_expect(strncmp(t, "apt_", 4) == 0, "%s", t);
    for (size_t i = 4; i < strlen(t); i++)
        cr_expect_not_null(strchr(B62, t[i]), "char %zu '%c' not base62 in %s", i, t[i], t);

    gen(AP_TOKEN_ADMIN_PREFIX, t);
    cr_assert_eq(strlen(t), 4 + BODY + SUM);
    cr_expect(strncmp(t, "apa_", 4) == 0, "%s", t);
}

Test(token, generate_refuses_a_prefix_that_does_not_fit)
{
    char t[AP_TOKEN_MAXLEN];
    /* 64 - 43 - 6 - 1 = 14 characters of prefix fit */
    cr_expect_eq(ap_token_generate("abcdefghijklm_", t), 0);
    cr_expect_eq(strlen(t), AP_TOKEN_MAXLEN - 1);
    cr_expect_eq(ap_token_generate("abcdefghijklmn_", t), -1);
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(token, generated_tokens_are_unique_and_use_the_whole_alphabet)
{
    enum { N = 2000 };
    char **all = malloc(N * sizeof(char *));
    int seen[256] = {0};
    for (int i = 0; i < N; i++) {
        all[i] = malloc(AP_TOKEN_MAXLEN);
        gen(AP_TOKEN_API_PREFIX, all[i]);
        for (size_t j = 4; j < 4 + BODY; j++)
            seen[(unsigned char)all[i][j]]++;
    }
    qsort(all, N, sizeof(char *), cmp);
    for (int i = 1; i < N; i++)
        cr_expect_str_neq(all[i - 1], all[i], "duplicate token");
    /* 2000 * 43 random characters: every base62 digit shows up */
    for (size_t c = 0; c < 62; c++)
        cr_expect_gt(seen[(unsigned char)B62[c]], 0, "'%c' never generated", B62[c]);
    for (int i = 0; i < N; i++)
        free(all[i]);
    free(all);
}

Test(token, check_accepts_generated_tokens)
{
    const char *why = NULL;
    char t[AP_TOKEN_MAXLEN];
    for (int i = 0; i < 200; i++) {
        gen(AP_TOKEN_API_PREFIX, t);
        cr_assert_eq(ap_token_check(t, AP_TOKEN_API_PREFIX, &why), 0, "%s: %s", t, why);
    }
    gen(AP_TOKEN_ADMIN_PREFIX, t);
    cr_expect_eq(ap_token_check(t, AP_TOKEN_ADMIN_PREFIX, &why), 0, "%s: %s", t, why);
}

Test(token, check_rejects_any_changed_character)
{
    char t[AP_TOKEN_MAXLEN], bad[AP_TOKEN_MAXLEN];
    gen(AP_TOKEN_API_PREFIX, t);
    for (size_t i = 4; i < strlen(t); i++) {
        const char *why = NULL;
        strcpy(bad, t);
        bad[i] = other(bad[i]);
        cr_expect_eq(ap_token_check(bad, AP_TOKEN_API_PREFIX, &why), -1,
                     "changed char %zu accepted: %s", i, bad);
        cr_expect_not_null(why);
        if (why != NULL)
            cr_expect(strstr(why, "checksum") != NULL, "why: %s", why);
    }
}

Test(token, check_rejects_swapped_characters)
{
    char t[AP_TOKEN_MAXLEN];
    const char *why = NULL;
    /* find two adjacent differing characters of the random part and swap them */
    for (int tries = 0; tries < 10; tries++) {
        gen(AP_TOKEN_API_PREFIX, t);
        for (size_t i = 4; i + 1 < 4 + BODY; i++) {
            if (t[i] != t[i + 1]) {
                char c = t[i];
                t[i] = t[i + 1];
                t[i + 1] = c;
                cr_expect_eq(ap_token_check(t, AP_TOKEN_API_PREFIX, &why), -1, "%s", t);
                return;
            }
        }
    }
    cr_assert_fail("no two differing adjacent characters in 10 tokens");
}

Test(token, check_rejects_truncated_and_extended)
{
    char t[AP_TOKEN_MAXLEN + 1], bad[AP_TOKEN_MAXLEN + 1];
    const char *why = NULL;
    gen(AP_TOKEN_API_PREFIX, t);
    strcpy(bad, t);
    bad[strlen(bad) - 1] = '\0';
    cr_expect_eq(ap_token_check(bad, AP_TOKEN_API_PREFIX, &why), -1);
    cr_expect(why != NULL && strstr(why, "length") != NULL, "why: %s", why ? why : "(null)");
    bad[4] = '\0';
    cr_expect_eq(ap_token_check(bad, AP_TOKEN_API_PREFIX, &why), -1);
    cr_expect_eq(ap_token_check("", AP_TOKEN_API_PREFIX, &why), -1);
    cr_expect_eq(ap_token_check("apt", AP_TOKEN_API_PREFIX, &why), -1);
    strcpy(bad, t);
    strcat(bad, "A");
    cr_expect_eq(ap_token_check(bad, AP_TOKEN_API_PREFIX, &why), -1);
}

Test(token, check_rejects_wrong_prefix)
{
    char t[AP_TOKEN_MAXLEN];
    const char *why = NULL;
    gen(AP_TOKEN_API_PREFIX, t);
    cr_expect_eq(ap_token_check(t, AP_TOKEN_ADMIN_PREFIX, &why), -1);
    cr_expect(why != NULL && strstr(why, "prefix") != NULL, "why: %s", why ? why : "(null)");
    t[0] = 'A';
    cr_expect_eq(ap_token_check(t, AP_TOKEN_API_PREFIX, &why), -1);
    cr_expect(why != NULL && strstr(why, "prefix") != NULL, "why: %s", why ? why : "(null)");
}

Test(token, check_rejects_characters_outside_base62)
{
    static const char bads[] = {'-', '_', '+', '/', '=', ' ', '.', '\x80'};
    char t[AP_TOKEN_MAXLEN], bad[AP_TOKEN_MAXLEN];
    gen(AP_TOKEN_API_PREFIX, t);
    for (size_t k = 0; k < sizeof(bads); k++) {
        for (size_t i = 4; i < strlen(t); i += 11) {
            const char *why = NULL;
            strcpy(bad, t);
            bad[i] = bads[k];
            cr_expect_eq(ap_token_check(bad, AP_TOKEN_API_PREFIX, &why), -1, "%s", bad);
            cr_expect(why != NULL && strstr(why, "letter or digit") != NULL, "why: %s",
                      why ? why : "(null)");
        }
    }
}

Test(sha256, known_vectors)
{
    char out[65];
    memset(out, 'x', sizeof(out));
    ap_sha256_hex("abc", 3, out);
    cr_expect_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ap_sha256_hex("", 0, out);
    cr_expect_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* len is honoured: bytes after it do not count */
    ap_sha256_hex("abcdef", 3, out);
    cr_expect_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(ct_strcmp, equal_and_different)
{
    cr_expect_eq(ap_ct_strcmp("", ""), 0);
    cr_expect_eq(ap_ct_strcmp("secret", "secret"), 0);
    cr_expect_neq(ap_ct_strcmp("secret", "secreT"), 0);
    cr_expect_neq(ap_ct_strcmp("secret", "Secret"), 0);
    cr_expect_neq(ap_ct_strcmp("secret", "secret2"), 0);
    cr_expect_neq(ap_ct_strcmp("secret2", "secret"), 0);
    cr_expect_neq(ap_ct_strcmp("", "a"), 0);
    cr_expect_neq(ap_ct_strcmp("a", ""), 0);

    char a[65], b[65];
    ap_sha256_hex("x", 1, a);
    strcpy(b, a);
    cr_expect_eq(ap_ct_strcmp(a, b), 0);
    b[63] ^= 1;
    cr_expect_neq(ap_ct_strcmp(a, b), 0);
}
