/* Unit tests of controlplane/store.c over a real RocksDB in a fresh temporary
 * directory per test: revisions, the change log written with every commit,
 * transactions that are all-or-nothing, prefix scans, and reopening. */
#define _GNU_SOURCE /* nftw */
#include "store.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];
static cp_store_t *s;

static cp_store_t *open_store(void)
{
    char *err = NULL;
    cp_store_t *st = cp_store_open(dir, 0, &err);
    cr_assert_not_null(st, "cp_store_open(%s): %s", dir, err ? err : "(no error)");
    return st;
}

static void setup(void)
{
    const char *base = getenv("TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/store_test.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
    s = open_store();
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void teardown(void)
{
    cp_store_close(s);
    s = NULL;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

/* The value under key as a NUL-terminated string (malloc'd), or NULL. */
static char *get(const char *key)
{
    size_t len = 0;
    char *v = cp_store_get(s, key, &len);
    if (v == NULL)
        return NULL;
    char *z = malloc(len + 1);
    memcpy(z, v, len);
    z[len] = '\0';
    free(v);
    return z;
}

#define EXPECT_VALUE(key, want)                                                                    \
    do {                                                                                           \
        char *v_ = get(key);                                                                       \
        cr_expect_not_null(v_, "%s is missing", key);                                              \
        if (v_ != NULL)                                                                            \
            cr_expect_str_eq(v_, want, "%s", key);                                                 \
        free(v_);                                                                                  \
    } while (0)

#define EXPECT_ABSENT(key)                                                                         \
    do {                                                                                           \
        char *v_ = get(key);                                                                       \
        cr_expect_null(v_, "%s is present (\"%s\")", key, v_ ? v_ : "");                           \
        free(v_);                                                                                  \
    } while (0)

static void put(cp_txn_t *t, const char *key, const char *val)
{
    cp_txn_put(t, key, val, strlen(val));
}

static uint64_t commit(cp_txn_t *t)
{
    char *err = NULL;
    uint64_t rev = cp_txn_commit(t, &err);
    cr_assert_neq(rev, 0, "commit failed: %s", err ? err : "(no error)");
    cr_assert_null(err);
    return rev;
}

static Apiplatform__V1__ChangeSet *changeset(uint64_t rev)
{
    char key[32];
    snprintf(key, sizeof(key), "l/%016" PRIx64, rev);
    return (Apiplatform__V1__ChangeSet *)cp_store_get_msg(s, key,
                                                          &apiplatform__v1__change_set__descriptor);
}

Test(store, new_store_is_at_revision_zero)
{
    cr_expect_eq(cp_store_revision(s), 0);
    EXPECT_ABSENT("m/revision");
    EXPECT_ABSENT("l/0000000000000001");
    size_t len = 123;
    cr_expect_null(cp_store_get(s, "r/collection/nope", &len));
    cr_expect_null(cp_store_get_msg(s, "r/collection/nope", &apiplatform__v1__collection__descriptor));
}

Test(store, each_commit_bumps_the_revision_by_one)
{
    for (uint64_t want = 1; want <= 5; want++) {
        cp_txn_t *t = cp_txn_begin(s, "tester");
        cr_expect_eq(cp_txn_revision(t), want);
        put(t, "r/x/a", "v");
        cr_expect_eq(commit(t), want);
        cr_expect_eq(cp_store_revision(s), want);
    }
    /* m/revision holds it big-endian */
    size_t len = 0;
    char *v = cp_store_get(s, "m/revision", &len);
    cr_assert_not_null(v);
    cr_assert_eq(len, 8);
    static const unsigned char five[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    cr_expect(memcmp(v, five, 8) == 0);
    free(v);
}

Test(store, commit_writes_a_changeset_under_its_revision)
{
    cp_txn_t *t = cp_txn_begin(s, "admin:alice");
    put(t, "r/collection/col_1", "packed");
    cp_txn_change(t, "collection", "col_1", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    cp_txn_change(t, "endpoint", "ep_9", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE);
    Apiplatform__V1__Change *const *pending;
    cr_expect_eq(cp_txn_changes(t, &pending), 2);
    cr_expect_str_eq(pending[1]->id, "ep_9");
    cr_assert_eq(commit(t), 1);

    Apiplatform__V1__ChangeSet *cs = changeset(1);
    cr_assert_not_null(cs, "no ChangeSet at l/0000000000000001");
    cr_expect_eq(cs->revision, 1);
    cr_expect_str_eq(cs->actor, "admin:alice");
    cr_expect_gt(cs->time, 0);
    cr_assert_eq(cs->n_changes, 2);
    cr_expect_str_eq(cs->changes[0]->kind, "collection");
    cr_expect_str_eq(cs->changes[0]->id, "col_1");
    cr_expect_eq(cs->changes[0]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    cr_expect_str_eq(cs->changes[1]->kind, "endpoint");
    cr_expect_str_eq(cs->changes[1]->id, "ep_9");
    cr_expect_eq(cs->changes[1]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_DELETE);
    protobuf_c_message_free_unpacked(&cs->base, NULL);

    /* the next one gets its own entry; a NULL actor is stored as "" */
    t = cp_txn_begin(s, NULL);
    cp_txn_change(t, "client", "cli_2", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    cr_assert_eq(commit(t), 2);
    cs = changeset(2);
    cr_assert_not_null(cs, "no ChangeSet at l/0000000000000002");
    cr_expect_eq(cs->revision, 2);
    cr_expect_str_eq(cs->actor, "");
    cr_assert_eq(cs->n_changes, 1);
    cr_expect_str_eq(cs->changes[0]->id, "cli_2");
    cr_expect_eq(cs->changes[0]->op, APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_UPDATE);
    protobuf_c_message_free_unpacked(&cs->base, NULL);

    /* the first is untouched */
    cs = changeset(1);
    cr_assert_not_null(cs);
    cr_expect_eq(cs->n_changes, 2);
    protobuf_c_message_free_unpacked(&cs->base, NULL);
}

Test(store, changeset_keys_are_hex_and_sort_by_revision)
{
    for (int i = 0; i < 17; i++) {
        cp_txn_t *t = cp_txn_begin(s, "a");
        commit(t);
    }
    EXPECT_ABSENT("l/0000000000000000");
    cr_expect_null(get("l/0000000000000017"), "revision 17 written in decimal");
    char *v = get("l/0000000000000011");
    cr_expect_not_null(v, "revision 17 not at l/0000000000000011");
    free(v);
    v = get("l/000000000000000a");
    cr_expect_not_null(v, "revision 10 not at l/000000000000000a (lowercase hex)");
    free(v);
}

Test(store, nothing_is_visible_before_commit)
{
    cp_txn_t *t = cp_txn_begin(s, "a");
    put(t, "r/x/a", "1");
    cp_txn_change(t, "x", "a", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    EXPECT_ABSENT("r/x/a");
    cr_expect_eq(cp_store_revision(s), 0);
    commit(t);
    EXPECT_VALUE("r/x/a", "1");
}

Test(store, aborted_txn_changes_nothing)
{
    cp_txn_t *t = cp_txn_begin(s, "a");
    put(t, "r/x/keep", "k");
    commit(t);

    t = cp_txn_begin(s, "b");
    cr_expect_eq(cp_txn_revision(t), 2);
    put(t, "r/x/new", "n");
    put(t, "r/x/keep", "overwritten");
    cp_txn_del(t, "r/x/keep");
    cp_txn_change(t, "x", "new", APIPLATFORM__V1__CHANGE_OP__CHANGE_OP_CREATE);
    cp_txn_abort(t);

    cr_expect_eq(cp_store_revision(s), 1);
    EXPECT_ABSENT("r/x/new");
    EXPECT_VALUE("r/x/keep", "k");
    EXPECT_ABSENT("l/0000000000000002");

    /* the revision it would have had is used by the next commit */
    t = cp_txn_begin(s, "c");
    cr_expect_eq(cp_txn_revision(t), 2);
    cr_expect_eq(commit(t), 2);
    Apiplatform__V1__ChangeSet *cs = changeset(2);
    cr_assert_not_null(cs);
    cr_expect_str_eq(cs->actor, "c");
    cr_expect_eq(cs->n_changes, 0);
    protobuf_c_message_free_unpacked(&cs->base, NULL);
}

Test(store, puts_and_deletes_in_one_txn_land_together)
{
    cp_txn_t *t = cp_txn_begin(s, "a");
    put(t, "r/x/a", "a1");
    put(t, "r/x/b", "b1");
    commit(t);

    t = cp_txn_begin(s, "a");
    cp_txn_del(t, "r/x/a");
    put(t, "r/x/b", "b2");
    put(t, "r/x/c", "c1");
    /* later operations in the batch win */
    put(t, "r/x/d", "d1");
    cp_txn_del(t, "r/x/d");
    put(t, "r/x/e", "e1");
    put(t, "r/x/e", "e2");
    /* still the old state until commit */
    EXPECT_VALUE("r/x/a", "a1");
    EXPECT_VALUE("r/x/b", "b1");
    EXPECT_ABSENT("r/x/c");
    cr_expect_eq(commit(t), 2);

    EXPECT_ABSENT("r/x/a");
    EXPECT_VALUE("r/x/b", "b2");
    EXPECT_VALUE("r/x/c", "c1");
    EXPECT_ABSENT("r/x/d");
    EXPECT_VALUE("r/x/e", "e2");
}

Test(store, put_msg_round_trips)
{
    Apiplatform__V1__Collection c = APIPLATFORM__V1__COLLECTION__INIT;
    c.id = "col_1";
    c.name = "Sales API";
    c.revision = 7;
    cp_txn_t *t = cp_txn_begin(s, "a");
    cp_txn_put_msg(t, "r/collection/col_1", &c.base);
    /* an all-default message packs to zero bytes and is still stored */
    Apiplatform__V1__Client empty = APIPLATFORM__V1__CLIENT__INIT;
    cp_txn_put_msg(t, "r/client/cli_1", &empty.base);
    commit(t);

    Apiplatform__V1__Collection *got = (Apiplatform__V1__Collection *)cp_store_get_msg(
        s, "r/collection/col_1", &apiplatform__v1__collection__descriptor);
    cr_assert_not_null(got);
    cr_expect_str_eq(got->id, "col_1");
    cr_expect_str_eq(got->name, "Sales API");
    cr_expect_eq(got->revision, 7);
    protobuf_c_message_free_unpacked(&got->base, NULL);

    Apiplatform__V1__Client *cl = (Apiplatform__V1__Client *)cp_store_get_msg(
        s, "r/client/cli_1", &apiplatform__v1__client__descriptor);
    cr_expect_not_null(cl, "empty message not readable");
    if (cl)
        protobuf_c_message_free_unpacked(&cl->base, NULL);
}

/* ---- scans ---- */

typedef struct {
    char keys[16][64];
    char vals[16][64];
    size_t n, stop_at;
} seen_t;

static int on_key(void *ctx, const char *key, size_t kl, const char *val, size_t vl)
{
    seen_t *sn = ctx;
    cr_assert_lt(sn->n, 16);
    cr_assert_lt(kl, 64);
    cr_assert_lt(vl, 64);
    memcpy(sn->keys[sn->n], key, kl);
    sn->keys[sn->n][kl] = '\0';
    memcpy(sn->vals[sn->n], val, vl);
    sn->vals[sn->n][vl] = '\0';
    sn->n++;
    return sn->stop_at != 0 && sn->n == sn->stop_at;
}

static void fill(void)
{
    static const char *const keys[] = {"r/a/3", "r/a/1", "r/b/1", "r/a/2", "r/ab", "r/", "q/a/0"};
    cp_txn_t *t = cp_txn_begin(s, "a");
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        put(t, keys[i], keys[i] + 2);
    commit(t);
}

static seen_t scan(const char *prefix, const char *start_after, size_t stop_at)
{
    seen_t sn;
    memset(&sn, 0, sizeof(sn));
    sn.stop_at = stop_at;
    cp_store_scan(s, prefix, start_after, on_key, &sn);
    return sn;
}

Test(store, scan_visits_the_prefix_in_key_order)
{
    fill();
    seen_t sn = scan("r/a/", NULL, 0);
    cr_assert_eq(sn.n, 3);
    cr_expect_str_eq(sn.keys[0], "r/a/1");
    cr_expect_str_eq(sn.keys[1], "r/a/2");
    cr_expect_str_eq(sn.keys[2], "r/a/3");
    cr_expect_str_eq(sn.vals[2], "a/3");

    sn = scan("r/a/", "", 0);
    cr_expect_eq(sn.n, 3, "empty start_after means from the first");

    sn = scan("r/b/", NULL, 0);
    cr_assert_eq(sn.n, 1);
    cr_expect_str_eq(sn.keys[0], "r/b/1");

    sn = scan("r/c/", NULL, 0);
    cr_expect_eq(sn.n, 0);

    sn = scan("r/a", NULL, 0);
    cr_expect_eq(sn.n, 4, "\"r/a\" covers r/a/1..3 and r/ab");
}

Test(store, scan_starts_after_the_given_key)
{
    fill();
    seen_t sn = scan("r/a/", "r/a/1", 0);
    cr_assert_eq(sn.n, 2);
    cr_expect_str_eq(sn.keys[0], "r/a/2");
    cr_expect_str_eq(sn.keys[1], "r/a/3");

    sn = scan("r/a/", "r/a/2", 0);
    cr_assert_eq(sn.n, 1);
    cr_expect_str_eq(sn.keys[0], "r/a/3");

    sn = scan("r/a/", "r/a/3", 0);
    cr_expect_eq(sn.n, 0);

    /* a key that is not stored: the scan goes on from where it would be */
    sn = scan("r/a/", "r/a/15", 0);
    cr_assert_eq(sn.n, 2);
    cr_expect_str_eq(sn.keys[0], "r/a/2");
}

Test(store, scan_start_after_before_the_prefix_visits_it_all)
{
    fill();
    /* every key under the prefix sorts after "r/", so all are "after" it */
    seen_t sn = scan("r/a/", "r/", 0);
    cr_expect_eq(sn.n, 3, "start_after \"r/\" (before the prefix) gave %zu keys", sn.n);
    sn = scan("r/a/", "a", 0);
    cr_expect_eq(sn.n, 3, "start_after \"a\" (before the prefix) gave %zu keys", sn.n);
}

Test(store, scan_stops_when_the_callback_says_so)
{
    fill();
    seen_t sn = scan("r/a/", NULL, 2);
    cr_assert_eq(sn.n, 2);
    cr_expect_str_eq(sn.keys[1], "r/a/2");
}

Test(store, scan_reads_a_snapshot)
{
    fill();
    seen_t sn = scan("l/", NULL, 0);
    cr_expect_eq(sn.n, 1, "one ChangeSet after one commit");
    sn = scan("m/", NULL, 0);
    cr_assert_eq(sn.n, 1);
    cr_expect_str_eq(sn.keys[0], "m/revision");
}

/* ---- metadata, reopening ---- */

Test(store, put_meta_is_outside_the_revision)
{
    char *err = NULL;
    cr_assert_eq(cp_store_put_meta(s, "admin_token_sha256", "abc123", &err), 0, "%s", err);
    cr_expect_null(err);
    EXPECT_VALUE("m/admin_token_sha256", "abc123");
    cr_expect_eq(cp_store_revision(s), 0);
    EXPECT_ABSENT("l/0000000000000001");
}

Test(store, reopen_keeps_data_and_revision)
{
    cp_txn_t *t = cp_txn_begin(s, "a");
    put(t, "r/x/a", "1");
    commit(t);
    t = cp_txn_begin(s, "a");
    put(t, "r/x/b", "2");
    cp_txn_del(t, "r/x/a");
    commit(t);
    char *err = NULL;
    cr_assert_eq(cp_store_put_meta(s, "k", "v", &err), 0);

    cp_store_close(s);
    s = open_store();
    cr_expect_eq(cp_store_revision(s), 2);
    EXPECT_ABSENT("r/x/a");
    EXPECT_VALUE("r/x/b", "2");
    EXPECT_VALUE("m/k", "v");
    Apiplatform__V1__ChangeSet *cs = changeset(2);
    cr_assert_not_null(cs);
    cr_expect_eq(cs->revision, 2);
    protobuf_c_message_free_unpacked(&cs->base, NULL);

    t = cp_txn_begin(s, "a");
    cr_expect_eq(cp_txn_revision(t), 3);
    cr_expect_eq(commit(t), 3);

    /* and again, with fsync on */
    cp_store_close(s);
    s = cp_store_open(dir, 1, &err);
    cr_assert_not_null(s, "%s", err);
    cr_expect_eq(cp_store_revision(s), 3);
}

Test(store, open_fails_with_a_reason)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/not-a-dir", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("x", f);
    fclose(f);
    char *err = NULL;
    cp_store_t *bad = cp_store_open(path, 0, &err);
    cr_expect_null(bad);
    cr_expect_not_null(err);
    free(err);
    cp_store_close(bad);
}
