/* RocksDB store (see store.h). Key layout, all ASCII:
 *   m/revision                 big-endian u64, the last committed revision
 *   m/<name>                   other metadata (admin token hash)
 *   r/<kind>/<id>              a resource, packed protobuf
 *   n/<kind>/<parent>/<key>    unique index -> id (key "name:x", "route:GET /a/{}")
 *   l/<016x revision>          ChangeSet, packed protobuf
 * The revision lives in memory too: commits run on one thread at a time (the
 * server's queue thread; the mutex guards other callers). */
#include "store.h"

#include <inttypes.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct st_cp_store_t {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    pthread_mutex_t lock; /* serialises commits and the revision counter */
    uint64_t revision;
};

struct st_cp_txn_t {
    cp_store_t *s;
    rocksdb_writebatch_t *wb;
    Apiplatform__V1__ChangeSet cs;
};

static void put_u64be(unsigned char *b, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

cp_store_t *cp_store_open(const char *dir, int fsync, char **err)
{
    cp_store_t *s = calloc(1, sizeof(*s));
    s->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->opts, 1);
    rocksdb_options_set_paranoid_checks(s->opts, 1);
    *err = NULL;
    s->db = rocksdb_open(s->opts, dir, err);
    if (s->db == NULL) {
        rocksdb_options_destroy(s->opts);
        free(s);
        return NULL;
    }
    s->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts, fsync);
    s->ropts = rocksdb_readoptions_create();
    pthread_mutex_init(&s->lock, NULL);
    size_t len;
    char *v = cp_store_get(s, "m/revision", &len);
    if (v != NULL && len == 8)
        for (int i = 0; i < 8; i++)
            s->revision = (s->revision << 8) | (unsigned char)v[i];
    free(v);
    return s;
}

void cp_store_close(cp_store_t *s)
{
    if (s == NULL) return;
    rocksdb_close(s->db);
    rocksdb_writeoptions_destroy(s->wopts);
    rocksdb_readoptions_destroy(s->ropts);
    rocksdb_options_destroy(s->opts);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

uint64_t cp_store_revision(const cp_store_t *s)
{
    return s->revision;
}

char *cp_store_get(cp_store_t *s, const char *key, size_t *len)
{
    char *err = NULL;
    char *v = rocksdb_get(s->db, s->ropts, key, strlen(key), len, &err);
    if (err != NULL) {
        free(err);
        return NULL;
    }
    return v;
}

ProtobufCMessage *cp_store_get_msg(cp_store_t *s, const char *key,
                                   const ProtobufCMessageDescriptor *desc)
{
    size_t len;
    char *v = cp_store_get(s, key, &len);
    if (v == NULL) return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, (const uint8_t *)v);
    free(v);
    return m;
}

void cp_store_scan(cp_store_t *s, const char *prefix, const char *start_after, cp_scan_fn fn,
                   void *ctx)
{
    const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(s->db);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(ro, snap);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, ro);
    size_t pl = strlen(prefix);
    /* begin at whichever comes later: the prefix or start_after */
    if (start_after != NULL && strcmp(start_after, prefix) > 0)
        rocksdb_iter_seek(it, start_after, strlen(start_after));
    else
        rocksdb_iter_seek(it, prefix, pl);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < pl || memcmp(k, prefix, pl) != 0) break;
        if (start_after != NULL && kl == strlen(start_after) && memcmp(k, start_after, kl) == 0)
            continue;
        const char *v = rocksdb_iter_value(it, &vl);
        if (fn(ctx, k, kl, v, vl)) break;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    rocksdb_release_snapshot(s->db, snap);
}

int cp_store_put_meta(cp_store_t *s, const char *name, const char *value, char **err)
{
    char key[128];
    snprintf(key, sizeof(key), "m/%s", name);
    *err = NULL;
    rocksdb_put(s->db, s->wopts, key, strlen(key), value, strlen(value), err);
    return *err == NULL ? 0 : -1;
}

struct st_cp_batch_t {
    cp_store_t *s;
    rocksdb_writebatch_t *wb;
};

cp_batch_t *cp_batch_begin(cp_store_t *s)
{
    cp_batch_t *b = calloc(1, sizeof(*b));
    b->s = s;
    b->wb = rocksdb_writebatch_create();
    return b;
}

