/* Temporary stores for the unit tests (see tmpstore.h). */
#define _GNU_SOURCE /* nftw */
#include "tmpstore.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

cp_store_t *tmpstore_open(const char *suite, char dir[TMPSTORE_DIR_MAX])
{
    const char *base = getenv("TEST_TMPDIR");
    snprintf(dir, TMPSTORE_DIR_MAX, "%s/%s.XXXXXX", base && *base ? base : "/tmp", suite);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
    char *err = NULL;
    cp_store_t *s = cp_store_open(dir, 0, &err);
    cr_assert_not_null(s, "cp_store_open(%s): %s", dir, err ? err : "(no error)");
    return s;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

void tmpstore_remove(cp_store_t *s, const char *dir)
{
    cp_store_close(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_one(void *ctx, const char *k, size_t kl, const char *v, size_t vl)
{
    (*(size_t *)ctx)++;
    return 0;
}

size_t tmpstore_count(cp_store_t *s, const char *prefix)
{
    size_t n = 0;
    cp_store_scan(s, prefix, NULL, count_one, &n);
    return n;
}
