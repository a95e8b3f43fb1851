/* Unit tests of the control plane's update builder (controlplane/sync.c):
 * what a node holding revision R is sent — a delta with exactly the
 * resources changed since R (upserts with their latest state, removals for
 * deletes), or a full snapshot when it holds nothing or a revision the
 * change log cannot explain. */
#include "sync.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_msg.h"
#include "resource.h"
#include "tmpstore.h"

static char dir[TMPSTORE_DIR_MAX];
static cp_store_t *s;
static ap_status_t st;

static void setup(void)
{
    s = tmpstore_open("sync_test", dir);
}

static void teardown(void)
{
    tmpstore_remove(s, dir);
    s = NULL;
}

TestSuite(sync, .init = setup, .fini = teardown);

static char *make_client(const char *name)
{
    Apiplatform__V1__Client c = APIPLATFORM__V1__CLIENT__INIT;
    c.name = (char *)name;
    ProtobufCMessage *m = cp_res_create(s, &CP_KIND_CLIENT, &c.base, "test", &st);
    cr_assert_not_null(m, "%s", st.message);
    char *id = strdup(ap_msg_get_str(m, "id"));
    ap_msg_free(m);
    return id;
}

Test(sync, nothing_held_gets_a_full_snapshot)
{
    free(make_client("a"));
    free(make_client("b"));
    Apiplatform__V1__SyncResponse *r = cp_sync_build(s, 0);
    cr_assert_eq(r->update_case, APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_SNAPSHOT);
    cr_expect_eq(r->revision, 2);
    cr_expect_eq(r->snapshot->n_clients, 2);
    ap_msg_free(&r->base);
}

Test(sync, a_revision_from_the_log_gets_a_delta_of_what_changed)
{
    char *a = make_client("a");
    char *b = make_client("b"); /* the node holds revision 2 */
    char *c = make_client("c");
    Apiplatform__V1__Client patch = APIPLATFORM__V1__CLIENT__INIT;
    patch.description = "changed";
    char *mask[] = {"description"};
    ProtobufCMessage *u =
        cp_res_update(s, &CP_KIND_CLIENT, a, NULL, &patch.base, mask, 1, 0, "t", &st);
    cr_assert_not_null(u, "%s", st.message);
    ap_msg_free(u);
    cr_assert_neq(cp_res_delete(s, &CP_KIND_CLIENT, b, NULL, 0, 0, "t", NULL, NULL, &st), 0);

    Apiplatform__V1__SyncResponse *r = cp_sync_build(s, 2);
    cr_assert_eq(r->update_case, APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA);
    cr_expect_eq(r->revision, 5);
    cr_expect_eq(r->delta->from_revision, 2);
    cr_assert_eq(r->delta->upserts->n_clients, 2, "c created and a updated");
    int saw_a = 0, saw_c = 0;
    for (size_t i = 0; i < r->delta->upserts->n_clients; i++) {
        Apiplatform__V1__Client *x = r->delta->upserts->clients[i];
        if (strcmp(x->id, a) == 0) {
            saw_a = 1;
            cr_expect_str_eq(x->description, "changed", "the latest state is shipped");
        }
        saw_c |= strcmp(x->id, c) == 0;
    }
    cr_expect(saw_a && saw_c);
    cr_assert_eq(r->delta->n_removals, 1);
    cr_expect_str_eq(r->delta->removals[0]->kind, "client");
    cr_expect_str_eq(r->delta->removals[0]->id, b);
    ap_msg_free(&r->base);
    free(a), free(b), free(c);
}

Test(sync, created_then_deleted_is_a_removal_only)
{
    free(make_client("keep"));
    char *x = make_client("gone");
    cr_assert_neq(cp_res_delete(s, &CP_KIND_CLIENT, x, NULL, 0, 0, "t", NULL, NULL, &st), 0);
    Apiplatform__V1__SyncResponse *r = cp_sync_build(s, 1);
    cr_assert_eq(r->update_case, APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA);
    cr_expect_eq(r->delta->upserts->n_clients, 0);
    cr_expect_eq(r->delta->n_removals, 1);
    ap_msg_free(&r->base);
    free(x);
}

Test(sync, a_revision_from_the_future_gets_a_snapshot)
{
    free(make_client("a"));
    Apiplatform__V1__SyncResponse *r = cp_sync_build(s, 99);
    cr_expect_eq(r->update_case, APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_SNAPSHOT);
    cr_expect_eq(r->snapshot->n_clients, 1);
    ap_msg_free(&r->base);
}

Test(sync, up_to_date_gets_an_empty_delta)
{
    free(make_client("a"));
    Apiplatform__V1__SyncResponse *r = cp_sync_build(s, 1);
    cr_assert_eq(r->update_case, APIPLATFORM__V1__SYNC_RESPONSE__UPDATE_DELTA);
    cr_expect_eq(r->delta->upserts->n_clients, 0);
    cr_expect_eq(r->delta->n_removals, 0);
    ap_msg_free(&r->base);
}
