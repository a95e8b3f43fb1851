/* The control plane's RocksDB store: the only place configuration lives.
 * Every write is one transaction (a WriteBatch) that also bumps the global
 * revision and appends a ChangeSet to the change log under that revision, so
 * a crash never leaves half a change. Scans read a consistent snapshot. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "apiplatform/v1/resources.pb-c.h"

typedef struct st_cp_store_t cp_store_t;
typedef struct st_cp_txn_t cp_txn_t;

/* Opens (creating) the store in dir. fsync: sync the WAL on every commit.
 * NULL with *err (malloc'd) on failure. */
cp_store_t *cp_store_open(const char *dir, int fsync, char **err);
void cp_store_close(cp_store_t *s);
/* The revision of the last committed transaction (0 on a new store). */
uint64_t cp_store_revision(const cp_store_t *s);

/* The value under key (malloc'd, *len set), or NULL. */
char *cp_store_get(cp_store_t *s, const char *key, size_t *len);
/* The value under key unpacked as desc, or NULL (absent or unreadable). */
ProtobufCMessage *cp_store_get_msg(cp_store_t *s, const char *key,
                                   const ProtobufCMessageDescriptor *desc);
/* Calls fn for each key starting with prefix, in key order, beginning after
 * start_after (NULL = from the first); stops when fn returns non-zero. */
typedef int (*cp_scan_fn)(void *ctx, const char *key, size_t klen, const char *val, size_t vlen);
void cp_store_scan(cp_store_t *s, const char *prefix, const char *start_after, cp_scan_fn fn,
                   void *ctx);

/* Writes metadata (m/<name>) outside the revisioned change log. */
int cp_store_put_meta(cp_store_t *s, const char *name, const char *value, char **err);

/* A batch of writes to data outside the configuration (quota state, usage
 * aggregates): no revision, no change log, all or nothing. */
typedef struct st_cp_batch_t cp_batch_t;
cp_batch_t *cp_batch_begin(cp_store_t *s);
void cp_batch_put(cp_batch_t *b, const char *key, const void *val, size_t len);
void cp_batch_put_msg(cp_batch_t *b, const char *key, const ProtobufCMessage *m);
void cp_batch_del(cp_batch_t *b, const char *key);
/* Writes and frees b; sync = fsync the WAL first (as configured) or not.
 * 0, or -1 with *err (malloc'd). */
int cp_batch_commit(cp_batch_t *b, int sync, char **err);
/* Frees b unwritten. */
void cp_batch_abort(cp_batch_t *b);

/* A write transaction. Nothing is visible until commit. */
cp_txn_t *cp_txn_begin(cp_store_t *s, const char *actor);
/* The revision this transaction commits as. */
uint64_t cp_txn_revision(const cp_txn_t *t);
void cp_txn_put(cp_txn_t *t, const char *key, const void *val, size_t len);
void cp_txn_put_msg(cp_txn_t *t, const char *key, const ProtobufCMessage *m);
void cp_txn_del(cp_txn_t *t, const char *key);
/* Records what changed, for the change log. */
void cp_txn_change(cp_txn_t *t, const char *kind, const char *id, Apiplatform__V1__ChangeOp op);
/* The changes recorded so far. */
size_t cp_txn_changes(const cp_txn_t *t, Apiplatform__V1__Change *const **out);
/* Commits and frees t. Returns the new revision, or 0 with *err (malloc'd). */
uint64_t cp_txn_commit(cp_txn_t *t, char **err);
void cp_txn_abort(cp_txn_t *t);

#endif