/* Puts m, packed, under key in wb. */
static void put_packed(rocksdb_writebatch_t *wb, const char *key, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    rocksdb_writebatch_put(wb, key, strlen(key), (const char *)buf, n);
    free(buf);
}

void cp_batch_put(cp_batch_t *b, const char *key, const void *val, size_t len)
{
    rocksdb_writebatch_put(b->wb, key, strlen(key), val, len);
}

void cp_batch_put_msg(cp_batch_t *b, const char *key, const ProtobufCMessage *m)
{
    put_packed(b->wb, key, m);
}

void cp_batch_del(cp_batch_t *b, const char *key)
{
    rocksdb_writebatch_delete(b->wb, key, strlen(key));
}

int cp_batch_commit(cp_batch_t *b, int sync, char **err)
{
    *err = NULL;
    if (sync) {
        rocksdb_write(b->s->db, b->s->wopts, b->wb, err);
    } else {
        rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
        rocksdb_write(b->s->db, w, b->wb, err);
        rocksdb_writeoptions_destroy(w);
    }
    rocksdb_writebatch_destroy(b->wb);
    free(b);
    return *err == NULL ? 0 : -1;
}

void cp_batch_abort(cp_batch_t *b)
{
    rocksdb_writebatch_destroy(b->wb);
    free(b);
}

cp_txn_t *cp_txn_begin(cp_store_t *s, const char *actor)
{
    cp_txn_t *t = calloc(1, sizeof(*t));
    pthread_mutex_lock(&s->lock);
    t->s = s;
    t->wb = rocksdb_writebatch_create();
    apiplatform__v1__change_set__init(&t->cs);
    t->cs.revision = s->revision + 1;
    t->cs.time = (int64_t)time(NULL);
    t->cs.actor = strdup(actor ? actor : "");
    return t;
}

uint64_t cp_txn_revision(const cp_txn_t *t)
{
    return t->cs.revision;
}

void cp_txn_put(cp_txn_t *t, const char *key, const void *val, size_t len)
{
    rocksdb_writebatch_put(t->wb, key, strlen(key), val, len);
}

void cp_txn_put_msg(cp_txn_t *t, const char *key, const ProtobufCMessage *m)
{
    put_packed(t->wb, key, m);
}

void cp_txn_del(cp_txn_t *t, const char *key)
{
    rocksdb_writebatch_delete(t->wb, key, strlen(key));
}

void cp_txn_change(cp_txn_t *t, const char *kind, const char *id, Apiplatform__V1__ChangeOp op)
{
    Apiplatform__V1__Change *c = malloc(sizeof(*c));
    apiplatform__v1__change__init(c);
    c->kind = strdup(kind);
    c->id = strdup(id);
    c->op = op;
    t->cs.changes = realloc(t->cs.changes, (t->cs.n_changes + 1) * sizeof(*t->cs.changes));
    t->cs.changes[t->cs.n_changes++] = c;
}

size_t cp_txn_changes(const cp_txn_t *t, Apiplatform__V1__Change *const **out)
{
    *out = t->cs.changes;
    return t->cs.n_changes;
}

static void txn_free(cp_txn_t *t)
{
    for (size_t i = 0; i < t->cs.n_changes; i++) {
        free(t->cs.changes[i]->kind);
        free(t->cs.changes[i]->id);
        free(t->cs.changes[i]);
    }
    free(t->cs.changes);
    free(t->cs.actor);
    rocksdb_writebatch_destroy(t->wb);
    pthread_mutex_unlock(&t->s->lock);
    free(t);
}

uint64_t cp_txn_commit(cp_txn_t *t, char **err)
{
    cp_store_t *s = t->s;
    uint64_t rev = t->cs.revision;
    unsigned char rb[8];
    put_u64be(rb, rev);
    cp_txn_put(t, "m/revision", rb, 8);
    char lk[32];
    snprintf(lk, sizeof(lk), "l/%016" PRIx64, rev);
    cp_txn_put_msg(t, lk, &t->cs.base);
    *err = NULL;
    rocksdb_write(s->db, s->wopts, t->wb, err);
    if (*err == NULL) s->revision = rev;
    txn_free(t);
    return *err == NULL ? rev : 0;
}

void cp_txn_abort(cp_txn_t *t)
{
    txn_free(t);
}
