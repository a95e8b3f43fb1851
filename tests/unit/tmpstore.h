/* A real control-plane store in a fresh temporary directory, for the unit
 * tests that need one: opened in a suite's .init, removed in its .fini. */
#ifndef TEST_TMPSTORE_H
#define TEST_TMPSTORE_H

#include <stddef.h>

#include "store.h"

#define TMPSTORE_DIR_MAX 512

/* Opens a store in a new directory under $TEST_TMPDIR (or /tmp) named
 * after the suite; the directory's path goes into dir. Fails the test when
 * it cannot. */
cp_store_t *tmpstore_open(const char *suite, char dir[TMPSTORE_DIR_MAX]);
/* Closes s (may be NULL) and removes dir with everything in it. */
void tmpstore_remove(cp_store_t *s, const char *dir);
/* How many keys of s start with prefix. */
size_t tmpstore_count(cp_store_t *s, const char *prefix);

#endif
